//! Chapters over a real socket: upload, get, list, delete.

use crate::video_api::*;
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn chapters_are_uploaded_read_listed_and_deleted() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "chaptered"})).await;

    let uploaded = post_file(
        &server,
        &format!("/videos/{id}/chapters/fr"),
        "fr.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    let got = get(&server, &format!("/videos/{id}/chapters/fr")).await;
    let listed = get(&server, &format!("/videos/{id}/chapters?pageSize=1")).await;
    let deleted = delete(&server, &format!("/videos/{id}/chapters/fr")).await;
    let gone = get(&server, &format!("/videos/{id}/chapters/fr")).await;

    insta::assert_json_snapshot!("chapter", redacted(&server, &uploaded));
    assert_eq!(got.json(), uploaded.json());
    insta::assert_json_snapshot!("chapter_list", redacted(&server, &listed));
    assert_eq!(deleted.status, 204);
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn a_chapter_language_that_names_no_language_is_refused_on_upload_and_found_nowhere() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "chaptered"})).await;

    let answer = post_file(
        &server,
        &format!("/videos/{id}/chapters/english"),
        "c.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;

    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["name"], "language");
    assert_eq!(
        answer.json()["detail"],
        "The \"language\" attribute is not valid."
    );
    let read = get(&server, &format!("/videos/{id}/chapters/en_US")).await;
    assert_eq!(read.status, 404);
    assert_eq!(read.json()["name"], "language");
}

#[tokio::test]
async fn a_chapters_src_serves_its_webvtt_file_and_is_gone_once_deleted() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "chaptered"})).await;
    let chapter = post_file(
        &server,
        &format!("/videos/{id}/chapters/en"),
        "en.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    let src = chapter.json()["src"].as_str().unwrap().to_owned();

    let served = crate::common::send(crate::common::client().get(&src)).await;
    delete(&server, &format!("/videos/{id}/chapters/en")).await;
    let gone = crate::common::send(crate::common::client().get(&src)).await;

    assert_eq!(served.status, 200);
    assert_eq!(served.content_type.as_deref(), Some("text/vtt"));
    assert_eq!(served.text, VTT);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["name"], "language");
}
