//! Scripted faults over a real socket: what a client really sees for each kind.

use std::error::Error as _;
use std::time::{Duration, Instant};

use crate::common::{basic, client, send};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use vidmock::apivideo::{self, Problem, ProblemItem};
use vidmock::matchers::{header, method, path};
use vidmock::{Fault, MockServer};

const KEY: &str = "vidmock-api-key";

fn list(server: &MockServer) -> reqwest::RequestBuilder {
    basic(client().get(format!("{}/upload-tokens", server.uri())), KEY)
}

/// The io::ErrorKind somewhere in a reqwest error's chain.
fn io_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

#[tokio::test]
async fn a_status_fault_applies_the_given_number_of_times_then_the_normal_answer_returns() {
    let server = MockServer::start().await;
    server
        .fault(Fault::status(503).body("busy").header("retry-after", "1"))
        .when(apivideo::op("listTokens"))
        .times(1)
        .mount();

    let faulted = send(list(&server)).await;
    let normal = send(list(&server)).await;

    assert_eq!(faulted.status, 503);
    assert_eq!(faulted.text, "busy");
    assert_eq!(faulted.header("retry-after"), Some("1"));
    assert_eq!(normal.status, 200);
}

#[tokio::test]
async fn an_apivideo_problem_fault_answers_the_vendor_shape_with_its_problems() {
    let server = MockServer::start().await;
    server
        .fault(Fault::apivideo(
            Problem::new(400, "invalid-attribute", "An attribute is invalid.")
                .name("ttl")
                .detail("This value should be of type int.")
                .problems([ProblemItem::new(
                    "invalid-attribute",
                    "An attribute is invalid.",
                    "ttl",
                )]),
        ))
        .when(apivideo::op("createToken"))
        .mount();

    let answer = send(
        basic(
            client().post(format!("{}/upload-tokens", server.uri())),
            KEY,
        )
        .json(&json!({})),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire());
    assert!(server.apivideo().tokens().is_empty());
}

#[tokio::test]
async fn the_vendor_404_and_429_come_in_one_call() {
    let server = MockServer::start().await;
    server
        .fault(Fault::apivideo_not_found("uploadToken"))
        .when(apivideo::op("getToken"))
        .mount();
    server
        .fault(Fault::apivideo_too_many_requests())
        .when(apivideo::op("listTokens"))
        .mount();

    let missing = send(basic(
        client().get(format!("{}/upload-tokens/to1", server.uri())),
        KEY,
    ))
    .await;
    let limited = send(list(&server)).await;

    assert_eq!(
        missing.json()["type"],
        "https://docs.api.video/reference/resource-not-found"
    );
    assert_eq!(missing.json()["name"], "uploadToken");
    assert_eq!(limited.status, 429);
}

#[tokio::test]
async fn matchers_select_the_requests_a_fault_applies_to() {
    let server = MockServer::start().await;
    server
        .fault(Fault::status(418))
        .when(method("GET"))
        .and(path("/upload-tokens"))
        .and(header("x-test", "yes"))
        .mount();

    let tagged = send(list(&server).header("x-test", "yes")).await;
    let untagged = send(list(&server)).await;

    assert_eq!(tagged.status, 418);
    assert_eq!(untagged.status, 200);
}

#[tokio::test]
async fn after_skips_the_first_matches_and_on_nth_picks_one() {
    let server = MockServer::start().await;
    server
        .fault(Fault::status(500))
        .when(apivideo::op("listTokens"))
        .after(2)
        .times(1)
        .mount();
    server
        .fault(Fault::status(502))
        .when(apivideo::op("getToken"))
        .on_nth(2)
        .mount();

    let mut lists = Vec::new();
    for _ in 0..4 {
        lists.push(send(list(&server)).await.status);
    }
    let mut gets = Vec::new();
    for _ in 0..3 {
        gets.push(
            send(basic(
                client().get(format!("{}/upload-tokens/to1", server.uri())),
                KEY,
            ))
            .await
            .status,
        );
    }

    assert_eq!(lists, [200, 200, 500, 200]);
    assert_eq!(gets, [404, 502, 404]);
}

