//! The request journal: what the client really sent, queryable with matchers.

use crate::common::{basic, client, send};
use sha2::{Digest, Sha256};
use vidmock::matchers::{header, method, path};
use vidmock::MockServer;

#[tokio::test]
async fn each_request_is_recorded_with_its_vendor_operation_and_status() {
    let server = MockServer::start().await;

    send(
        basic(
            client().post(format!("{}/upload-tokens?x=1", server.uri())),
            "vidmock-api-key",
        )
        .json(&serde_json::json!({"ttl": 5})),
    )
    .await;

    let recorded = server.received_requests();
    assert_eq!(recorded.len(), 1);
    let entry = &recorded[0];
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.method, "POST");
    assert_eq!(entry.url.path(), "/upload-tokens");
    assert_eq!(entry.url.query(), Some("x=1"));
    assert_eq!(entry.vendor, Some(vidmock::Vendor::API_VIDEO));
    assert_eq!(entry.operation.as_deref(), Some("createToken"));
    assert_eq!(entry.status, Some(200));
    assert!(entry.duration.is_some());
    assert!(entry.headers.contains_key("authorization"));
    assert_eq!(&entry.body[..], br#"{"ttl":5}"#);
}

#[tokio::test]
async fn bodies_are_kept_up_to_the_limit_with_their_full_size_and_digest() {
    let server = MockServer::builder().journal_body_limit(4).start().await;
    let body = b"0123456789".to_vec();

    send(
        client()
            .post(format!("{}/auth/api-key", server.uri()))
            .body(body.clone()),
    )
    .await;

    let entry = &server.received_requests()[0];
    assert_eq!(&entry.body[..], b"0123");
    assert_eq!(entry.body_size, 10);
    assert_eq!(entry.body_sha256, hex::encode(Sha256::digest(&body)));
}

#[tokio::test]
async fn a_large_upload_is_recorded_with_its_digest_by_the_time_it_is_answered() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 7)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 8) as u8)
        .collect();
    let boundary = "vidmock-journal-test";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let answer = send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body.clone()),
    )
    .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let entry = &server.received_requests()[0];
    assert_eq!(entry.body_size, body.len() as u64);
    assert_eq!(entry.body_sha256, hex::encode(Sha256::digest(&body)));
    let id = answer.json()["videoId"].as_str().unwrap().to_owned();
    let video = server.apivideo().video(&id).unwrap();
    assert_eq!(
        video.sha256(),
        Some(hex::encode(Sha256::digest(&data)).as_str())
    );
}

#[tokio::test]
async fn the_journal_keeps_only_the_newest_entries_up_to_its_capacity() {
    let server = MockServer::builder().journal_capacity(2).start().await;

    for _ in 0..5 {
        send(client().get(format!("{}/upload-tokens", server.uri()))).await;
    }

    let seqs: Vec<u64> = server.received_requests().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [4, 5]);
}

#[tokio::test]
async fn matchers_and_vendor_operations_query_the_journal() {
    let server = MockServer::start().await;
    send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;
    send(client().delete(format!("{}/upload-tokens/toABC", server.uri()))).await;

    let gets = server.received(method("GET"));
    let deletes = server.received(vidmock::apivideo::op("deleteToken"));
    let with_auth = server.received(header("authorization", "Basic dmlkbW9jay1hcGkta2V5Og=="));
    let by_path = server.received(path("/upload-tokens/toABC"));

    assert_eq!(gets.len(), 1);
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].status, Some(401));
    assert_eq!(with_auth.len(), 1);
    assert_eq!(by_path.len(), 1);
}

#[tokio::test]
async fn unrecognised_routes_are_recorded_without_an_operation() {
    let server = MockServer::start().await;

    send(client().get(format!("{}/nowhere", server.uri()))).await;

    let entry = &server.received_requests()[0];
    assert_eq!(entry.vendor, Some(vidmock::Vendor::API_VIDEO));
    assert_eq!(entry.operation, None);
    assert_eq!(entry.status, Some(404));
}

#[tokio::test]
async fn admin_calls_are_not_recorded() {
    let server = MockServer::start().await;

    send(client().get(format!("{}/__vidmock/health", server.uri()))).await;

    assert!(server.received_requests().is_empty());
}

#[cfg(feature = "http2")]
#[tokio::test]
async fn requests_over_http2_are_recorded_and_matched_by_their_path_and_query() {
    // HTTP/2 carries the target as a full URL; browsers speak it to `--tls`.
    let server = MockServer::start().await;
    server
        .fault(vidmock::Fault::status(418))
        .when(path("/upload-tokens"))
        .mount();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();

    let answer = h2
        .get(format!("{}/upload-tokens?x=1", server.uri()))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert_eq!(answer.status(), 418);
    let entry = &server.received_requests()[0];
    assert_eq!(entry.url.path(), "/upload-tokens");
    assert_eq!(entry.url.query(), Some("x=1"));
}

#[cfg(feature = "wiremock")]
#[tokio::test]
async fn wiremock_matchers_query_the_journal_through_the_adapter() {
    use vidmock::matchers::wiremock;
    let server = MockServer::start().await;
    send(client().get(format!("{}/upload-tokens?x=1", server.uri()))).await;

    let by_path = server.received(wiremock(vidmock::wiremock::matchers::path(
        "/upload-tokens",
    )));
    let by_query = server.received(wiremock(vidmock::wiremock::matchers::query_param("x", "1")));

    assert_eq!(by_path.len(), 1);
    assert_eq!(by_query.len(), 1);
}

#[tokio::test]
async fn each_vendor_error_is_named_in_the_journal_a_kaltura_200_included() {
    // Arrange: a Kaltura call with a KS that is no KS (the vendor answers 200 with an
    // exception), an api.video call without credentials (a 401 problem), a call that succeeds,
    // and a scripted Kaltura error.
    let server = MockServer::start().await;
    server
        .fault(vidmock::Fault::kaltura(vidmock::kaltura::ApiError::new(
            "UPLOAD_TOKEN_NOT_FOUND",
            &[],
        )))
        .when(vidmock::kaltura::action("uploadtoken", "get"))
        .mount();
    let kaltura = |action: &str| {
        client()
            .post(format!(
                "{}/api_v3/service/uploadtoken/action/{action}?format=1",
                server.uri()
            ))
            .form(&[("ks", "not-a-ks"), ("uploadTokenId", "0_x")])
    };

    // Act
    let invalid = send(kaltura("list")).await;
    let faulted = send(kaltura("get")).await;
    send(client().get(format!("{}/upload-tokens", server.uri()))).await;
    send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;
    let listed: serde_json::Value = client()
        .get(format!("{}/__vidmock/requests", server.uri()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(invalid.status, 200);
    assert_eq!(faulted.status, 200);
    let errors: Vec<(Option<u16>, Option<String>)> = server
        .received_requests()
        .into_iter()
        .map(|r| (r.status, r.error))
        .collect();
    assert_eq!(
        errors,
        [
            (Some(200), Some("INVALID_KS".to_owned())),
            (Some(200), Some("UPLOAD_TOKEN_NOT_FOUND".to_owned())),
            (
                Some(401),
                Some("authentication-missing-authorization-header".to_owned())
            ),
            (Some(200), None),
        ]
    );
    assert_eq!(listed[0]["error"], "INVALID_KS");
    assert_eq!(listed[3]["error"], serde_json::Value::Null);
}
