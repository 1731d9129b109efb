//! api.video webhooks over a real socket: the `/webhooks` API, and the signed, retried,
//! scriptable events vidmock POSTs to a real receiver as its clock moves.

use std::time::Duration;

use crate::common::{client, send, Answer};
use crate::receiver::{Received, Receiver};
use crate::video_api::{delete, get, post_file, post_json, video};
use serde_json::json;
use sha2::{Digest, Sha256};
use vidmock::{DeliveryStatus, Fault, MockServer};

const ENCODING: Duration = Duration::from_secs(3);

async fn create_webhook(server: &MockServer, body: serde_json::Value) -> Answer {
    post_json(server, "/webhooks", body).await
}

async fn subscribe(server: &MockServer, receiver: &Receiver) -> serde_json::Value {
    let answer = create_webhook(
        server,
        json!({"events": ["video.encoding.quality.completed"], "url": receiver.url}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

/// Creates a video without MP4 and uploads bytes that are not media: one rendition (`hls`
/// `720p`), encoded `ENCODING` later on the clock, so one event.
async fn upload(server: &MockServer) -> String {
    upload_file(server, false, vec![7u8; 1024]).await
}

/// Creates a video (`mp4Support` as given) and uploads `file` whole as its source.
async fn upload_file(server: &MockServer, mp4: bool, file: Vec<u8>) -> String {
    let id = video(server, json!({"title": "hooked", "mp4Support": mp4})).await;
    let answer = post_file(
        server,
        &format!("/videos/{id}/source"),
        "clip.mp4",
        &file,
        &[],
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    id
}

async fn frozen_server() -> MockServer {
    let server = MockServer::builder()
        .apivideo_encoding_delay(ENCODING)
        .start()
        .await;
    server.clock().freeze();
    server
}

/// HMAC-SHA256 as RFC 2104 defines it, written out so the test checks the scheme itself.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

fn verifies(received: &Received, secret: &str) -> bool {
    received.header("x-api-video-signature")
        == Some(hmac_sha256_hex(secret.as_bytes(), &received.body).as_str())
}

#[tokio::test]
async fn a_webhook_is_created_listed_fetched_and_deleted_as_the_openapi_document_says() {
    // Arrange
    let server = MockServer::start().await;
    let created = create_webhook(
        &server,
        json!({"events": ["video.encoding.quality.completed"], "url": "http://127.0.0.1:9/hooks"}),
    )
    .await;
    let other = create_webhook(
        &server,
        json!({"events": ["live-stream.broadcast.started"], "url": "https://example.com/live"}),
    )
    .await;
    let webhook = created.json();
    let id = webhook["webhookId"].as_str().unwrap().to_owned();

    // Act
    let filtered = get(&server, "/webhooks?events=video.encoding.quality.completed").await;
    let all = get(&server, "/webhooks?pageSize=1&currentPage=2").await;
    let fetched = get(&server, &format!("/webhooks/{id}")).await;
    let deleted = delete(&server, &format!("/webhooks/{id}")).await;
    let gone = get(&server, &format!("/webhooks/{id}")).await;

    // Assert
    assert_eq!((created.status, other.status), (201, 201));
    assert_eq!(created.content_type.as_deref(), Some("application/json"));
    let keys: Vec<&String> = webhook.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["webhookId", "createdAt", "events", "url", "signatureSecret"]
    );
    assert!(id.starts_with("webhook_"));
    assert!(webhook["signatureSecret"]
        .as_str()
        .unwrap()
        .starts_with("sig_sec_"));
    assert_eq!(filtered.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered.json()["data"][0]["webhookId"], id.as_str());
    assert_eq!(all.json()["pagination"]["itemsTotal"], 2);
    assert_eq!(all.json()["data"][0]["url"], "https://example.com/live");
    assert_eq!(fetched.json(), webhook);
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json()["type"],
        "https://docs.api.video/reference/resource-not-found"
    );
}

#[tokio::test]
async fn a_webhook_without_events_or_url_names_both_problems() {
    let server = MockServer::start().await;

    let answer = create_webhook(
        &server,
        json!({"events": "video.encoding.quality.completed"}),
    )
    .await;

    assert_eq!(answer.status, 400);
    let body = answer.json();
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/invalid-attribute"
    );
    assert_eq!(body["name"], "events");
    let names: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["events", "url"]);
}

