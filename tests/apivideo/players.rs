//! Player themes over a real socket: create, get, list, update, logo, delete.

use crate::video_api::*;
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn a_player_theme_is_created_with_the_documented_defaults() {
    let server = MockServer::start().await;

    let answer = post_json(&server, "/players", json!({"name": "test"})).await;

    assert_eq!(answer.status, 201);
    insta::assert_json_snapshot!(redacted(&server, &answer));
}

#[tokio::test]
async fn a_player_theme_is_updated_given_a_logo_listed_and_deleted() {
    let server = MockServer::start().await;
    let id = post_json(&server, "/players", json!({"name": "b"}))
        .await
        .json()["playerId"]
        .as_str()
        .unwrap()
        .to_owned();
    post_json(&server, "/players", json!({"name": "a"})).await;

    let updated = patch_json(
        &server,
        &format!("/players/{id}"),
        json!({"name": "c", "hideTitle": true, "link": "rgba(255, 0, 0, .95)"}),
    )
    .await;
    let logo = post_file(
        &server,
        &format!("/players/{id}/logo"),
        "test.png",
        PNG,
        &[("link", "https://api.video")],
    )
    .await;
    let listed = get(&server, "/players?sortBy=name&sortOrder=asc").await;
    let logo_deleted = delete(&server, &format!("/players/{id}/logo")).await;
    let without_logo = get(&server, &format!("/players/{id}")).await;
    let deleted = delete(&server, &format!("/players/{id}")).await;
    let gone = get(&server, &format!("/players/{id}")).await;

    assert_eq!(updated.json()["name"], "c");
    assert_eq!(updated.json()["hideTitle"], true);
    assert_eq!(updated.json()["link"], "rgba(255, 0, 0, .95)");
    assert_eq!(logo.status, 201);
    insta::assert_json_snapshot!("player_with_logo", redacted(&server, &logo));
    assert_eq!(values(&listed.json(), "name"), ["a", "c"]);
    assert_eq!(logo_deleted.status, 204);
    assert!(without_logo.json().get("assets").is_none());
    assert_eq!(deleted.status, 204);
    insta::assert_json_snapshot!("player_unknown", redacted(&server, &gone));
}

#[tokio::test]
async fn player_attributes_of_the_wrong_type_or_length_are_invalid_attributes() {
    let server = MockServer::start().await;

    let wrong_type = post_json(&server, "/players", json!({"enableApi": "yes"})).await;
    let too_long = post_json(&server, "/players", json!({"name": "n".repeat(101)})).await;

    assert_eq!(wrong_type.status, 400);
    assert_eq!(wrong_type.json()["name"], "enableApi");
    assert_eq!(too_long.json()["name"], "name");
}

#[tokio::test]
async fn a_logo_over_100_kib_or_not_an_image_is_refused() {
    let server = MockServer::start().await;
    let id = post_json(&server, "/players", json!({})).await.json()["playerId"]
        .as_str()
        .unwrap()
        .to_owned();

    let large = post_file(
        &server,
        &format!("/players/{id}/logo"),
        "big.png",
        &vec![0; 100 * 1024 + 1],
        &[],
    )
    .await;
    let gif = post_file(
        &server,
        &format!("/players/{id}/logo"),
        "a.gif",
        b"GIF89a",
        &[],
    )
    .await;

    assert_eq!(
        large.json()["type"],
        "https://docs.api.video/reference/uploaded-file-too-large"
    );
    insta::assert_json_snapshot!("logo_extension_invalid", redacted(&server, &gif));
}

#[tokio::test]
async fn a_logo_is_served_at_the_url_its_theme_advertises_until_deleted() {
    let server = MockServer::start().await;
    let id = post_json(&server, "/players", json!({"name": "branded"}))
        .await
        .json()["playerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let theme = post_file(
        &server,
        &format!("/players/{id}/logo"),
        "brand.png",
        PNG,
        &[("link", "https://example.com")],
    )
    .await;
    let url = theme.json()["assets"]["logo"].as_str().unwrap().to_owned();

    let served = crate::common::client().get(&url).send().await.unwrap();
    let status = served.status();
    let content_type = served.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = served.bytes().await.unwrap();
    delete(&server, &format!("/players/{id}/logo")).await;
    let gone = crate::common::send(crate::common::client().get(&url)).await;
    let unknown = crate::common::send(
        crate::common::client().get(format!("{}/player/plNothere/logo.png", server.uri())),
    )
    .await;

    assert!(url.starts_with(&server.uri()), "{url}");
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/png");
    assert_eq!(&body[..], PNG);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["name"], "playerId");
    insta::assert_json_snapshot!("logo_gone", gone.wire());
    assert_eq!(unknown.status, 404);
}
