//! CORS for browser uploaders of both vendors, and the admin token.

use crate::common::{basic, client, send};
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn an_upload_preflight_is_answered_without_auth_and_echoes_the_requested_headers() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/upload?token=toX", server.uri()),
            )
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "av-origin-client,content-range",
            ),
    )
    .await;

    assert!((200..300).contains(&answer.status), "{}", answer.status);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        allowed.contains("av-origin-client") && allowed.contains("content-range"),
        "{allowed}"
    );
    assert!(answer
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .contains("POST"));
    assert!(
        server.received_requests().is_empty(),
        "preflights are not charged or recorded"
    );
}

#[tokio::test]
async fn every_answer_errors_included_carries_allow_origin_and_exposes_the_rate_limit() {
    let server = MockServer::start().await;
    let requests = [
        client().get(format!("{}/upload-tokens", server.uri())),
        basic(
            client().get(format!("{}/upload-tokens", server.uri())),
            "vidmock-api-key",
        ),
    ];

    for request in requests {
        let answer = send(request.header("origin", "http://localhost:3000")).await;

        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some("*"),
            "{}",
            answer.status
        );
        let exposed = answer
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_lowercase();
        assert!(exposed.contains("x-ratelimit-remaining"), "{exposed}");
        assert_eq!(
            answer
                .headers
                .get_all("access-control-allow-origin")
                .iter()
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn a_kaltura_preflight_is_answered_by_the_kaltura_module_as_the_vendor_does() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api_v3/service/uploadtoken/action/upload", server.uri()),
            )
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type"),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn without_cors_no_allow_origin_is_added_to_apivideo_answers() {
    let server = MockServer::builder().cors(false).start().await;

    let answer = send(
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .header("origin", "http://x"),
    )
    .await;

    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_admin_token_is_required_when_set() {
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let health = format!("{}/__vidmock/health", server.uri());

    let without = send(client().get(&health)).await;
    let wrong = send(client().get(&health).bearer_auth("nope")).await;
    let bearer = send(client().get(&health).bearer_auth("s3cret")).await;
    let header = send(
        client()
            .get(&health)
            .header("x-vidmock-admin-token", "s3cret"),
    )
    .await;
    let query = send(client().get(format!("{health}?token=s3cret"))).await;
    let vendor = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    assert_eq!(without.status, 401);
    assert_eq!(wrong.status, 401);
    assert_eq!(bearer.status, 200);
    assert_eq!(header.status, 200);
    assert_eq!(query.status, 200);
    assert_eq!(
        vendor.status, 200,
        "vendor routes never need the admin token"
    );
}

#[tokio::test]
async fn the_admin_token_is_checked_before_the_route_and_the_method() {
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let admin = format!("{}/__vidmock", server.uri());

    let unknown = send(client().get(format!("{admin}/nope"))).await;
    let wrong_method = send(client().get(format!("{admin}/reset"))).await;
    let bad_body = send(client().post(format!("{admin}/faults")).body("{")).await;
    let known_with_token = send(client().get(format!("{admin}/nope")).bearer_auth("s3cret")).await;

    for answer in [&unknown, &wrong_method, &bad_body] {
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.json(),
            json!({"error": "this admin API needs its token"})
        );
    }
    assert_eq!(known_with_token.status, 404);
}