#[tokio::test]
async fn a_probability_draws_from_the_seeded_generator() {
    let statuses = |seed| async move {
        let server = MockServer::builder().seed(seed).start().await;
        server.fault(Fault::status(503)).probability(0.5).mount();
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(send(list(&server)).await.status);
        }
        out
    };

    let (a, b) = (statuses(9).await, statuses(9).await);

    assert_eq!(a, b);
    let failures = a.iter().filter(|s| **s == 503).count();
    assert!(failures > 0 && failures < 40, "{failures}");
}

#[tokio::test]
async fn a_scoped_fault_is_removed_with_its_guard() {
    let server = MockServer::start().await;
    let guard = server.fault(Fault::status(500)).mount_as_scoped();
    assert_eq!(send(list(&server)).await.status, 500);

    drop(guard);

    assert_eq!(send(list(&server)).await.status, 200);
    assert!(server.faults().is_empty());
}

#[tokio::test]
async fn a_delay_answers_normally_after_at_least_the_delay() {
    let server = MockServer::start().await;
    server
        .fault(Fault::delay(Duration::from_millis(200)))
        .mount();
    let started = Instant::now();

    let answer = send(list(&server)).await;

    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn random_latencies_answer_normally() {
    let server = MockServer::builder().seed(3).start().await;
    server
        .fault(Fault::delay_uniform(
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .times(3)
        .mount();
    server
        .fault(Fault::delay_lognormal(
            Duration::from_millis(2),
            0.5,
            Duration::from_millis(20),
        ))
        .mount();

    for _ in 0..6 {
        assert_eq!(send(list(&server)).await.status, 200);
    }
}

#[tokio::test]
async fn a_hang_makes_the_client_time_out() {
    let server = MockServer::start().await;
    server.fault(Fault::hang()).mount();

    let error = list(&server)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();

    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(server.received_requests()[0].status, None);
}

#[tokio::test]
async fn a_reset_reaches_the_client_as_connection_reset() {
    let server = MockServer::start().await;
    server.fault(Fault::reset()).mount();

    let error = list(&server).send().await.unwrap_err();

    assert_eq!(
        io_kind(&error),
        Some(std::io::ErrorKind::ConnectionReset),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_close_ends_the_connection_without_an_answer() {
    let server = MockServer::start().await;
    server.fault(Fault::close()).mount();

    let error = list(&server).send().await.unwrap_err();

    assert!(error.is_request(), "{error:?}");
    assert!(
        format!("{error:?}").contains("IncompleteMessage"),
        "{error:?}"
    );
}

#[tokio::test]
async fn garbage_is_not_http() {
    let server = MockServer::start().await;
    server
        .fault(Fault::garbage("\u{1}\u{2}definitely not HTTP\r\n\r\n"))
        .mount();

    let error = list(&server).send().await.unwrap_err();

    assert!(
        format!("{error:?}").to_lowercase().contains("parse") || error.is_request(),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_truncated_answer_fails_while_reading_the_body() {
    let server = MockServer::start().await;
    server.fault(Fault::truncate_after(10)).mount();

    let response = list(&server).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await;

    assert_eq!(status, 200);
    let error = body.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
}

#[tokio::test]
async fn a_dribbled_answer_arrives_whole() {
    let server = MockServer::start().await;
    let normal = send(list(&server)).await.text;
    server
        .fault(Fault::dribble(7, Duration::from_millis(2)))
        .mount();

    let dribbled = send(list(&server)).await;

    assert_eq!(dribbled.status, 200);
    assert_eq!(dribbled.text, normal);
}

#[tokio::test]
async fn a_lost_response_still_changes_the_state() {
    let server = MockServer::start().await;
    server
        .fault(Fault::lose_response())
        .when(apivideo::op("createToken"))
        .times(1)
        .mount();

    let error = basic(
        client().post(format!("{}/upload-tokens", server.uri())),
        KEY,
    )
    .send()
    .await
    .unwrap_err();

    assert!(error.is_request(), "{error:?}");
    assert_eq!(server.apivideo().tokens().len(), 1);
    let recorded = &server.received_requests()[0];
    assert_eq!(recorded.status, None);
    assert!(recorded.fault.as_deref().unwrap().contains("lose-response"));
}

#[tokio::test]
async fn the_journal_names_the_fault_applied() {
    let server = MockServer::start().await;
    server
        .fault(Fault::status(500))
        .named("flaky list")
        .times(1)
        .mount();

    send(list(&server)).await;
    send(list(&server)).await;

    let faults: Vec<_> = server
        .received_requests()
        .into_iter()
        .map(|r| r.fault)
        .collect();
    assert_eq!(faults, [Some("flaky list".to_owned()), None]);
    assert_eq!(server.faults()[0].applied, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_after_some_bytes_is_not_stored_and_the_retry_assembles_byte_exact() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let video = server.apivideo().create_video("resume");
    let file: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (first, second) = file.split_at(5 * 1024 * 1024);
    server
        .fault(Fault::reset_after_request_bytes(1024 * 1024))
        .when(header("content-range", "part 2/2"))
        .times(1)
        .mount();
    let part = |data: &[u8], range: &str| {
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header("content-range", range.to_owned())
            .multipart(
                Form::new()
                    .text("videoId", video.id.clone())
                    .part("file", Part::bytes(data.to_vec()).file_name("f")),
            )
    };
    assert_eq!(part(first, "part 1/2").send().await.unwrap().status(), 201);
    // Large enough that the cut happens while the client is still sending.
    let big_second: Vec<u8> = second
        .iter()
        .copied()
        .cycle()
        .take(4 * 1024 * 1024)
        .collect();
    let mut whole = first.to_vec();
    whole.extend_from_slice(&big_second);

    let cut = part(&big_second, "part 2/2").send().await;
    let after_cut = server.apivideo().video(&video.id).unwrap();
    let retried = part(&big_second, "part 2/2").send().await.unwrap();

    assert!(cut.is_err(), "{cut:?}");
    assert!(!after_cut.complete);
    assert_eq!(after_cut.chunks.len(), 1);
    assert_eq!(retried.status(), 201);
    let done = server.apivideo().video(&video.id).unwrap();
    assert_eq!(done.content().unwrap(), whole);
}

#[tokio::test]
async fn a_resumed_upload_after_a_lost_response_sees_the_part_already_sent() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let video = server.apivideo().create_video("lost");
    server
        .fault(Fault::lose_response())
        .when(apivideo::op("uploadWithUploadToken"))
        .times(1)
        .mount();
    let part = || {
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header("content-range", "part 1/1")
            .multipart(
                Form::new()
                    .text("videoId", video.id.clone())
                    .part("file", Part::bytes(b"all".to_vec()).file_name("f")),
            )
    };

    let lost = part().send().await;
    let retried = send(part()).await;

    assert!(lost.is_err());
    // The first request was processed: the video is complete and a retry is refused as such.
    assert_eq!(retried.status, 400);
    assert_eq!(
        retried.json()["type"],
        "https://docs.api.video/reference/video-source-already-uploaded"
    );
    assert_eq!(
        server
            .apivideo()
            .video(&video.id)
            .unwrap()
            .content()
            .unwrap(),
        b"all"
    );
}

#[tokio::test]
async fn vendor_matchers_pick_a_token_and_a_part() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let other = server.apivideo().create_token(None);
    server
        .fault(Fault::status(500))
        .when(apivideo::upload_token(token.token.clone()))
        .and(apivideo::part(2))
        .mount();
    let upload = |t: &str, range: &str| {
        client()
            .post(format!("{}/upload?token={t}", server.uri()))
            .header("content-range", range.to_owned())
            .multipart(Form::new().part(
                "file",
                Part::bytes(vec![0u8; 5 * 1024 * 1024]).file_name("f"),
            ))
    };

    let first = send(upload(&token.token, "part 1/*")).await;
    let second = send(upload(&token.token, "part 2/*")).await;
    let other_second = send(upload(&other.token, "part 2/*")).await;

    assert_eq!(first.status, 201);
    assert_eq!(second.status, 500);
    assert_eq!(other_second.status, 201);
}

#[tokio::test]
async fn a_fault_answering_a_large_kaltura_chunk_early_keeps_the_connection_for_the_next_request() {
    let server = MockServer::start().await;
    server
        .fault(Fault::status(503).body("busy"))
        .when(path("/api_v3/service/uploadtoken/action/upload"))
        .mount();

    let (faulted, next) = crate::common::answer_before_the_body_then_next(
        &server,
        "/api_v3/service/uploadtoken/action/upload",
        "/api_v3/service/system/action/ping?format=1",
    )
    .await;

    assert_eq!(faulted, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(next, "HTTP/1.1 200 OK");
}
