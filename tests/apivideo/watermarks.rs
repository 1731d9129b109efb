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
