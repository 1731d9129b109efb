//! api.video answers made before or outside the operations: a request line too long for the
//! HTTP layer, and the HLS manifest of a video that does not exist. Each is a problem, like
//! every other error the API sends (../shared/specs/apivideo.md §1.3, §8).

use crate::common::{basic, client, send};
use crate::raw::{exchange, request};
use vidmock::MockServer;

/// A raw GET of `target` (no client library sends a 100 KB URI); status, content type and
/// body, as `Answer::wire` gives them.
async fn raw_get(server: &MockServer, target: &str) -> (serde_json::Value, crate::raw::Raw) {
    let answer = exchange(
        server.address(),
        &request(
            "GET",
            target.as_bytes(),
            &[("Authorization", b"Basic dmlkbW9jay1hcGkta2V5Og==")],
            b"",
        ),
    )
    .await
    .unwrap();
    let body = if answer.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&answer.body).unwrap()
    };
    let wire = serde_json::json!({
        "status": answer.status,
        "contentType": answer.header("content-type"),
        "body": body,
    });
    (wire, answer)
}

#[tokio::test]
async fn a_query_of_100_kb_is_refused_with_a_414_problem() {
    // Arrange
    let server = MockServer::start().await;
    let title = "t".repeat(100 * 1024);

    // Act
    let (wire, answer) = raw_get(&server, &format!("/videos?title={title}")).await;

    // Assert
    insta::assert_json_snapshot!(wire);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn a_head_of_200_header_fields_is_refused_with_a_431_problem() {
    // Arrange: more fields than the HTTP layer reads (it answers before the service runs).
    let server = MockServer::start().await;
    let names: Vec<String> = (0..200).map(|i| format!("X-Field-{i}")).collect();
    let mut headers: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"v"[..])).collect();
    headers.push(("Authorization", b"Basic dmlkbW9jay1hcGkta2V5Og=="));

    // Act
    let answer = exchange(server.address(), &request("GET", b"/videos", &headers, b""))
        .await
        .unwrap();

    // Assert
    assert_eq!(answer.status, 431);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/request-header-fields-too-large"
    );
    assert_eq!(body["status"], 431);
}

#[tokio::test]
async fn a_query_of_100_kb_to_kaltura_is_left_to_the_http_layer() {
    // Arrange
    let server = MockServer::start().await;
    let query = "k".repeat(100 * 1024);

    // Act
    let (wire, _) = raw_get(
        &server,
        &format!("/api_v3/service/system/action/ping?x={query}"),
    )
    .await;

    // Assert
    assert_eq!(
        wire,
        serde_json::json!({"status": 414, "contentType": null, "body": null})
    );
}

#[tokio::test]
async fn the_hls_manifest_of_an_unknown_video_is_a_404_problem() {
    // Arrange
    let server = MockServer::start().await;
    let url = format!(
        "{}/vod/vi0000000000000000000000/hls/manifest.m3u8",
        server.uri()
    );

    // Act
    let get = send(client().get(&url)).await;
    let head = send(client().head(&url)).await;

    // Assert
    insta::assert_json_snapshot!(get.wire());
    assert_eq!(head.status, 404);
    assert_eq!(
        head.content_type.as_deref(),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn a_scripted_414_still_answers_as_scripted() {
    // Arrange
    let server = MockServer::start().await;
    server
        .fault(vidmock::Fault::status(414).body("scripted"))
        .when(vidmock::matchers::path("/videos"))
        .mount();

    // Act
    let answer = send(basic(
        client().get(format!("{}/videos", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    // Assert
    assert_eq!(answer.status, 414);
    assert_eq!(answer.text, "scripted");
}

#[tokio::test]
async fn a_page_of_videos_over_32_mib_is_refused_naming_page_size() {
    // Arrange: 40 videos with titles of a million characters (each within the 1 MiB payload).
    let server = MockServer::start().await;
    let title = "v".repeat(1_000_000);
    for _ in 0..40 {
        let created = send(basic(
            client()
                .post(format!("{}/videos", server.uri()))
                .json(&serde_json::json!({ "title": title })),
            "vidmock-api-key",
        ))
        .await;
        assert_eq!(created.status, 201);
    }

    // Act
    let whole = send(basic(
        client().get(format!("{}/videos?pageSize=100", server.uri())),
        "vidmock-api-key",
    ))
    .await;
    let smaller = send(basic(
        client().get(format!("{}/videos?pageSize=10", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    // Assert
    insta::assert_json_snapshot!(whole.wire());
    assert_eq!(smaller.status, 200);
    assert_eq!(smaller.json()["data"].as_array().map(Vec::len), Some(10));
}
