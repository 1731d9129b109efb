//! Kaltura sessions and multirequests over a real socket: `session.start` and `session.end`,
//! KSs minted offline by the clients (v1 and v2, the test vectors of
//! ../shared/specs/kaltura.md §6.3), expiry on the server's clock, and multirequest
//! numbering, inheritance and references (§8).

use std::time::Duration;

use crate::support::{call, call_json, redact};
use serde_json::Value;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

/// The §6.3 test vectors: partner 12345, this admin secret, ADMIN, user@example.com,
/// valid until 2030-01-01T00:00:00Z.
const VECTOR_SECRET: &str = "abcdef0123456789abcdef0123456789";
const VECTOR_V1: &str = "ZjJhZTZkMjBiMmIyNjk5MDgwNWU0NDNiZjFjNjQxNmZiYmQ2N2Y0MXwxMjM0NTsxMjM0NTsxODkzNDU2MDAwOzI7NDI7dXNlckBleGFtcGxlLmNvbTs=";
const VECTOR_V2: &str = "djJ8MTIzNDV85hwKjTQH_l3yN1sKgPEK33qw5ynYrk3j26CrqcLAS0wOx_6c6YsuKSCJkt6ILEg6JmhZU9Ec0E9H9ml7VUxi3x0Hn6yaRiv6rnogNFHl2qs=";
const VECTOR_VALID_UNTIL: i64 = 1_893_456_000;

