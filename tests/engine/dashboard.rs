//! The dashboard page at `/__vidmock/`: one self-contained HTML page over the admin API.
//! What it shows in a real browser is checked by tests/browser.rs.

use crate::common::{client, send};
use vidmock::MockServer;

#[tokio::test]
async fn the_dashboard_is_an_html_page_that_polls_the_admin_routes() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock/", server.uri()))).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
    for route in [
        "/__vidmock/state",
        "/__vidmock/requests",
        "/__vidmock/faults",
        "/__vidmock/clock",
    ] {
        assert!(page.text.contains(route), "the page never asks for {route}");
    }
}

#[tokio::test]
async fn the_dashboard_is_also_served_without_the_trailing_slash() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock", server.uri()))).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.contains("/__vidmock/state"));
}

#[tokio::test]
async fn the_dashboard_loads_nothing_from_elsewhere() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock/", server.uri()))).await;

    let lower = page.text.to_lowercase();
    for outside in ["http://", "https://", "//cdn", "@import", "url(", " src="] {
        assert!(!lower.contains(outside), "the page refers to {outside:?}");
    }
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
}

#[tokio::test]
async fn with_an_admin_token_the_page_needs_it_and_passes_it_on_to_its_fetches() {
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let url = format!("{}/__vidmock/", server.uri());

    let without = send(client().get(&url)).await;
    let with = send(client().get(format!("{url}?token=s3cret"))).await;

    assert_eq!(without.status, 401);
    assert_eq!(with.status, 200);
    assert!(
        with.text.contains("x-vidmock-admin-token"),
        "the page sends the token it was opened with on its fetches"
    );
}

#[tokio::test]
async fn the_page_is_only_read_and_unknown_admin_paths_are_still_not_found() {
    let server = MockServer::start().await;

    let post = send(client().post(format!("{}/__vidmock/", server.uri()))).await;
    let unknown = send(client().get(format!("{}/__vidmock/nope", server.uri()))).await;

    assert_eq!(post.status, 405);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "no such admin route");
}

#[tokio::test]
async fn a_request_s_detail_holds_its_body_and_the_answer_s_headers_and_body() {
    let server = MockServer::start().await;
    let kaltura = format!(
        "{}/api_v3/service/uploadtoken/action/list?format=1",
        server.uri()
    );
    send(
        client()
            .post(&kaltura)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("ks=not-a-ks"),
    )
    .await;

    let detail = send(client().get(format!("{}/__vidmock/requests/1", server.uri())))
        .await
        .json();
    let missing = send(client().get(format!("{}/__vidmock/requests/99", server.uri()))).await;
    let not_a_number = send(client().get(format!("{}/__vidmock/requests/x", server.uri()))).await;

    use base64::Engine;
    let decode = |value: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap()
    };
    assert_eq!(detail["path"], "/api_v3/service/uploadtoken/action/list");
    assert_eq!(detail["error"], "INVALID_KS");
    assert_eq!(decode(&detail["body"]), b"ks=not-a-ks");
    assert_eq!(detail["answer"]["status"], 200);
    assert_eq!(
        detail["answer"]["headers"]["content-type"][0],
        "application/json"
    );
    let answer = String::from_utf8(decode(&detail["answer"]["body"])).unwrap();
    assert!(answer.contains("INVALID_KS"), "{answer}");
    assert_eq!(missing.status, 404);
    assert_eq!(not_a_number.status, 404);
}

#[tokio::test]
async fn an_answer_longer_than_the_preview_keeps_its_first_2_kib() {
    let server = MockServer::start().await;
    server
        .fault(vidmock::Fault::from(
            serde_json::from_value::<vidmock::Action>(serde_json::json!(
                {"type": "status", "status": 503, "body": "x".repeat(5000)}
            ))
            .unwrap(),
        ))
        .mount();
    let answered = send(client().get(format!("{}/upload-tokens", server.uri()))).await;

    let detail = send(client().get(format!("{}/__vidmock/requests/1", server.uri())))
        .await
        .json();

    assert_eq!(answered.text.len(), 5000);
    assert_eq!(detail["answer"]["bodyKept"], 2048);
    assert_eq!(detail["answer"]["status"], 503);
}

#[tokio::test]
async fn the_operations_route_lists_each_vendor_s_operations_from_its_route_table() {
    let server = MockServer::start().await;

    let operations = send(client().get(format!("{}/__vidmock/operations", server.uri())))
        .await
        .json();

    let names = |vendor: &str| -> Vec<String> {
        operations[vendor]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names("apivideo").contains(&"createToken".to_owned()));
    assert!(names("apivideo").contains(&"uploadWithUploadToken".to_owned()));
    assert!(names("kaltura").contains(&"uploadtoken.upload".to_owned()));
    assert!(names("kaltura").contains(&"session.start".to_owned()));
}

#[tokio::test]
async fn an_uploaded_file_is_downloaded_with_its_bytes_and_name() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None).token;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.clone()).file_name("talk \"1\".mp4"),
    );
    let video = send(
        client()
            .post(format!("{}/upload?token={token}", server.uri()))
            .multipart(form),
    )
    .await
    .json();
    let id = video["videoId"].as_str().unwrap();

    let downloaded = client()
        .get(format!("{}/__vidmock/uploads/{id}", server.uri()))
        .send()
        .await
        .unwrap();
    let disposition = downloaded.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = downloaded.bytes().await.unwrap();
    let unknown = send(client().get(format!("{}/__vidmock/uploads/vi404", server.uri()))).await;

    assert_eq!(body.as_ref(), bytes.as_slice());
    assert_eq!(disposition, "attachment; filename=\"talk _1_.mp4\"");
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_spilled_upload_is_streamed_back_whole_and_a_digest_only_one_is_refused() {
    let spilled = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .start()
        .await;
    let digest_only = MockServer::builder()
        .retention(vidmock::Retention::DigestOnly)
        .start()
        .await;
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let mut ids = Vec::new();
    for server in [&spilled, &digest_only] {
        let token = server.apivideo().create_token(None).token;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("big.mp4"),
        );
        let video = send(
            client()
                .post(format!("{}/upload?token={token}", server.uri()))
                .multipart(form),
        )
        .await
        .json();
        ids.push(video["videoId"].as_str().unwrap().to_owned());
    }

    let streamed = client()
        .get(format!("{}/__vidmock/uploads/{}", spilled.uri(), ids[0]))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let refused = send(client().get(format!(
        "{}/__vidmock/uploads/{}",
        digest_only.uri(),
        ids[1]
    )))
    .await;

    assert_eq!(streamed.len(), bytes.len());
    assert!(streamed.as_ref() == bytes.as_slice());
    assert_eq!(refused.status, 409);
}
