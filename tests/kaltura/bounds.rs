//! How much work one request may cause, over a real socket: the cap on sub-requests in a
//! multirequest, the cap on the size of an answer, the widths of stored strings, and a
//! multirequest that stops when its client goes.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

use crate::support::{redact_ids, Api};

/// A JSON multirequest of `items` (each a JSON object without `ks`), with `ks` in common.
fn multirequest_body(ks: &str, items: impl IntoIterator<Item = serde_json::Value>) -> String {
    let mut body = serde_json::Map::new();
    body.insert("ks".into(), ks.into());
    for (index, item) in items.into_iter().enumerate() {
        body.insert((index + 1).to_string(), item);
    }
    serde_json::Value::Object(body).to_string()
}

/// Posts a JSON multirequest; the answer as text.
async fn post_multirequest(server: &MockServer, body: String) -> String {
    reqwest::Client::new()
        .post(format!(
            "{}/api_v3/service/multirequest?format=1",
            server.uri()
        ))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn add_token() -> serde_json::Value {
    serde_json::json!({"service": "uploadtoken", "action": "add"})
}

#[tokio::test]
async fn a_multirequest_of_more_than_1000_sub_requests_is_refused_before_any_runs() {
    // Arrange
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let body = multirequest_body(&ks, (0..1001).map(|_| add_token()));

    // Act
    let answer = post_multirequest(&server, body).await;

    // Assert
    insta::assert_snapshot!(answer);
    assert!(server.kaltura().upload_tokens().is_empty());
}

#[tokio::test]
async fn a_multirequest_of_1000_sub_requests_runs_every_one() {
    // Arrange
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let body = multirequest_body(&ks, (0..1000).map(|_| add_token()));

    // Act
    let answer = post_multirequest(&server, body).await;

    // Assert
    let items: Vec<serde_json::Value> = serde_json::from_str(&answer).unwrap();
    assert_eq!(items.len(), 1000);
    assert_eq!(server.kaltura().upload_tokens().len(), 1000);
}

#[tokio::test]
async fn a_file_name_longer_than_its_column_is_kept_to_its_first_256_characters() {
    // Arrange
    let server = MockServer::start().await;
    let api = Api::new(&server, &server.kaltura().ks("", SessionType::Admin));
    let long = "é".repeat(1 << 20);

    // Act
    let token = api
        .json("uploadtoken", "add", &[("uploadToken:fileName", &long)])
        .await;

    // Assert
    assert_eq!(token["fileName"], "é".repeat(256));
    let id = token["id"].as_str().unwrap();
    let stored = server.kaltura().upload_token(id).unwrap();
    assert_eq!(stored.file_name.as_deref(), Some(&*"é".repeat(256)));
}

#[tokio::test]
async fn an_uploaded_parts_long_file_name_is_kept_to_its_first_256_characters() {
    // Arrange
    let server = MockServer::start().await;
    let api = Api::new(&server, &server.kaltura().ks("", SessionType::Admin));
    let token = api.add_token(&[]).await;
    let long = "a".repeat(300);

    // Act
    let answer = api
        .upload_text(1, &token, b"abc", &long, crate::support::Chunk::WHOLE)
        .await;

    // Assert
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["fileName"], "a".repeat(256), "{answer}");
    let stored = server.kaltura().upload_token(&token).unwrap();
    assert_eq!(stored.chunks[0].file_name, "a".repeat(256));
}

#[tokio::test]
async fn five_hundred_lists_over_a_token_with_a_1_mib_file_name_make_a_small_answer() {
    // Arrange
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let api = Api::new(&server, &ks);
    api.add_token(&[("uploadToken:fileName", &"x".repeat(1 << 20))])
        .await;
    let list = serde_json::json!({"service": "uploadtoken", "action": "list"});
    let body = multirequest_body(&ks, (0..500).map(|_| list.clone()));

    // Act
    let answer = post_multirequest(&server, body).await;

    // Assert
    let items: Vec<serde_json::Value> = serde_json::from_str(&answer).unwrap();
    assert_eq!(items.len(), 500);
    assert!(
        answer.len() < 1 << 20,
        "{} bytes for 500 lists of one token",
        answer.len()
    );
}

#[tokio::test]
async fn a_multirequest_whose_answer_would_pass_32_mib_is_refused_with_an_internal_error() {
    // Arrange: 500 tokens whose names take 1.5 KiB each once escaped, listed 40 times over.
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let name = "é".repeat(256);
    let adds = (0..500).map(|_| {
        serde_json::json!({"service": "uploadtoken", "action": "add",
            "uploadToken": {"fileName": name}})
    });
    post_multirequest(&server, multirequest_body(&ks, adds)).await;
    let list = serde_json::json!({"service": "uploadtoken", "action": "list",
        "pager": {"pageSize": 500}});

    // Act
    let answer = post_multirequest(
        &server,
        multirequest_body(&ks, (0..40).map(|_| list.clone())),
    )
    .await;

    // Assert
    insta::assert_snapshot!(answer);
}

#[tokio::test]
async fn an_entry_user_id_longer_than_100_bytes_gets_the_apis_max_length_error() {
    // Arrange
    let server = MockServer::start().await;
    let api = Api::new(&server, &server.kaltura().ks("", SessionType::Admin));
    let user = "u".repeat(101);

    // Act
    let answer = api
        .text(
            "media",
            "add",
            2,
            &[("entry:mediaType", "1"), ("entry:userId", &user)],
        )
        .await;

    // Assert
    insta::assert_snapshot!(redact_ids(&answer));
    assert!(server.kaltura().entries().is_empty());
}

#[tokio::test]
async fn an_entry_name_longer_than_its_column_is_kept_to_its_first_256_characters() {
    // Arrange
    let server = MockServer::start().await;
    let api = Api::new(&server, &server.kaltura().ks("", SessionType::Admin));
    let name = "n".repeat(1000);

    // Act
    let entry = api
        .json(
            "media",
            "add",
            &[("entry:mediaType", "1"), ("entry:name", &name)],
        )
        .await;

    // Assert
    assert_eq!(entry["name"], "n".repeat(256));
}

#[tokio::test]
async fn a_client_that_goes_away_stops_its_multirequest() {
    // Arrange: a multirequest of 1000 token creations, sent whole, from a client that then
    // closes its connection without waiting for the answer.
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let body = multirequest_body(&ks, (0..1000).map(|_| add_token()));
    let address = server.uri().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api_v3/service/multirequest?format=1 HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );

    // Act
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    drop(stream);
    // Until the work has begun and then not moved for 200 ms (at most 10 s).
    let (mut created, mut steady) = (0, 0);
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = server.kaltura().upload_tokens().len();
        steady = if now == created { steady + 1 } else { 0 };
        created = now;
        if created > 0 && steady >= 10 {
            break;
        }
    }

    // Assert: the work began, stopped part-way, and no answer was ever made.
    assert!(created > 0, "the multirequest never began");
    assert!(created < 1000, "all {created} sub-requests ran");
    let recorded = server.received_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, None);
}
