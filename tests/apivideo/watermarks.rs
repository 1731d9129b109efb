//! Watermarks over a real socket, and their use in `POST /videos`; and the state file keeping
//! every object of the video API across a restart.

use crate::video_api::*;
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn a_watermark_is_uploaded_listed_used_by_a_video_and_deleted() {
    let server = MockServer::start().await;

    let uploaded = post_file(&server, "/watermarks", "logo.PNG", PNG, &[]).await;
    let watermark = uploaded.json()["watermarkId"].as_str().unwrap().to_owned();
    let listed = get(&server, "/watermarks?sortBy=createdAt&sortOrder=desc").await;
    let created = post_json(
        &server,
        "/videos",
        json!({"title": "marked", "watermark": {"id": watermark, "top": "0px", "width": "100px"}}),
    )
    .await;
    let deleted = delete(&server, &format!("/watermarks/{watermark}")).await;
    let again = delete(&server, &format!("/watermarks/{watermark}")).await;

    insta::assert_json_snapshot!("watermark", redacted(&server, &uploaded));
    insta::assert_json_snapshot!("watermark_list", redacted(&server, &listed));
    assert_eq!(created.status, 201);
    assert_eq!(deleted.status, 204);
    insta::assert_json_snapshot!("watermark_unknown", redacted(&server, &again));
}

#[tokio::test]
async fn a_watermark_that_is_not_jpeg_or_png_is_refused_by_its_extension() {
    let server = MockServer::start().await;

    let answer = post_file(&server, "/watermarks", "logo.gif", b"GIF89a", &[]).await;

    insta::assert_json_snapshot!(redacted(&server, &answer));
}

#[tokio::test]
async fn a_video_naming_an_unknown_watermark_is_refused() {
    let server = MockServer::start().await;

    let answer = post_json(
        &server,
        "/videos",
        json!({"title": "marked", "watermark": {"id": "watermark_nope"}}),
    )
    .await;

    insta::assert_json_snapshot!(redacted(&server, &answer));
    assert!(server.apivideo().videos().is_empty());
}

#[tokio::test]
async fn captions_chapters_watermarks_and_players_survive_a_restart_through_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let server = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let id = video(&server, json!({"title": "kept"})).await;
    post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "c.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    post_file(
        &server,
        &format!("/videos/{id}/chapters/en"),
        "c.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    let watermark = post_file(&server, "/watermarks", "w.png", PNG, &[])
        .await
        .json()["watermarkId"]
        .clone();
    let player = post_json(&server, "/players", json!({"name": "kept"}))
        .await
        .json()["playerId"]
        .clone();
    server.shutdown().await;

    let again = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let caption = get(&again, &format!("/videos/{id}/captions/en")).await;
    let chapter = get(&again, &format!("/videos/{id}/chapters/en")).await;
    let watermarks = get(&again, "/watermarks").await.json();
    let theme = get(&again, &format!("/players/{}", player.as_str().unwrap())).await;
    let state = crate::common::client()
        .get(format!("{}/__vidmock/state", again.uri()))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();

    assert_eq!(caption.status, 200);
    assert_eq!(chapter.status, 200);
    assert_eq!(watermarks["data"][0]["watermarkId"], watermark);
    assert_eq!(theme.json()["name"], "kept");
    let project = &state["apivideo"]["projects"][0];
    assert_eq!(project["watermarks"][0]["watermarkId"], watermark);
    assert_eq!(project["players"][0]["playerId"], player);
    assert_eq!(project["videos"][0]["captions"][0]["language"], "en");
}