#[tokio::test]
async fn an_encoded_quality_arrives_signed_once_the_clock_reaches_the_encoding_time() {
    // Arrange
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    let webhook = subscribe(&server, &receiver).await;
    let video = upload(&server).await;

    // Act
    server.clock().advance(ENCODING - Duration::from_secs(1));
    let early = receiver.nothing_within(Duration::from_millis(200)).await;
    server.clock().advance(Duration::from_secs(1));
    let event = receiver.next().await;

    // Assert
    assert!(early, "the event came before the quality was encoded");
    assert_eq!(
        (event.method.as_str(), event.path.as_str()),
        ("POST", "/hooks")
    );
    assert_eq!(event.header("content-type"), Some("application/json"));
    assert_eq!(
        event.header("x-api-video-webhookid"),
        webhook["webhookId"].as_str()
    );
    assert!(verifies(
        &event,
        webhook["signatureSecret"].as_str().unwrap()
    ));
    let body = event.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["type", "emittedAt", "videoId", "encoding", "quality"]
    );
    assert_eq!(body["type"], "video.encoding.quality.completed");
    assert_eq!(body["videoId"], video.as_str());
    assert_eq!(
        (body["encoding"].as_str(), body["quality"].as_str()),
        (Some("hls"), Some("720p"))
    );
    let emitted = time::OffsetDateTime::parse(
        body["emittedAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((server.clock().now() - emitted).abs() < time::Duration::seconds(1));
    server.deliveries().settled().await;
    let recorded = server.deliveries().all();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, DeliveryStatus::Delivered);
    assert_eq!(recorded[0].attempts[0].status, Some(202));
}

#[tokio::test]
async fn a_receiver_answering_500_gets_three_retries_three_seconds_apart() {
    // Arrange
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    receiver.answer(&[500, 500, 500, 500]);
    subscribe(&server, &receiver).await;
    upload(&server).await;

    // Act
    server.clock().advance(ENCODING);
    let first = receiver.next().await;
    server.deliveries().settled().await;
    let before_retry = receiver.nothing_within(Duration::from_millis(100)).await;
    let mut retries = Vec::new();
    for _ in 0..3 {
        server.clock().advance(Duration::from_secs(3));
        retries.push(receiver.next().await);
        server.deliveries().settled().await;
    }
    server.clock().advance(Duration::from_secs(60));
    let after_last = receiver.nothing_within(Duration::from_millis(200)).await;

    // Assert
    assert!(before_retry, "a retry came before its 3 seconds");
    assert!(retries.iter().all(|r| r.body == first.body));
    assert!(after_last, "more than 3 retries");
    let delivery = &server.deliveries().all()[0];
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    let statuses: Vec<Option<u16>> = delivery.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500); 4]);
    let gaps: Vec<i64> = delivery
        .attempts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).whole_seconds())
        .collect();
    assert_eq!(gaps, [3, 3, 3]);
}

#[tokio::test]
async fn a_dropped_delivery_never_arrives_and_is_recorded_as_dropped() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    server
        .deliveries()
        .fault(Fault::drop_delivery())
        .named("lost")
        .mount();
    upload(&server).await;

    server.clock().advance(ENCODING);
    server.deliveries().settled().await;

    assert!(receiver.nothing_within(Duration::from_millis(300)).await);
    let delivery = &server.deliveries().all()[0];
    assert_eq!(delivery.status, DeliveryStatus::Dropped);
    assert_eq!(delivery.fault.as_deref(), Some("lost"));
    assert!(delivery.attempts.is_empty());
}

