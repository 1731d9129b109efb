//! api.video authentication over a real socket: `/auth/api-key`, `/auth/refresh`, and the
//! Basic/Bearer check on protected routes (../shared/specs/apivideo.md §2, §8).

use std::time::Duration;

use crate::common::{basic, client, send};
use serde_json::json;
use vidmock::MockServer;

async fn authenticate(server: &MockServer) -> serde_json::Value {
    let answer = send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .json(&json!({ "apiKey": server.apivideo().api_key() })),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

#[tokio::test]
async fn authenticating_with_a_known_key_returns_a_bearer_token_pair() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .json(&json!({ "apiKey": "vidmock-api-key" })),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire(), {
        ".body.access_token" => "[access_token]",
        ".body.refresh_token" => "[refresh_token]",
    });
}

#[tokio::test]
async fn authenticating_with_an_unknown_key_is_rejected_with_invalid_user_credentials() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .json(&json!({ "apiKey": "nope" })),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn authenticating_without_an_api_key_is_rejected_with_attribute_required() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .json(&json!({})),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn authenticating_with_malformed_json_is_rejected_with_invalid_payload() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .header("content-type", "application/json")
            .body("{\"apiKey\":"),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let server = MockServer::start().await;
    let first = authenticate(&server).await;
    let refresh = |token: &serde_json::Value| {
        client()
            .post(format!("{}/auth/refresh", server.uri()))
            .json(&json!({ "refreshToken": token["refresh_token"] }))
    };

    let renewed = send(refresh(&first)).await;
    let replayed = send(refresh(&first)).await;

    assert_eq!(renewed.status, 200);
    assert_ne!(renewed.json()["refresh_token"], first["refresh_token"]);
    assert_ne!(renewed.json()["access_token"], first["access_token"]);
    insta::assert_json_snapshot!("replayed_refresh_token", replayed.wire());
}

#[tokio::test]
async fn a_refresh_token_is_refused_with_invalid_user_credentials_once_thirty_days_have_passed() {
    let server = MockServer::start().await;
    let kept = authenticate(&server).await;
    let aged = authenticate(&server).await;
    let refresh = |token: &serde_json::Value| {
        client()
            .post(format!("{}/auth/refresh", server.uri()))
            .json(&json!({ "refreshToken": token["refresh_token"] }))
    };
    server
        .clock()
        .advance(Duration::from_secs(30 * 24 * 60 * 60 - 1));
    let within = send(refresh(&kept)).await;

    server.clock().advance(Duration::from_secs(1));
    let after = send(refresh(&aged)).await;

    assert_eq!(within.status, 200, "{}", within.text);
    assert_eq!(after.status, 400, "{}", after.text);
    assert_eq!(
        after.json()["type"],
        "https://docs.api.video/reference/authentication-invalid-user-credentials"
    );
}

#[tokio::test]
async fn refresh_reads_a_json_body_sent_as_text_plain() {
    // The browser uploader posts JSON without setting a Content-Type.
    let server = MockServer::start().await;
    let first = authenticate(&server).await;
    let body = json!({ "refreshToken": first["refresh_token"] }).to_string();

    let answer = send(
        client()
            .post(format!("{}/auth/refresh", server.uri()))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["token_type"], "Bearer");
}

#[tokio::test]
async fn a_bearer_access_token_opens_protected_routes() {
    let server = MockServer::start().await;
    let token = authenticate(&server).await;

    let answer = send(
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .bearer_auth(token["access_token"].as_str().unwrap()),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let server = MockServer::start().await;
    let token = server.apivideo().access_token();

    let answer = send(
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .header("authorization", format!("bearer {token}")),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn an_access_token_is_rejected_once_the_clock_passes_its_lifetime() {
    let server = MockServer::builder()
        .apivideo_access_token_ttl(Duration::from_secs(60))
        .start()
        .await;
    let token = authenticate(&server).await;
    let list = || {
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .bearer_auth(token["access_token"].as_str().unwrap())
    };
    assert_eq!(token["expires_in"], 60);
    assert_eq!(send(list()).await.status, 200);

    server.clock().advance(Duration::from_secs(60));

    insta::assert_json_snapshot!("expired_access_token", send(list()).await.wire());
}

#[tokio::test]
async fn basic_auth_with_the_api_key_as_user_name_opens_protected_routes() {
    let server = MockServer::start().await;

    let answer = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_protected_route_without_authorization_is_rejected_with_missing_header() {
    let server = MockServer::start().await;

    let answer = send(client().get(format!("{}/upload-tokens", server.uri()))).await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn garbled_authorization_values_are_rejected_as_invalid_header_values() {
    let server = MockServer::start().await;
    let values = [
        "Basic !!!not-base64!!!",
        "Basic ",
        "Basic dmlkbW9jay1hcGkta2V5", // base64 of the key without the `:`
        "Digest abc",
        "Bearer",
        "",
    ];

    for value in values {
        let answer = send(
            client()
                .get(format!("{}/upload-tokens", server.uri()))
                .header("authorization", value),
        )
        .await;

        assert_eq!(answer.status, 401, "{value:?}: {}", answer.text);
        assert_eq!(
            answer.json()["type"],
            "https://docs.api.video/reference/authentication-invalid-authorization-header-value",
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn basic_auth_with_an_unknown_key_is_rejected_with_invalid_api_key() {
    let server = MockServer::start().await;

    let answer = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "someone-else",
    ))
    .await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn an_unknown_bearer_token_is_rejected_with_invalid_access_token() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .get(format!("{}/upload-tokens", server.uri()))
            .bearer_auth("not-a-token"),
    )
    .await;

    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["type"],
        "https://docs.api.video/reference/authentication-invalid-access-token"
    );
}

#[tokio::test]
async fn each_api_key_sees_only_its_own_project() {
    let server = MockServer::builder()
        .apivideo_key("project-a")
        .apivideo_key("project-b")
        .start()
        .await;
    server.apivideo().create_token(None);

    let a = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "project-a",
    ))
    .await;
    let b = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "project-b",
    ))
    .await;

    assert_eq!(a.json()["pagination"]["itemsTotal"], 1);
    assert_eq!(b.json()["pagination"]["itemsTotal"], 0);
}
