//! The admin API under `/__vidmock` (DESIGN.md, "Admin API"): the routes served so far.

use crate::common::{basic, client, send};
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn health_reports_ok_and_the_version() {
    let server = MockServer::start().await;

    let answer = send(client().get(format!("{}/__vidmock/health", server.uri()))).await;

    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
}

#[tokio::test]
async fn advancing_the_clock_expires_tokens_and_answers_like_get_clock() {
    let server = MockServer::start().await;
    let token = server
        .apivideo()
        .create_token(Some(std::time::Duration::from_secs(60)));

    let advanced = send(
        client()
            .post(format!("{}/__vidmock/clock/advance", server.uri()))
            .json(&json!({"seconds": 61})),
    )
    .await;
    let clock = send(client().get(format!("{}/__vidmock/clock", server.uri()))).await;

    assert_eq!(advanced.status, 200);
    assert_eq!(advanced.json()["offsetSeconds"], 61);
    assert_eq!(clock.json()["offsetSeconds"], 61);
    let now = clock.json()["now"].as_str().unwrap().to_owned();
    assert!(
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339).is_ok(),
        "{now}"
    );
    assert!(server.apivideo().token(&token.token).is_none());
}

#[tokio::test]
async fn advancing_the_clock_needs_a_non_negative_number_of_seconds() {
    let server = MockServer::start().await;

    for body in [json!({"seconds": -1}), json!({"secs": 1}), json!("1")] {
        let answer = send(
            client()
                .post(format!("{}/__vidmock/clock/advance", server.uri()))
                .json(&body),
        )
        .await;

        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.json()["error"].is_string());
    }
}

#[tokio::test]
async fn reset_clears_state_and_journal_but_keeps_credentials() {
    let server = MockServer::builder().apivideo_key("kept").start().await;
    let bearer = server.apivideo().access_token();
    server.apivideo().create_token(None);
    send(client().get(format!("{}/upload-tokens", server.uri()))).await;

    let answer = send(client().post(format!("{}/__vidmock/reset", server.uri()))).await;

    assert_eq!(answer.status, 204);
    assert!(server.apivideo().tokens().is_empty());
    assert!(server.received_requests().is_empty());
    let still_valid = send(
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .bearer_auth(bearer),
    )
    .await;
    assert_eq!(still_valid.status, 200);
    let key_still_valid = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "kept",
    ))
    .await;
    assert_eq!(key_still_valid.status, 200);
}

#[tokio::test]
async fn the_journal_is_listed_and_cleared_over_http() {
    let server = MockServer::start().await;
    send(client().get(format!("{}/upload-tokens?a=b", server.uri()))).await;

    let listed = send(client().get(format!("{}/__vidmock/requests", server.uri())))
        .await
        .json();
    let cleared = send(client().delete(format!("{}/__vidmock/requests", server.uri()))).await;

    let entry = &listed[0];
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["path"], "/upload-tokens");
    assert_eq!(entry["query"], "a=b");
    assert_eq!(entry["vendor"], "apivideo");
    assert_eq!(entry["operation"], "listTokens");
    assert_eq!(entry["status"], 401);
    assert_eq!(entry["bodySize"], 0);
    assert!(entry["headers"]["host"].is_array());
    assert!(entry["durationMs"].is_number());
    assert_eq!(cleared.status, 204);
    assert!(server.received_requests().is_empty());
}

#[tokio::test]
async fn state_lists_projects_with_their_active_tokens() {
    let server = MockServer::start().await;
    server.clock().freeze();
    let token = server
        .apivideo()
        .create_token(Some(std::time::Duration::from_secs(30)));

    let state = send(client().get(format!("{}/__vidmock/state", server.uri())))
        .await
        .json();

    let project = &state["apivideo"]["projects"][0];
    assert_eq!(project["apiKey"], "vidmock-api-key");
    assert_eq!(project["uploadTokens"][0]["token"], token.token.as_str());
    assert_eq!(project["uploadTokens"][0]["secondsToExpiry"], 30);
}

#[tokio::test]
async fn an_unknown_admin_route_is_a_json_404() {
    let server = MockServer::start().await;

    let answer = send(client().get(format!("{}/__vidmock/nope", server.uri()))).await;

    assert_eq!(answer.status, 404);
    assert!(answer.json()["error"].is_string());
}

#[tokio::test]
async fn a_method_an_admin_route_does_not_take_is_a_405_naming_the_methods_it_does() {
    let server = MockServer::start().await;

    let reset = send(client().get(format!("{}/__vidmock/reset", server.uri()))).await;
    let faults = send(client().put(format!("{}/__vidmock/faults", server.uri()))).await;
    let one_fault = send(client().get(format!("{}/__vidmock/faults/1", server.uri()))).await;

    assert_eq!(reset.status, 405);
    assert_eq!(reset.header("allow"), Some("POST"));
    assert_eq!(faults.status, 405);
    assert_eq!(faults.header("allow"), Some("POST,GET,HEAD,DELETE"));
    assert_eq!(one_fault.status, 405);
    assert_eq!(one_fault.header("allow"), Some("DELETE"));
}

#[tokio::test]
async fn head_on_an_admin_route_answers_the_get_headers_without_a_body() {
    let server = MockServer::start().await;

    let get = send(client().get(format!("{}/__vidmock/health", server.uri()))).await;
    let head = send(client().head(format!("{}/__vidmock/health", server.uri()))).await;

    assert_eq!(head.status, 200);
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        head.header("content-length"),
        Some(get.text.len().to_string().as_str())
    );
    assert_eq!(head.text, "");
}

#[tokio::test]
async fn a_fault_id_that_is_not_a_mounted_rule_is_a_404_and_one_not_utf8_a_400() {
    let server = MockServer::start().await;
    let base = format!("{}/__vidmock/faults", server.uri());

    let word = send(client().delete(format!("{base}/abc"))).await;
    let unknown = send(client().delete(format!("{base}/42"))).await;
    let not_utf8 = send(client().delete(format!("{base}/%FF"))).await;
    let empty = send(client().delete(format!("{base}/"))).await;

    assert_eq!(word.status, 404);
    assert_eq!(word.json(), json!({"error": "no fault abc"}));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json(), json!({"error": "no fault 42"}));
    assert_eq!(not_utf8.status, 400);
    assert_eq!(not_utf8.text, "Invalid URL: Invalid UTF-8 in `id`");
    assert_eq!(empty.status, 404);
    assert_eq!(empty.json(), json!({"error": "no such admin route"}));
}

#[tokio::test]
async fn a_percent_encoded_fault_id_is_decoded_before_it_is_read() {
    let server = MockServer::start().await;
    let added = send(
        client()
            .post(format!("{}/__vidmock/faults", server.uri()))
            .json(&json!({"action": {"type": "status", "status": 503}})),
    )
    .await;
    let id = added.json()["id"].as_u64().unwrap();
    let encoded: String = id
        .to_string()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();

    let removed =
        send(client().delete(format!("{}/__vidmock/faults/{encoded}", server.uri()))).await;

    assert_eq!(removed.status, 204);
    let listed = send(client().get(format!("{}/__vidmock/faults", server.uri()))).await;
    assert_eq!(listed.json(), json!([]));
}

#[tokio::test]
async fn an_admin_body_over_two_mebibytes_is_refused_with_413() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/__vidmock/faults", server.uri()))
            .body(vec![b' '; 2 * 1024 * 1024 + 1]),
    )
    .await;

    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.text,
        "Failed to buffer the request body: length limit exceeded"
    );
}
