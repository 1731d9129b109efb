//! api.video transport rules that every operation shares: media types, rate-limit headers and
//! budgets, unknown routes and methods (../shared/specs/apivideo.md §1, §9).

use std::time::Duration;

use crate::common::{basic, client, send};
use vidmock::apivideo::RateLimits;
use vidmock::MockServer;

#[tokio::test]
async fn successes_are_exactly_application_json_and_errors_are_problem_json() {
    let server = MockServer::start().await;

    let ok = send(basic(
        client().post(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;
    let error = send(client().post(format!("{}/upload-tokens", server.uri()))).await;

    assert_eq!(ok.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        error.content_type.as_deref(),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn every_answer_carries_the_rate_limit_headers() {
    let server = MockServer::start().await;
    let requests = [
        basic(
            client().get(format!("{}/upload-tokens", server.uri())),
            "vidmock-api-key",
        ),
        client().get(format!("{}/upload-tokens", server.uri())),
        client().get(format!("{}/no-such-route", server.uri())),
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .body("{}"),
    ];

    for request in requests {
        let answer = send(request).await;

        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-retry-after",
        ] {
            let value = answer
                .header(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert!(value.parse::<u32>().is_ok(), "{name}: {value}");
        }
    }
}

#[tokio::test]
async fn reads_beyond_the_budget_get_429_until_the_minute_turns() {
    let server = MockServer::builder()
        .apivideo_rate_limits(RateLimits {
            reads: 2,
            ..RateLimits::GENEROUS
        })
        .start()
        .await;
    let list = || {
        basic(
            client().get(format!("{}/upload-tokens", server.uri())),
            "vidmock-api-key",
        )
    };
    let first = send(list()).await;
    send(list()).await;

    let refused = send(list()).await;
    server.clock().advance(Duration::from_secs(60));
    let again = send(list()).await;

    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    insta::assert_json_snapshot!("too_many_requests", refused.wire());
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn writes_and_reads_have_separate_budgets() {
    let server = MockServer::builder()
        .apivideo_rate_limits(RateLimits {
            writes: 1,
            ..RateLimits::GENEROUS
        })
        .start()
        .await;
    let create = || {
        basic(
            client().post(format!("{}/upload-tokens", server.uri())),
            "vidmock-api-key",
        )
    };
    send(create()).await;

    let refused = send(create()).await;
    let read = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    assert_eq!(refused.status, 429);
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn an_unknown_route_is_404_unrecognized_request_url() {
    let server = MockServer::start().await;

    let answer = send(client().get(format!("{}/v1/upload-tokens", server.uri()))).await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn a_known_route_with_another_method_is_405() {
    let server = MockServer::start().await;

    let answer = send(client().put(format!("{}/upload-tokens", server.uri()))).await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn an_upload_refused_before_its_body_is_read_keeps_the_connection_for_the_next_request() {
    let server = MockServer::start().await;

    let (refused, next) = crate::common::answer_before_the_body_then_next(
        &server,
        "/upload?token=to0000000000000000000000",
        "/no-such-route",
    )
    .await;

    assert_eq!(refused, "HTTP/1.1 401 Unauthorized");
    assert_eq!(next, "HTTP/1.1 404 Not Found");
}