#[tokio::test]
async fn a_duplicated_delivery_arrives_twice_with_the_same_body_and_signature() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    server
        .deliveries()
        .fault(Fault::duplicate())
        .times(1)
        .mount();
    upload(&server).await;

    server.clock().advance(ENCODING);
    let one = receiver.next().await;
    let two = receiver.next().await;

    assert_eq!(one.body, two.body);
    assert_eq!(
        one.header("x-api-video-signature"),
        two.header("x-api-video-signature")
    );
}

#[tokio::test]
async fn a_bad_signature_fault_sends_a_signature_that_does_not_verify() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    let webhook = subscribe(&server, &receiver).await;
    server.deliveries().fault(Fault::bad_signature()).mount();
    upload(&server).await;

    server.clock().advance(ENCODING);
    let event = receiver.next().await;

    let secret = webhook["signatureSecret"].as_str().unwrap();
    assert!(!verifies(&event, secret));
    assert_eq!(event.header("x-api-video-signature").unwrap().len(), 64);
}

#[tokio::test]
async fn a_delayed_delivery_waits_for_the_clock() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    server
        .deliveries()
        .fault(Fault::delay(Duration::from_secs(30)))
        .mount();
    upload(&server).await;

    server.clock().advance(ENCODING);
    server.deliveries().settled().await;
    let held = receiver.nothing_within(Duration::from_millis(200)).await;
    server.clock().advance(Duration::from_secs(30));
    let event = receiver.next().await;

    assert!(held, "the delayed delivery came early");
    assert_eq!(event.json()["type"], "video.encoding.quality.completed");
}

#[tokio::test]
async fn a_reordered_delivery_arrives_after_the_next_one() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    server.deliveries().fault(Fault::reorder()).times(1).mount();
    let first = upload(&server).await;
    server.clock().advance(Duration::from_secs(1));
    let second = upload(&server).await;

    server.clock().advance(ENCODING);
    let a = receiver.next().await;
    let b = receiver.next().await;

    assert_eq!(a.json()["videoId"], second.as_str());
    assert_eq!(b.json()["videoId"], first.as_str());
}

#[tokio::test]
async fn the_admin_api_lists_deliveries_and_replays_one() {
    // Arrange
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    upload(&server).await;
    server.clock().advance(ENCODING);
    let original = receiver.next().await;
    server.deliveries().settled().await;

    // Act
    let listed = send(client().get(format!("{}/__vidmock/deliveries", server.uri()))).await;
    let id = listed.json()[0]["id"].as_u64().unwrap();
    let replayed =
        send(client().post(format!("{}/__vidmock/deliveries/{id}/replay", server.uri()))).await;
    let again = receiver.next().await;
    let missing =
        send(client().post(format!("{}/__vidmock/deliveries/999/replay", server.uri()))).await;

    // Assert
    let entry = &listed.json()[0];
    assert_eq!(entry["vendor"], "apivideo");
    assert_eq!(entry["event"], "video.encoding.quality.completed");
    assert_eq!(entry["url"], receiver.url.as_str());
    assert_eq!(entry["status"], "delivered");
    assert_eq!(entry["attempts"][0]["status"], 202);
    assert_eq!(entry["policy"]["attempts"], 4);
    assert!(entry["headers"]["X-Api-Video-Signature"].is_string());
    assert_eq!(replayed.status, 201);
    assert_eq!(again.body, original.body);
    assert_eq!(missing.status, 404);
    server.deliveries().settled().await;
    let copy = server
        .deliveries()
        .get(replayed.json()["id"].as_u64().unwrap())
        .unwrap();
    assert_eq!(copy.copy_of, Some(id));
}

