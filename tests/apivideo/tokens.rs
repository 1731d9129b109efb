//! api.video Upload Tokens over a real socket: create, list, get, delete, expiry
//! (../shared/specs/apivideo.md §3–§4).

use std::time::Duration;

use crate::common::{basic, client, send, Answer};
use serde_json::{json, Value};
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";

async fn server() -> MockServer {
    let clock = vidmock::Clock::new();
    clock.freeze();
    MockServer::builder().clock(clock).start().await
}

async fn create(server: &MockServer, body: Option<Value>) -> Answer {
    let request = basic(
        client().post(format!("{}/upload-tokens", server.uri())),
        KEY,
    );
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

async fn create_raw(server: &MockServer, body: &'static str) -> Answer {
    send(basic(
        client()
            .post(format!("{}/upload-tokens", server.uri()))
            .header("content-type", "application/json")
            .body(body),
        KEY,
    ))
    .await
}

async fn list(server: &MockServer, query: &str) -> Answer {
    send(basic(
        client().get(format!("{}/upload-tokens{query}", server.uri())),
        KEY,
    ))
    .await
}

async fn get(server: &MockServer, token: &str) -> Answer {
    send(basic(
        client().get(format!("{}/upload-tokens/{token}", server.uri())),
        KEY,
    ))
    .await
}

async fn delete(server: &MockServer, token: &str) -> Answer {
    send(basic(
        client().delete(format!("{}/upload-tokens/{token}", server.uri())),
        KEY,
    ))
    .await
}

fn is_atom_date(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    let b = s.as_bytes();
    s.len() == 25
        && s.ends_with("+00:00")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[tokio::test]
async fn creating_with_an_empty_object_gives_a_token_that_never_expires() {
    let server = server().await;

    let answer = create(&server, Some(json!({}))).await;

    insta::assert_json_snapshot!(answer.wire(), {
        ".body.token" => "[token]",
        ".body.createdAt" => "[date]",
    });
    let body = answer.json();
    assert!(body["expiresAt"].is_null());
    assert!(body.as_object().unwrap().contains_key("expiresAt"));
}

#[tokio::test]
async fn creating_with_no_body_at_all_means_ttl_zero() {
    let server = server().await;

    let answer = create(&server, None).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["ttl"], 0);
}

#[tokio::test]
async fn a_token_with_a_ttl_expires_ttl_seconds_after_creation() {
    let server = server().await;

    let answer = create(&server, Some(json!({ "ttl": 3600 }))).await;

    let body = answer.json();
    assert_eq!(answer.status, 200);
    assert_eq!(body["ttl"], 3600);
    assert!(is_atom_date(&body["createdAt"]), "{body}");
    assert!(is_atom_date(&body["expiresAt"]), "{body}");
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        (parse(&body["expiresAt"]) - parse(&body["createdAt"])).whole_seconds(),
        3600
    );
}

