//! Captions over a real socket: upload, get, list, set default, delete, and the vendor's
//! refusals of bad language tags and files.

use crate::video_api::*;
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn an_uploaded_caption_is_returned_as_the_vendor_shapes_it() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;

    let answer = post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "en.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;

    assert_eq!(answer.status, 200);
    insta::assert_json_snapshot!(redacted(&server, &answer));
}

#[tokio::test]
async fn captions_are_read_listed_made_default_and_deleted() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;
    for language in ["en", "fr-ca"] {
        post_file(
            &server,
            &format!("/videos/{id}/captions/{language}"),
            "c.vtt",
            VTT.as_bytes(),
            &[],
        )
        .await;
    }

    let got = get(&server, &format!("/videos/{id}/captions/fr-CA")).await;
    let english = patch_json(
        &server,
        &format!("/videos/{id}/captions/en"),
        json!({"default": true}),
    )
    .await;
    let french = patch_json(
        &server,
        &format!("/videos/{id}/captions/fr-CA"),
        json!({"default": true}),
    )
    .await;
    let listed = get(&server, &format!("/videos/{id}/captions")).await;
    let deleted = delete(&server, &format!("/videos/{id}/captions/en")).await;
    let gone = get(&server, &format!("/videos/{id}/captions/en")).await;

    assert_eq!(got.json()["srclang"], "fr-CA");
    assert_eq!(got.json()["languageName"], "français");
    assert_eq!(english.json()["default"], true);
    assert_eq!(french.json()["default"], true);
    assert_eq!(values(&listed.json(), "srclang"), ["en", "fr-CA"]);
    assert_eq!(
        listed.json()["data"][0]["default"],
        false,
        "one default at a time"
    );
    insta::assert_json_snapshot!("caption_list", redacted(&server, &listed));
    assert_eq!(deleted.status, 204);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["name"], "language");
}

#[tokio::test]
async fn a_language_with_other_characters_than_letters_and_dashes_is_refused() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;

    let underscore = post_file(
        &server,
        &format!("/videos/{id}/captions/fr_CA"),
        "c.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    let unknown = get(&server, &format!("/videos/{id}/captions/xx")).await;

    insta::assert_json_snapshot!("caption_language_malformed", redacted(&server, &underscore));
    insta::assert_json_snapshot!("caption_language_unknown", redacted(&server, &unknown));
}

#[tokio::test]
async fn a_caption_that_is_not_webvtt_or_missing_is_refused_with_the_vendor_slug() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;

    let srt = post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "c.srt",
        b"1\n00:00:01,000 --> 00:00:02,000\nHi\n",
        &[],
    )
    .await;
    let empty = post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "c.vtt",
        b"",
        &[],
    )
    .await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let too_large = post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "c.vtt",
        &big,
        &[],
    )
    .await;

    insta::assert_json_snapshot!("caption_not_webvtt", redacted(&server, &srt));
    assert_eq!(
        empty.json()["type"],
        "https://docs.api.video/reference/uploaded-file-empty"
    );
    assert_eq!(
        too_large.json()["type"],
        "https://docs.api.video/reference/uploaded-file-too-large"
    );
}

#[tokio::test]
async fn captions_of_an_unknown_video_are_not_found_by_video_id() {
    let server = MockServer::start().await;

    let listed = get(&server, "/videos/viUnknown/captions").await;
    let uploaded = post_file(
        &server,
        "/videos/viUnknown/captions/en",
        "c.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;

    assert_eq!(listed.status, 404);
    assert_eq!(listed.json()["name"], "videoId");
    assert_eq!(uploaded.json()["name"], "videoId");
}

#[tokio::test]
async fn a_captions_src_serves_its_webvtt_file_without_credentials() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;
    let caption = post_file(
        &server,
        &format!("/videos/{id}/captions/fr-ca"),
        "fr.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    let src = caption.json()["src"].as_str().unwrap().to_owned();

    let served = crate::common::send(crate::common::client().get(&src)).await;
    let head = crate::common::send(crate::common::client().head(&src)).await;

    assert!(src.starts_with(&server.uri()), "{src}");
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type.as_deref(), Some("text/vtt"));
    assert_eq!(served.text, VTT);
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");
}

#[tokio::test]
async fn a_caption_src_of_a_missing_language_or_video_is_the_vendors_404() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;
    let base = server.uri();

    let language = crate::common::send(
        crate::common::client().get(format!("{base}/vod/{id}/captions/de.vtt")),
    )
    .await;
    let unknown = crate::common::send(
        crate::common::client().get(format!("{base}/vod/viNothere/captions/en.vtt")),
    )
    .await;

    assert_eq!(language.status, 404);
    assert_eq!(
        language.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(language.json()["name"], "language");
    insta::assert_json_snapshot!("caption_src_unknown_language", language.wire());
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["name"], "videoId");
}

#[tokio::test]
async fn the_player_page_carries_a_track_for_each_caption_and_chapters_file() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "captioned"})).await;
    let caption = post_file(
        &server,
        &format!("/videos/{id}/captions/en"),
        "en.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;
    patch_json(
        &server,
        &format!("/videos/{id}/captions/en"),
        json!({"default": true}),
    )
    .await;
    let chapter = post_file(
        &server,
        &format!("/videos/{id}/chapters/fr"),
        "fr.vtt",
        VTT.as_bytes(),
        &[],
    )
    .await;

    let page =
        crate::common::send(crate::common::client().get(format!("{}/vod/{id}", server.uri())))
            .await;

    let caption_src = caption.json()["src"].as_str().unwrap().to_owned();
    let chapter_src = chapter.json()["src"].as_str().unwrap().to_owned();
    assert!(
        page.text.contains(&format!(
            "<track kind=\"captions\" src=\"{caption_src}\" srclang=\"en\" label=\"English\" default>"
        )),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(&format!(
            "<track kind=\"chapters\" src=\"{chapter_src}\" srclang=\"fr\""
        )),
        "{}",
        page.text
    );
}
