//! What one change costs with a state file, as the state grows: the latency of `POST
//! /upload-tokens` (one change, answered once it is on disk) on a library `MockServer` with
//! `state_file`, already holding 0, 5,000 and 50,000 upload tokens (seeded).
//!
//! ```text
//! cargo bench --features cli --bench state_save
//! cargo bench --features cli --bench state_save -- --changes 500
//! cargo bench --features cli --bench state_save -- --quick
//! ```
//!
//! Each size gets a fresh server in a temporary directory, on a current-thread runtime as a
//! `#[tokio::test]` runs, and one keep-alive HTTP/1.1 client; 20 changes warm it up, then
//! `--changes` are timed one by one. The state file sits on whatever disk holds the temporary
//! directory, so the figures include its fsync. A save appends the change to the change log;
//! the whole state is rewritten only when the log outgrows it, in the background.
//!
//! Target (reported, not asserted): the median at 50,000 objects at most 1.5× the median with
//! an empty state. wiremock-rs keeps no state across restarts, so it has no row here.

mod harness;

use std::time::Instant;

use harness::{inproc, Client, Samples, Table, Targets};

/// Upload tokens seeded into the default project: a seed file as a person would write it.
fn seed(tokens: usize) -> String {
    let token = r#"{"ttl":0}"#;
    let list = vec![token; tokens].join(",");
    format!(
        r#"{{"apivideo":{{"projects":[{{"apiKey":"vidmock-api-key","uploadTokens":[{list}]}}]}}}}"#
    )
}

/// Per-change latencies, in microseconds, on a server holding `objects` tokens.
async fn run(objects: usize, changes: usize) -> (Samples, u64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("state.json");
    let server = vidmock::MockServer::builder()
        .seed_json(&seed(objects))
        .expect("the seed")
        .apivideo_rate_limits(harness::unlimited_rate_limits())
        .state_file(&path)
        .expect("the state file")
        .start()
        .await;
    let snapshot_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut client = Client::connect(server.address()).await;
    let auth = harness::basic_auth(&server.apivideo().api_key());
    for _ in 0..20 {
        harness::create_upload_token(&mut client, &auth, "{}").await;
    }
    let mut latencies = Samples::default();
    for _ in 0..changes {
        let started = Instant::now();
        harness::create_upload_token(&mut client, &auth, "{}").await;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(client);
    server.shutdown().await;
    (latencies, snapshot_bytes)
}

fn main() {
    let quick = inproc::flag("--quick");
    let changes: usize = inproc::option("--changes").unwrap_or(if quick { 50 } else { 300 });
    let sizes = [0usize, 5_000, 50_000];
    eprintln!(
        "state_save: {changes} changes at each size; {}; load average {}",
        harness::machine(),
        inproc::load_average()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results: Vec<(Samples, u64)> = sizes
        .iter()
        .map(|&objects| runtime.block_on(run(objects, changes)))
        .collect();
    let empty = results[0].0.median();
    let mut table = Table::new(
        "one change (POST /upload-tokens) with a state file, µs",
        &[
            "objects held",
            "state file",
            "min",
            "median",
            "p90",
            "max",
            "median vs empty",
        ],
    );
    for (objects, (latencies, bytes)) in sizes.iter().zip(&results) {
        table.row(vec![
            objects.to_string(),
            format!("{:.1} MiB", *bytes as f64 / (1024.0 * 1024.0)),
            format!("{:.0}", latencies.min()),
            format!("{:.0}", latencies.median()),
            format!("{:.0}", latencies.quantile(0.9)),
            format!("{:.0}", latencies.max()),
            format!("{:.2}×", latencies.median() / empty),
        ]);
    }
    table.print();
    let mut targets = Targets::default();
    targets.at_most(
        "median at 50,000 objects vs empty",
        results[2].0.median() / empty,
        1.5,
        "×",
    );
    targets.print();
}