#[tokio::test]
async fn delivery_faults_are_posted_to_their_own_admin_route() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;

    let on_requests = send(
        client()
            .post(format!("{}/__vidmock/faults", server.uri()))
            .json(&json!({"action": {"type": "drop"}})),
    )
    .await;
    let on_deliveries = send(
        client()
            .post(format!("{}/__vidmock/deliveries/faults", server.uri()))
            .json(&json!({"match": {"path": "/hooks"}, "action": {"type": "drop"}, "times": 1})),
    )
    .await;
    upload(&server).await;
    server.clock().advance(ENCODING);
    server.deliveries().settled().await;

    assert_eq!(on_requests.status, 400);
    assert_eq!(on_deliveries.status, 201);
    assert!(receiver.nothing_within(Duration::from_millis(200)).await);
    let faults = send(client().get(format!("{}/__vidmock/deliveries/faults", server.uri()))).await;
    assert_eq!(faults.json()[0]["applied"], 1);
}

#[tokio::test]
async fn an_unmet_delivery_expectation_names_the_deliveries_made_as_near_misses() {
    let server = frozen_server().await;
    let mut receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    server
        .deliveries()
        .expect(vidmock::matchers::path("/elsewhere"))
        .times(1)
        .named("to elsewhere");
    upload(&server).await;
    server.clock().advance(ENCODING);
    receiver.next().await;
    server.deliveries().settled().await;

    let failure =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.verify())).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();

    assert!(message.contains("expectation `to elsewhere` was not met: expected exactly 1 matching deliveries, made 0."), "{message}");
    assert!(message.contains("near misses"), "{message}");
    assert!(
        message.contains("video.encoding.quality.completed -> http://127.0.0.1:"),
        "{message}"
    );
    server.deliveries().clear();
}

#[tokio::test]
async fn an_event_still_to_come_at_a_restart_arrives_from_the_restarted_server() {
    // Arrange: the upload's only rendition is encoded a minute after it, on the clock.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let minute = Duration::from_secs(60);
    let start = || async {
        MockServer::builder()
            .apivideo_encoding_delay(minute)
            .state_file(&path)
            .unwrap()
            .start()
            .await
    };
    let mut receiver = Receiver::start().await;
    let server = start().await;
    let webhook = subscribe(&server, &receiver).await;
    let video = upload(&server).await;
    server.shutdown().await;

    // Act
    let restarted = start().await;
    restarted.clock().advance(minute);
    let event = receiver.next().await;

    // Assert
    assert_eq!(event.json()["videoId"], video.as_str());
    assert!(verifies(
        &event,
        webhook["signatureSecret"].as_str().unwrap()
    ));
    restarted.deliveries().settled().await;
    assert_eq!(restarted.deliveries().all().len(), 1);
}

#[tokio::test]
async fn webhooks_survive_a_restart_with_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let server = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let webhook = create_webhook(
        &server,
        json!({"events": ["video.encoding.quality.completed"], "url": "http://127.0.0.1:9/x"}),
    )
    .await
    .json();
    server.shutdown().await;

    let restarted = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let fetched = get(
        &restarted,
        &format!("/webhooks/{}", webhook["webhookId"].as_str().unwrap()),
    )
    .await;

    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), webhook);
}