async fn form(server: &MockServer, body: &str) -> String {
    reqwest::Client::new()
        .post(format!("{}/api_v3/service/multirequest", server.uri()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn end_query(ks: &str) -> String {
    let ks: String = form_urlencoded::byte_serialize(ks.as_bytes()).collect();
    format!("service/session/action/end?format=1&ks={ks}")
}

async fn vector_server() -> MockServer {
    let server = MockServer::builder()
        .kaltura_partner(12345, VECTOR_SECRET, "")
        .start()
        .await;
    server.clock().freeze();
    server
}

fn seconds_until(server: &MockServer, unix: i64) -> u64 {
    (unix - server.clock().now().unix_timestamp()).max(0) as u64
}

#[tokio::test]
async fn the_spec_test_vectors_open_sessions_until_they_expire() {
    let server = vector_server().await;
    assert!(server.clock().now().unix_timestamp() < VECTOR_VALID_UNTIL);

    for ks in [VECTOR_V1, VECTOR_V2] {
        assert_eq!(call(&server, &end_query(ks)).await, "null", "{ks}");
    }
    // session.end revoked them; a fresh server, past their expiry, calls them EXPIRED.
    let later = vector_server().await;
    later.clock().advance(Duration::from_secs(seconds_until(
        &later,
        VECTOR_VALID_UNTIL,
    )));
    for ks in [VECTOR_V1, VECTOR_V2] {
        let answer = call_json(&later, &end_query(ks)).await;
        assert_eq!(
            answer["message"],
            "Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\""
        );
    }
}

#[tokio::test]
async fn a_ks_signed_with_another_secret_is_invalid_and_named_in_the_error() {
    let server = MockServer::builder()
        .kaltura_partner(12345, "not-the-signing-secret", "")
        .start()
        .await;

    let answer = call_json(&server, &end_query(VECTOR_V2)).await;

    assert_eq!(answer["code"], "INVALID_KS");
    assert_eq!(answer["args"]["KSID"], VECTOR_V2);
    assert_eq!(answer["args"]["ERR_CODE"], "-1");
    assert_eq!(answer["args"]["ERR_DESC"], "INVALID_STR");
}

#[tokio::test]
async fn a_ks_of_an_unknown_partner_is_invalid() {
    let server = MockServer::start().await;

    let answer = call_json(&server, &end_query(VECTOR_V1)).await;

    assert_eq!(answer["code"], "INVALID_KS");
}

#[tokio::test]
async fn v1_kss_minted_offline_are_accepted() {
    let server = MockServer::start().await;
    let ks = server
        .kaltura()
        .ks_v1("alice", SessionType::User, Duration::from_secs(60));

    assert_eq!(call(&server, &end_query(&ks)).await, "null");
}

#[tokio::test]
async fn session_start_takes_the_admin_secret_for_any_type_and_the_user_secret_for_user_only() {
    let server = MockServer::start().await;
    let start = |secret: &str, session_type: u8| {
        format!("service/session/action/start?format=1&partnerId=101&secret={secret}&type={session_type}")
    };

    let admin_as_admin = call_json(&server, &start("vidmock-admin-secret", 2)).await;
    let admin_as_user = call_json(&server, &start("vidmock-admin-secret", 0)).await;
    let user_as_user = call_json(&server, &start("vidmock-user-secret", 0)).await;
    let user_as_admin = call_json(&server, &start("vidmock-user-secret", 2)).await;
    let wrong = call_json(&server, &start("nope", 0)).await;

    for ks in [&admin_as_admin, &admin_as_user, &user_as_user] {
        assert!(ks.as_str().is_some_and(|ks| ks.starts_with("djJ8")), "{ks}");
    }
    insta::assert_json_snapshot!("start_session_error", user_as_admin);
    assert_eq!(wrong, user_as_admin);
}

#[tokio::test]
async fn session_start_for_an_unknown_or_missing_partner_fails() {
    let server = MockServer::start().await;

    let unknown = call_json(
        &server,
        "service/session/action/start?format=1&partnerId=999&secret=vidmock-admin-secret",
    )
    .await;
    let missing = call_json(
        &server,
        "service/session/action/start?format=1&secret=vidmock-admin-secret",
    )
    .await;

    assert_eq!(
        unknown["message"],
        "Error while starting session for partner [999]"
    );
    assert_eq!(missing["code"], "START_SESSION_ERROR");
}

#[tokio::test]
async fn session_start_refuses_a_type_outside_the_enum() {
    let server = MockServer::start().await;

    let answer = call_json(
        &server,
        "service/session/action/start?format=1&partnerId=101&secret=vidmock-admin-secret&type=1",
    )
    .await;

    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn a_session_expires_on_the_servers_clock() {
    let server = MockServer::start().await;
    server.clock().freeze();
    let ks = call_json(
        &server,
        "service/session/action/start?format=1&partnerId=101&secret=vidmock-admin-secret&expiry=60",
    )
    .await;
    let ks = ks.as_str().unwrap().to_owned();
    let other = server
        .kaltura()
        .ks_valid_for("", SessionType::Admin, Duration::from_secs(60));

    server.clock().advance(Duration::from_secs(59));
    assert_eq!(call(&server, &end_query(&other)).await, "null");
    server.clock().advance(Duration::from_secs(1));
    let expired = call_json(&server, &end_query(&ks)).await;

    assert_eq!(expired["code"], "INVALID_KS");
    assert_eq!(expired["args"]["KSID"], "EXPIRED");
}

#[tokio::test]
async fn session_end_without_a_ks_is_void_and_a_garbage_ks_is_invalid() {
    let server = MockServer::start().await;

    let void = call(&server, "service/session/action/end?format=1").await;
    let garbage = call_json(&server, &end_query("garbage")).await;

    assert_eq!(void, "null");
    assert_eq!(
        garbage["message"],
        "Invalid KS \"garbage\", Error \"-1,INVALID_STR\""
    );
}

#[tokio::test]
async fn a_reset_keeps_partners() {
    let server = MockServer::builder()
        .kaltura_partner(5, "a", "u")
        .kaltura_partner(6, "b", "")
        .start()
        .await;

    server.reset();

    let ids: Vec<i64> = server.kaltura().partners().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![5, 6]);
    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["kaltura"]["partners"][1]["partnerId"], 6);
}

// ------------------------------------------------------------------ multirequest

#[tokio::test]
async fn a_flat_one_based_multirequest_answers_each_item_in_xml() {
    let server = MockServer::start().await;

    let body = form(
        &server,
        "1:service=session&1:action=start&1:secret=vidmock-admin-secret&1:partnerId=101\
         &2:service=session&2:action=end&2:ks={1:result}\
         &3:service=session&3:action=nope",
    )
    .await;

    insta::assert_snapshot!(redact(&body));
}

#[tokio::test]
async fn sub_requests_inherit_the_top_level_ks_and_stop_at_the_first_gap() {
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);

    let body = form(
        &server,
        &format!(
            "format=1&ks={ks}&0:service=session&0:action=end&1:service=session&1:action=end\
             &3:service=session&3:action=end"
        ),
    )
    .await;

    // 0 ends the inherited session, so 1 (same KS) is refused; 2 is missing, so 3 never runs.
    let items: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert_eq!(items[0], Value::Null);
    assert_eq!(items[1]["args"]["KSID"], "LOGOUT");
}

#[tokio::test]
async fn a_reference_to_a_failed_request_fails_the_dependent_one() {
    let server = MockServer::start().await;

    let body = form(
        &server,
        "format=1&1:service=session&1:action=start&1:secret=wrong&1:partnerId=101\
         &2:service=session&2:action=end&2:ks={1:result}",
    )
    .await;

    insta::assert_snapshot!(body);
}

#[tokio::test]
async fn a_nested_json_multirequest_uses_its_own_format_only_at_the_top() {
    let server = MockServer::start().await;

    let body = reqwest::Client::new()
        .post(format!("{}/api_v3/service/multirequest", server.uri()))
        .json(&serde_json::json!({
            "format": 1,
            "0": {"service": "session", "action": "start", "secret": "vidmock-admin-secret",
                  "partnerId": 101, "format": 2},
            "1": {"service": "nosuch", "action": "x"},
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let items: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(items[0].as_str().unwrap().starts_with("djJ8"));
    assert_eq!(items[1]["code"], "SERVICE_DOES_NOT_EXISTS");
}

#[tokio::test]
async fn an_empty_multirequest_is_an_empty_array() {
    let server = MockServer::start().await;

    let body = form(&server, "format=1").await;

    assert_eq!(body, "[]");
}
