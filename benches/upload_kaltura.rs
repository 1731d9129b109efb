//! Upload throughput through Kaltura's `uploadToken.upload`: a 1 GiB file in chunks of 10 MiB,
//! sent as the browser and Python uploaders send them, through the `vidmock` binary in its
//! default bounded mode and through the floor, a bare axum handler that reads and
//! discards the body; and vidmock's peak resident set meanwhile. The api.video side is
//! `benches/upload.rs`; both share `harness`.
//!
//! ```text
//! cargo bench --bench upload_kaltura --features cli
//! cargo bench --bench upload_kaltura --features cli -- --runs 5 --file-mib 1024 --chunk-mib 10
//! cargo bench --bench upload_kaltura --features cli -- --pause-secs 7
//! ```
//!
//! Each chunk is one `POST /api_v3/service/uploadtoken/action/upload` with flat multipart
//! fields (`ks`, `format=1`, `uploadTokenId`, `resume`, `finalChunk`, `resumeAt`) followed by
//! the `fileData` part: the first chunk `resume=false, resumeAt=0`, every later one
//! `resume=true, resumeAt=<offset>`, the last one `finalChunk=true` (a verified final chunk).
//! Chunks go one after the other on one keep-alive connection, as `kaltura-uploader` and the
//! browser's sequential uploader send them. A run is timed from the first byte of the first
//! chunk to the answer to the last; the session and the upload token are made before. After
//! each run vidmock's `uploadToken.get` must show the whole file uploaded (status 2); then the
//! token is deleted and the server reset through the admin API (`POST /__vidmock/reset`), as a
//! suite ends a test, before the next run. A deleted Kaltura token keeps its bytes, as the
//! vendor keeps the file of a deleted token, so only the reset frees them; `benches/upload.rs`
//! frees its file by deleting the video.
//!
//! The floor's figures are for information only: there is no target against them (vidmock is
//! measured against its peer, wiremock-rs, in `benches/upload_peer.rs`). Target (reported, not
//! asserted): peak RSS < 150 MiB over every upload of the run.

mod harness;

use std::time::Instant;

use harness::{inproc, Client, Multipart, Payload, Server, Targets, UploadRuns};

const MIB: u64 = 1024 * 1024;

struct Options {
    runs: usize,
    file: u64,
    chunk: u64,
    /// Seconds to wait after each vidmock upload is deleted, before the next run.
    pause: u64,
}

impl Options {
    fn parse() -> Options {
        let quick = inproc::flag("--quick");
        let options = Options {
            runs: inproc::option("--runs").unwrap_or(if quick { 2 } else { 5 }),
            file: inproc::option::<u64>("--file-mib").unwrap_or(1024) * MIB,
            chunk: inproc::option::<u64>("--chunk-mib").unwrap_or(10) * MIB,
            pause: inproc::option("--pause-secs").unwrap_or(0),
        };
        assert!(
            options.file > 0 && options.chunk > 0 && options.runs > 0,
            "a non-empty file, chunks and runs"
        );
        options
    }

    fn chunks(&self) -> u64 {
        self.file.div_ceil(self.chunk)
    }
}

/// A KS and a fresh upload token on vidmock; fixed values on the floor, which checks nothing.
async fn session(server: &Server) -> (String, String) {
    if server.name != "vidmock" {
        return ("floor-ks".to_owned(), "0_floor".to_owned());
    }
    let mut client = Client::connect(server.addr).await;
    harness::kaltura_session(&mut client, "bench.mp4").await
}

struct Run {
    seconds: f64,
    server_cpu: f64,
    ks: String,
    token: String,
}

async fn upload(server: &Server, options: &Options, pattern: &bytes::Bytes) -> Run {
    let (ks, token) = session(server).await;
    let mut client = Client::connect(server.addr).await;
    let total = options.chunks();
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    for index in 0..total {
        let offset = index * options.chunk;
        let len = options.chunk.min(options.file - offset);
        let last = index + 1 == total;
        let form = Multipart::new()
            .text("ks", &ks)
            .text("format", "1")
            .text("uploadTokenId", &token)
            .text("resume", if index == 0 { "false" } else { "true" })
            .text("finalChunk", if last { "true" } else { "false" })
            .text("resumeAt", &offset.to_string());
        let content_type = form.content_type();
        let body = form.file(
            "fileData",
            "blob",
            pattern.clone(),
            (offset % pattern.len() as u64) as usize,
            len,
        );
        let answer = client
            .send(
                "POST",
                "/api_v3/service/uploadtoken/action/upload",
                &[("content-type", &content_type)],
                body,
            )
            .await
            .expect_status(200, &format!("{} chunk {}/{total}", server.name, index + 1));
        let json = answer.json();
        if json.get("objectType").and_then(|t| t.as_str()) != Some("KalturaUploadToken") {
            panic!("{} chunk {}/{total}: {json}", server.name, index + 1);
        }
    }
    Run {
        seconds: started.elapsed().as_secs_f64(),
        server_cpu: server.cpu_seconds() - cpu_before,
        ks,
        token,
    }
}