#[tokio::test]
async fn token_ids_are_to_followed_by_twenty_two_base62_characters() {
    let server = server().await;

    let body = create(&server, None).await.json();

    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 24, "{token}");
    assert!(token.starts_with("to"));
    assert!(token[2..].bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[tokio::test]
async fn the_largest_ttl_is_accepted() {
    let server = server().await;

    let answer = create(&server, Some(json!({ "ttl": 2147483647 }))).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn invalid_ttls_are_rejected_with_invalid_attribute() {
    let server = server().await;
    let cases = [
        ("negative", json!({ "ttl": -1 })),
        ("huge", json!({ "ttl": 2147483648u64 })),
        ("float", json!({ "ttl": 1.5 })),
        ("string", json!({ "ttl": "60" })),
        ("boolean", json!({ "ttl": true })),
        ("object", json!({ "ttl": {} })),
    ];

    for (name, body) in cases {
        let answer = create(&server, Some(body)).await;

        insta::assert_json_snapshot!(format!("invalid_ttl_{name}"), answer.wire());
    }
}

#[tokio::test]
async fn malformed_or_non_object_json_is_rejected_with_invalid_payload() {
    let server = server().await;

    for body in ["{\"ttl\": ", "[1]", "42", "not json"] {
        let answer = create_raw(&server, body).await;

        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            answer.json()["type"],
            "https://docs.api.video/reference/invalid-payload",
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_token_can_be_read_back() {
    let server = server().await;
    let created = create(&server, Some(json!({ "ttl": 60 }))).await.json();

    let answer = get(&server, created["token"].as_str().unwrap()).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.json(), created);
}

#[tokio::test]
async fn an_unknown_token_is_404_resource_not_found() {
    let server = server().await;

    let answer = get(&server, "toDoesNotExist0000000000").await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn deleting_answers_204_with_neither_body_nor_content_type() {
    let server = server().await;
    let token = create(&server, None).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let answer = delete(&server, &token).await;

    assert_eq!(answer.status, 204);
    assert_eq!(answer.content_type, None);
    assert_eq!(answer.text, "");
    assert_eq!(get(&server, &token).await.status, 404);
    assert_eq!(
        list(&server, "").await.json()["pagination"]["itemsTotal"],
        0
    );
}

#[tokio::test]
async fn deleting_an_unknown_or_deleted_token_is_404() {
    let server = server().await;
    let token = create(&server, None).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&server, &token).await;

    let answer = delete(&server, &token).await;

    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["name"], "uploadToken");
}

#[tokio::test]
async fn an_expired_token_vanishes_from_get_and_list() {
    let server = server().await;
    let token = create(&server, Some(json!({ "ttl": 60 }))).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    create(&server, None).await;
    assert_eq!(get(&server, &token).await.status, 200);

    server.clock().advance(Duration::from_secs(60));

    assert_eq!(get(&server, &token).await.status, 404);
    assert_eq!(delete(&server, &token).await.status, 404);
    let listed = list(&server, "").await.json();
    assert_eq!(listed["pagination"]["itemsTotal"], 1);
    assert_ne!(listed["data"][0]["token"], token.as_str());
}

/// Three tokens created one second apart with ttls 300, 0, 100.
async fn three_tokens(server: &MockServer) -> Vec<String> {
    let mut ids = Vec::new();
    for ttl in [300, 0, 100] {
        ids.push(
            create(server, Some(json!({ "ttl": ttl }))).await.json()["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        server.clock().advance(Duration::from_secs(1));
    }
    ids
}

fn tokens_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_in_creation_order_by_default() {
    let server = server().await;
    let ids = three_tokens(&server).await;

    let page = list(&server, "").await.json();

    assert_eq!(tokens_of(&page), ids);
}

#[tokio::test]
async fn the_list_sorts_by_created_at_or_ttl_in_either_order() {
    let server = server().await;
    let ids = three_tokens(&server).await;

    let newest_first = list(&server, "?sortBy=createdAt&sortOrder=desc")
        .await
        .json();
    let by_ttl = list(&server, "?sortBy=ttl&sortOrder=asc").await.json();
    let by_ttl_desc = list(&server, "?sortBy=ttl&sortOrder=desc").await.json();

    assert_eq!(
        tokens_of(&newest_first),
        [ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        tokens_of(&by_ttl),
        [ids[1].clone(), ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        tokens_of(&by_ttl_desc),
        [ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
}

#[tokio::test]
async fn the_list_pages_with_ordered_relative_links() {
    let server = server().await;
    let ids = three_tokens(&server).await;

    let answer = list(&server, "?currentPage=2&pageSize=1").await;

    assert_eq!(tokens_of(&answer.json()), [ids[1].clone()]);
    insta::assert_json_snapshot!(answer.wire(), {
        ".body.data[].token" => "[token]",
        ".body.data[].createdAt" => "[date]",
        ".body.data[].expiresAt" => "[date]",
    });
}

#[tokio::test]
async fn the_first_page_has_no_previous_link_and_the_last_no_next() {
    let server = server().await;
    three_tokens(&server).await;

    let first = list(&server, "?pageSize=2").await.json();
    let last = list(&server, "?pageSize=2&currentPage=2").await.json();

    let rels = |page: &Value| -> Vec<String> {
        page["pagination"]["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(rels(&first), ["self", "first", "next", "last"]);
    assert_eq!(rels(&last), ["self", "first", "previous", "last"]);
    assert_eq!(last["pagination"]["currentPageItems"], 1);
}

#[tokio::test]
async fn an_empty_list_has_one_empty_page() {
    let server = server().await;

    let answer = list(&server, "").await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn a_page_past_the_end_is_empty() {
    let server = server().await;
    three_tokens(&server).await;

    let page = list(&server, "?currentPage=9").await.json();

    assert_eq!(page["data"], json!([]));
    assert_eq!(page["pagination"]["itemsTotal"], 3);
}

#[tokio::test]
async fn invalid_list_parameters_are_rejected_with_invalid_query_parameter() {
    let server = server().await;
    let cases = [
        ("page_size_zero", "?pageSize=0"),
        ("page_size_101", "?pageSize=101"),
        ("current_page_zero", "?currentPage=0"),
        ("current_page_not_an_integer", "?currentPage=abc"),
        ("unknown_sort_by", "?sortBy=foo"),
        ("unknown_sort_order", "?sortOrder=up"),
    ];

    for (name, query) in cases {
        let answer = list(&server, query).await;

        insta::assert_json_snapshot!(format!("invalid_list_{name}"), answer.wire());
    }
}

#[tokio::test]
async fn tokens_seeded_through_the_library_are_served_over_http() {
    let server = server().await;
    let seeded = server
        .apivideo()
        .create_token(Some(Duration::from_secs(120)));

    let answer = get(&server, &seeded.token).await;

    assert_eq!(answer.json()["ttl"], 120);
}
