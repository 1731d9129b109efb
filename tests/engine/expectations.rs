//! Expectations and strict mode: verified synchronously on drop, failure messages in vendor
//! terms.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::common::{basic, client, send};
use reqwest::multipart::{Form, Part};
use vidmock::matchers::method;
use vidmock::{apivideo, MockServer};

const KEY: &str = "vidmock-api-key";

fn panic_message(result: std::thread::Result<()>) -> String {
    let payload = result.expect_err("verification should have failed");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_met_expectation_verifies_and_drops_quietly() {
    let server = MockServer::start().await;
    server
        .expect(apivideo::op("listTokens"))
        .times(2)
        .named("two listings");

    for _ in 0..2 {
        send(basic(
            client().get(format!("{}/upload-tokens", server.uri())),
            KEY,
        ))
        .await;
    }

    server.verify();
}

#[tokio::test]
async fn an_unmet_expectation_lists_the_matches_and_the_near_misses_in_vendor_terms() {
    let server = MockServer::builder().seed(1).start().await;
    let token = server.apivideo().create_token(None);
    server
        .expect(apivideo::op("uploadWithUploadToken"))
        .times(3..)
        .named("chunks");
    let form = || Form::new().part("file", Part::bytes(vec![1u8; 100]).file_name("a.mp4"));
    send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header("content-range", "part 1/3")
            .multipart(form()),
    )
    .await;
    send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .multipart(form()),
    )
    .await;
    send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        KEY,
    ))
    .await;

    let message = panic_message(catch_unwind(AssertUnwindSafe(|| server.verify())));

    insta::assert_snapshot!(message);
    server.reset();
}

#[tokio::test]
#[should_panic(
    expected = "expectation `at least one token` was not met: expected at least 1 matching requests, received 0."
)]
async fn dropping_a_server_with_an_unmet_expectation_fails_the_test() {
    let server = MockServer::start().await;
    server
        .expect(apivideo::op("createToken"))
        .named("at least one token");

    drop(server);
}

#[tokio::test]
#[should_panic(expected = "the test's own failure")]
async fn a_thousand_servers_with_unmet_expectations_drop_inside_a_panicking_test_without_hanging() {
    let mut servers = Vec::new();
    for _ in 0..1000 {
        let server = MockServer::start().await;
        server.expect(method("GET")).times(5);
        servers.push(server);
    }

    // The servers drop while this panic unwinds: no second panic, no hang.
    panic!("the test's own failure");
}

#[tokio::test]
async fn strict_mode_fails_on_a_request_no_route_knows() {
    let server = MockServer::builder().strict().start().await;
    send(client().get(format!("{}/v2/upload-tokens", server.uri()))).await;

    let message = panic_message(catch_unwind(AssertUnwindSafe(|| server.verify())));

    assert!(message.contains("strict mode"), "{message}");
    assert!(
        message.contains("GET /v2/upload-tokens (unrecognized) -> 404"),
        "{message}"
    );
    server.reset();
}

#[tokio::test]
async fn expected_counts_accept_exact_numbers_and_ranges() {
    let server = MockServer::start().await;
    server.expect(method("GET")).times(..=2);
    server.expect(method("GET")).times(1..3);
    server.expect(method("POST")).times(0);

    send(client().get(format!("{}/upload-tokens", server.uri()))).await;

    server.verify();
}

#[tokio::test]
async fn a_kaltura_chunk_is_described_by_its_resume_at() {
    let server = MockServer::start().await;
    server
        .expect(vidmock::kaltura::action("uploadtoken", "upload"))
        .times(2)
        .named("chunks");
    send(client().get(format!(
        "{}/api_v3/service/uploadtoken/action/upload?format=1&resumeAt=262144",
        server.uri()
    )))
    .await;

    let message = panic_message(catch_unwind(AssertUnwindSafe(|| server.verify())));

    assert!(
        message.contains("(uploadtoken.upload) resumeAt=262144 -> 200"),
        "{message}"
    );
    server.reset();
}