/// `uploadToken.ACTION(uploadTokenId)` in JSON; the answer.
async fn token_call(client: &mut Client, action: &str, ks: &str, token: &str) -> serde_json::Value {
    client
        .send(
            "POST",
            &format!("/api_v3/service/uploadtoken/action/{action}?format=1"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Payload::whole(harness::form(&[("ks", ks), ("uploadTokenId", token)])),
        )
        .await
        .expect_status(200, &format!("uploadToken.{action}"))
        .json()
}

/// Checks, outside the timing, that vidmock holds the whole file and closed the upload.
async fn check_received(server: &Server, options: &Options, ks: &str, token: &str) {
    let mut client = Client::connect(server.addr).await;
    let answer = token_call(&mut client, "get", ks, token).await;
    // Kaltura writes this size as a string in JSON (it is a float on the server).
    let uploaded = match &answer["uploadedFileSize"] {
        serde_json::Value::String(size) => size.parse::<u64>().ok(),
        size => size.as_u64(),
    };
    assert_eq!(
        uploaded,
        Some(options.file),
        "vidmock received the whole file: {answer}"
    );
    assert_eq!(answer["status"].as_i64(), Some(2), "FULL_UPLOAD: {answer}");
}

/// Checks that vidmock kept the file's sha256 (the admin API waits for it, as
/// `benches/upload.rs` does), deletes the token and resets the server, outside the timing, as
/// the end of a test would.
async fn end_test(server: &Server, ks: &str, token: &str, sha256: &str) {
    let mut client = Client::connect(server.addr).await;
    let state = harness::admin_state(&mut client).await;
    let kept = state["kaltura"]["partners"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["uploadTokens"].as_array().into_iter().flatten())
        .find(|t| t["id"] == token)
        .unwrap_or_else(|| panic!("token {token} in the admin state"))["sha256"]
        .clone();
    assert_eq!(kept, sha256, "vidmock kept the file's sha256");
    let answer = token_call(&mut client, "delete", ks, token).await;
    assert!(
        answer.is_null(),
        "uploadToken.delete answers null: {answer}"
    );
    client
        .send(
            "POST",
            "/__vidmock/reset",
            &[],
            Payload::whole(bytes::Bytes::new()),
        )
        .await
        .expect_status(204, "reset");
}

fn main() {
    harness::floor::serve_if_asked();
    let options = Options::parse();
    let runtime = harness::client_runtime();
    let pattern = harness::pattern(MIB as usize);
    let sha256 = harness::pattern_file_sha256(options.file, &pattern);

    let floor = Server::floor();
    let vidmock = Server::vidmock(&[]);
    let mut figures = UploadRuns::new(options.runs, options.file, &vidmock);
    eprintln!(
        "upload_kaltura: {} MiB in {} chunks of {} MiB, {} runs per server; {}; load average {}",
        options.file / MIB,
        options.chunks(),
        options.chunk / MIB,
        options.runs,
        harness::machine(),
        inproc::load_average()
    );

    let servers = [&floor, &vidmock];
    let labels = [
        "floor (bare axum, discards)",
        "vidmock (binary, default bounded mode)",
    ];
    runtime.block_on(async {
        for round in 0..=options.runs {
            for (i, server) in servers.iter().enumerate() {
                let run = upload(server, &options, &pattern).await;
                figures.record(round, i, server, run.seconds, run.server_cpu);
                if server.name == "vidmock" {
                    check_received(server, &options, &run.ks, &run.token).await;
                    if round == 0 {
                        figures.first_upload_done(server);
                    }
                    end_test(server, &run.ks, &run.token, &sha256).await;
                    harness::pause_after_delete(options.pause).await;
                }
            }
        }
    });

    let pieces = format!(
        "{}×{} MiB Kaltura chunks",
        options.chunks(),
        options.chunk / MIB
    );
    figures.table(&pieces, servers, labels).print();
    figures.print_rss(&vidmock);
    harness::print_pause(options.pause);

    // The ratio to the floor in the table above is for information only.
    let mut targets = Targets::default();
    targets.below(
        "vidmock peak RSS, bounded mode, all Kaltura uploads",
        vidmock.peak_rss_mib(),
        150.0,
        "MiB",
    );
    targets.print();
}