#[tokio::test]
async fn watermarks_players_and_captions_can_be_seeded_without_ids() {
    let seed = json!({"apivideo": {"projects": [{
        "apiKey": KEY,
        "videos": [{"videoId": "viSeeded1", "title": "seeded",
                    "captions": [{"language": "en", "default": true, "vtt": "WEBVTT\n"}]}],
        "watermarks": [{"filename": "w.png"}],
        "players": [{"texts": {"name": "seeded theme"}}],
    }]}});
    let server = MockServer::builder()
        .seed_json(&seed.to_string())
        .unwrap()
        .start()
        .await;

    let caption = get(&server, "/videos/viSeeded1/captions/en").await;
    let watermarks = get(&server, "/watermarks").await.json();
    let players = get(&server, "/players").await.json();
    let refused = MockServer::builder().seed_json(
        &json!({"apivideo": {"projects": [{"apiKey": KEY, "videos": [{"title": "t",
            "captions": [{"language": "fr_CA"}]}]}]}})
        .to_string(),
    );

    assert_eq!(caption.json()["default"], true);
    assert!(watermarks["data"][0]["watermarkId"]
        .as_str()
        .unwrap()
        .starts_with("watermark_"));
    assert_eq!(players["data"][0]["name"], "seeded theme");
    assert!(refused.is_err(), "a caption language the API would refuse");
}

#[tokio::test]
async fn uploaded_images_are_shown_by_reference_and_survive_a_restart_whatever_the_retention() {
    use sha2::{Digest, Sha256};
    // Arrange: a spilling server, which keeps no upload's bytes in its state file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    let server = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .apivideo_encoding_delay(std::time::Duration::ZERO)
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let id = video(&server, json!({"title": "branded"})).await;
    let sourced = post_file(
        &server,
        &format!("/videos/{id}/source"),
        "v.mp4",
        b"bytes",
        &[],
    )
    .await;
    assert_eq!(sourced.status, 201, "{}", sourced.text);
    post_file(
        &server,
        &format!("/videos/{id}/thumbnail"),
        "t.jpg",
        jpeg,
        &[],
    )
    .await;
    post_file(&server, "/watermarks", "w.png", PNG, &[]).await;
    let player = post_json(&server, "/players", json!({"name": "kept"}))
        .await
        .json()["playerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let logo_url = post_file(
        &server,
        &format!("/players/{player}/logo"),
        "l.png",
        PNG,
        &[],
    )
    .await
    .json()["assets"]["logo"]
        .as_str()
        .unwrap()
        .replace(&server.uri(), "");
    let state = crate::common::send(
        crate::common::client().get(format!("{}/__vidmock/state", server.uri())),
    )
    .await
    .json();
    server.shutdown().await;

    // Act
    let again = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .apivideo_encoding_delay(std::time::Duration::ZERO)
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let fetch = |path: String| {
        let url = format!("{}{path}", again.uri());
        async move {
            let answer = crate::common::client().get(url).send().await.unwrap();
            (answer.status().as_u16(), answer.bytes().await.unwrap())
        }
    };
    let thumbnail = fetch(format!("/vod/{id}/thumbnail.jpg")).await;
    let logo = fetch(logo_url).await;
    let restored = crate::common::send(
        crate::common::client().get(format!("{}/__vidmock/state", again.uri())),
    )
    .await
    .json();

    // Assert
    let project = &state["apivideo"]["projects"][0];
    let reference = |bytes: &[u8], content_type: &str| {
        json!({"contentType": content_type, "size": bytes.len(),
               "sha256": hex::encode(Sha256::digest(bytes))})
    };
    let mut thumbnail_reference = reference(jpeg, "image/jpeg");
    thumbnail_reference["kind"] = json!("uploaded");
    assert_eq!(project["videos"][0]["thumbnail"], thumbnail_reference);
    assert_eq!(
        project["watermarks"][0]["image"],
        reference(PNG, "image/png")
    );
    assert_eq!(
        project["players"][0]["logo"]["image"],
        reference(PNG, "image/png")
    );
    assert_eq!(thumbnail, (200, bytes::Bytes::from_static(jpeg)));
    assert_eq!(logo, (200, bytes::Bytes::from_static(PNG)));
    assert_eq!(
        restored["apivideo"]["projects"][0]["watermarks"][0]["image"],
        reference(PNG, "image/png")
    );
}
