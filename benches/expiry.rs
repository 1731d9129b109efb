//! The cost of an expiry test: a token valid for one hour, checked expired by advancing
//! vidmock's clock, against the wall time the same test would need if it slept.
//!
//! ```text
//! cargo bench --bench expiry --features cli
//! cargo bench --bench expiry --features cli -- --tests 300
//! ```
//!
//! In-process, on a current-thread runtime, as a `#[tokio::test]` runs. Two tests, each run
//! `--tests` times:
//!
//! - api.video: `POST /upload-tokens {"ttl":3600}`, `clock().advance(3601 s)`,
//!   `GET /upload-tokens/{token}` answers 404;
//! - Kaltura: a KS valid for 3600 s (`ks_valid_for`), `clock().advance(3601 s)`,
//!   `uploadToken.list` with it answers `INVALID_KS` (`EXPIRED`).
//!
//! Each is timed on a server shared by the iterations and as a whole test (start a server, the
//! same steps, drop it). The sleeping side is computed, not slept: 3601 s of sleep plus the same
//! requests; nobody waits an hour for a benchmark. wiremock-rs has no clock and no notion of
//! expiry, so it has no row here.

mod harness;

use std::time::{Duration, Instant};

use harness::{inproc, Client, Payload, Samples, Table};

const TTL: Duration = Duration::from_secs(3600);
const PAST_TTL: Duration = Duration::from_secs(3601);

/// The api.video test's steps on `server`.
async fn apivideo_steps(server: &vidmock::MockServer) {
    let mut client = Client::connect(server.address()).await;
    let auth = harness::basic_auth(&server.apivideo().api_key());
    let token = harness::create_upload_token(&mut client, &auth, r#"{"ttl":3600}"#).await;
    server.clock().advance(PAST_TTL);
    client
        .send(
            "GET",
            &format!("/upload-tokens/{token}"),
            &[("authorization", &auth)],
            Payload::empty(),
        )
        .await
        .expect_status(404, "the token has expired");
}

/// The Kaltura test's steps on `server`.
async fn kaltura_steps(server: &vidmock::MockServer) {
    let ks = server
        .kaltura()
        .ks_valid_for("bench", vidmock::kaltura::SessionType::Admin, TTL);
    server.clock().advance(PAST_TTL);
    let mut client = Client::connect(server.address()).await;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("ks", &ks)
        .finish();
    let answer = client
        .send(
            "POST",
            "/api_v3/service/uploadtoken/action/list?format=1",
            &[("content-type", "application/x-www-form-urlencoded")],
            Payload::whole(body),
        )
        .await
        .expect_status(200, "uploadToken.list");
    let text = String::from_utf8_lossy(&answer.body);
    assert!(
        text.contains("INVALID_KS") && text.contains("EXPIRED"),
        "the KS has expired: {text}"
    );
}

#[derive(Clone, Copy)]
enum Test {
    ApiVideo,
    Kaltura,
}

impl Test {
    fn name(self) -> &'static str {
        match self {
            Test::ApiVideo => "api.video upload token, ttl 3600",
            Test::Kaltura => "Kaltura KS, valid 3600 s",
        }
    }

    async fn steps(self, server: &vidmock::MockServer) {
        match self {
            Test::ApiVideo => apivideo_steps(server).await,
            Test::Kaltura => kaltura_steps(server).await,
        }
    }
}

#[derive(Default)]
struct Figures {
    wall_us: Samples,
    cpu_seconds: f64,
}

fn main() {
    let quick = inproc::flag("--quick");
    let tests: usize = inproc::option("--tests").unwrap_or(if quick { 50 } else { 300 });
    let machine = harness::machine();
    eprintln!(
        "expiry: {tests} runs of each test; {machine}; load average {}",
        inproc::load_average()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let kinds = [Test::ApiVideo, Test::Kaltura];
    // [test][shared server, whole test]
    let mut figures: Vec<[Figures; 2]> = kinds.iter().map(|_| Default::default()).collect();
    runtime.block_on(async {
        let shared = vidmock::MockServer::start().await;
        for kind in kinds {
            for _ in 0..10 {
                kind.steps(&shared).await;
            }
        }
        for (k, kind) in kinds.iter().enumerate() {
            let cpu = inproc::process_cpu_seconds();
            for _ in 0..tests {
                let started = Instant::now();
                kind.steps(&shared).await;
                figures[k][0]
                    .wall_us
                    .push(started.elapsed().as_secs_f64() * 1e6);
            }
            figures[k][0].cpu_seconds = inproc::process_cpu_seconds() - cpu;
            let cpu = inproc::process_cpu_seconds();
            for _ in 0..tests {
                let started = Instant::now();
                let server = vidmock::MockServer::start().await;
                kind.steps(&server).await;
                drop(server);
                figures[k][1]
                    .wall_us
                    .push(started.elapsed().as_secs_f64() * 1e6);
            }
            figures[k][1].cpu_seconds = inproc::process_cpu_seconds() - cpu;
        }
    });

    let mut table = Table::new(
        format!("Expiry test: advance the clock vs sleep, median of {tests} runs ({machine})"),
        &[
            "test",
            "with clock.advance (µs)",
            "p10–p90 µs",
            "CPU µs",
            "sleeping (computed)",
            "sleeping / advancing",
        ],
    );
    for (k, kind) in kinds.iter().enumerate() {
        for (i, how) in ["requests + advance", "whole test (start, steps, drop)"]
            .iter()
            .enumerate()
        {
            let f = &figures[k][i];
            let advancing = f.wall_us.median();
            let sleeping_s = PAST_TTL.as_secs_f64() + advancing / 1e6;
            table.row(vec![
                format!("{}: {how}", kind.name()),
                harness::fmt_num(advancing),
                format!(
                    "{}–{}",
                    harness::fmt_num(f.wall_us.quantile(0.1)),
                    harness::fmt_num(f.wall_us.quantile(0.9))
                ),
                harness::fmt_num(f.cpu_seconds * 1e6 / tests as f64),
                format!("{sleeping_s:.4} s"),
                format!("{:.2e}×", sleeping_s * 1e6 / advancing),
            ]);
        }
    }
    table.print();
    println!("The sleeping column is 3601 s plus the same requests, computed rather than slept.\n");
}