#[tokio::test]
async fn an_unreachable_subscriber_is_recorded_as_four_failed_attempts() {
    // Arrange
    let server = frozen_server().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let answer = create_webhook(
        &server,
        json!({"events": ["video.encoding.quality.completed"], "url": format!("http://{closed}/hooks")}),
    )
    .await;
    assert_eq!(answer.status, 201);
    upload(&server).await;

    // Act
    server.clock().advance(ENCODING);
    server.deliveries().settled().await;
    for _ in 0..3 {
        server.clock().advance(Duration::from_secs(3));
        server.deliveries().settled().await;
    }

    // Assert
    let deliveries = server.deliveries().all();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert_eq!(deliveries[0].attempts.len(), 4);
    assert!(deliveries[0].attempts.iter().all(|a| a.status.is_none()));
    let error = deliveries[0].attempts[0].error.clone().unwrap();
    assert!(error.starts_with("cannot connect to 127.0.0.1:"), "{error}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn an_https_subscriber_signed_by_a_trusted_authority_gets_the_signed_event() {
    // Arrange
    let (mut receiver, authority) = Receiver::start_https().await;
    let server = MockServer::builder()
        .apivideo_encoding_delay(ENCODING)
        .trust_for_deliveries(authority)
        .start()
        .await;
    server.clock().freeze();
    let webhook = subscribe(&server, &receiver).await;
    let video = upload(&server).await;

    // Act
    server.clock().advance(ENCODING);
    let event = receiver.next().await;

    // Assert
    assert!(receiver.url.starts_with("https://localhost:"));
    assert_eq!(event.json()["videoId"], video.as_str());
    assert!(verifies(
        &event,
        webhook["signatureSecret"].as_str().unwrap()
    ));
    server.deliveries().settled().await;
    assert_eq!(
        server.deliveries().all()[0].status,
        DeliveryStatus::Delivered
    );
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn an_https_subscriber_with_an_untrusted_certificate_gets_nothing_and_the_attempt_says_why() {
    // Arrange
    let (mut receiver, _authority) = Receiver::start_https().await;
    let server = frozen_server().await;
    subscribe(&server, &receiver).await;
    upload(&server).await;

    // Act
    server.clock().advance(ENCODING);
    server.deliveries().settled().await;

    // Assert
    assert!(receiver.nothing_within(Duration::from_millis(200)).await);
    let delivery = &server.deliveries().all()[0];
    let error = delivery.attempts[0].error.clone().unwrap();
    assert!(error.starts_with("TLS with localhost:"), "{error}");
    assert!(error.contains("certificate"), "{error}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_certificate_authority_that_is_not_pem_stops_the_start_with_a_tls_error() {
    // Act
    let started = MockServer::builder()
        .trust_for_deliveries("not a certificate")
        .try_start()
        .await;

    // Assert
    match started {
        Err(vidmock::Error::Tls { message }) => {
            assert!(message.contains("deliveries"), "{message}");
        }
        other => panic!("expected a TLS error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn webhooks_created_and_deleted_come_back_after_a_restart_without_a_clean_shutdown() {
    // Arrange: each change is saved before its answer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let server = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let body =
        json!({"events": ["video.encoding.quality.completed"], "url": "http://127.0.0.1:9/x"});
    let kept = create_webhook(&server, body.clone()).await.json();
    let gone = create_webhook(&server, body).await.json();
    delete(
        &server,
        &format!("/webhooks/{}", gone["webhookId"].as_str().unwrap()),
    )
    .await;

    // Act: a restart without a clean shutdown.
    drop(server);
    let restarted = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let listed = get(&restarted, "/webhooks").await;

    // Assert
    assert_eq!(listed.json()["data"], json!([kept]));
}

#[tokio::test]
async fn a_real_mp4_sends_one_event_per_rendition_when_the_lifecycle_encodes_it() {
    // Arrange: a 640x360 file encodes 240p and 360p, each for HLS and MP4.
    let server = MockServer::builder().start().await;
    server.clock().freeze();
    let receiver = Receiver::start().await;
    subscribe(&server, &receiver).await;
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/media/sample-640x360-audio.mp4"
    ))
    .unwrap();
    let video = upload_file(&server, true, file).await;

    // Act
    server.clock().advance(Duration::from_secs(60));
    server.deliveries().settled().await;

    // Assert: every rendition the status calls encoded sent its event, at its instant.
    let status = get(&server, &format!("/videos/{video}/status"))
        .await
        .json();
    let mut encoded: Vec<(String, String)> = status["encoding"]["qualities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["status"] == "encoded")
        .map(|q| {
            (
                q["type"].as_str().unwrap().to_owned(),
                q["quality"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut events: Vec<(String, String)> = server
        .deliveries()
        .all()
        .iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            assert_eq!(body["videoId"], video.as_str());
            (
                body["encoding"].as_str().unwrap().to_owned(),
                body["quality"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    encoded.sort();
    events.sort();
    assert_eq!(encoded.len(), 4, "{status}");
    assert_eq!(events, encoded);
}
