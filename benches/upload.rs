//! Upload throughput: a 1 GiB file sent as api.video `Content-Range: part N/TOTAL` chunks of
//! 50 MiB, through the `vidmock` binary in its default bounded mode (spilled to temporary files) and through
//! the floor, a bare axum handler that reads and discards the body; and vidmock's peak resident
//! set meanwhile.
//!
//! ```text
//! cargo bench --bench upload --features cli
//! cargo bench --bench upload --features cli -- --runs 9 --file-mib 1024 --part-mib 50
//! cargo bench --bench upload --features cli -- --pause-secs 7
//! ```
//!
//! Both servers are processes of their own (see `harness`): vidmock's peak RSS is then the
//! binary's alone (`VmHWM` in `/proc/PID/status`), and neither server shares a runtime, an
//! allocator or CPU time with the client beyond what two processes on one machine must. The
//! client is the same code for both: one keep-alive HTTP/1.1 connection, parts sent one after
//! the other as the vendor's clients do, each part a multipart body streamed from a 1 MiB
//! pattern. A run is timed from the first byte of part 1 to the answer to the last part. vidmock
//! hashes a spilled file after that answer: the bench then asks the admin API for the video
//! (which waits for the sha256), checks the sha256 against the file's and reports how long it
//! took, and deletes the video, as a test's end would, before the next run. The runs of the two
//! servers alternate, after one unreported warm-up run each, and each figure is the median of
//! the runs.
//!
//! The floor's figures are for information only: there is no target against them (vidmock is
//! measured against its peer, wiremock-rs, in `benches/upload_peer.rs`). Target (reported, not
//! asserted): peak RSS < 150 MiB. The peak covers every upload of the run (the warm-up and 7 runs by default: 8 GiB through one
//! process), since the bounded mode's promise is memory that stays flat however much is
//! uploaded; the RSS line under the table gives the first upload's peak and what each GiB
//! leaves behind. The server's CPU time per GiB is shown too: on a shared machine it moves
//! much less than wall time.

mod harness;

use std::time::Instant;

use harness::{Client, Samples, Server, Targets, UploadRuns};

const MIB: u64 = 1024 * 1024;
/// The api.video key the binary uses when given none.
const API_KEY: &str = "vidmock-api-key";

struct Options {
    runs: usize,
    file: u64,
    part: u64,
    /// Seconds to wait after each vidmock upload is deleted, before the next run.
    pause: u64,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            runs: 7,
            file: 1024 * MIB,
            part: 50 * MIB,
            pause: 0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> u64 {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} takes a positive number"))
            };
            match arg.as_str() {
                "--runs" => options.runs = value("--runs").max(1) as usize,
                "--file-mib" => options.file = value("--file-mib") * MIB,
                "--part-mib" => options.part = value("--part-mib") * MIB,
                "--pause-secs" => options.pause = value("--pause-secs"),
                // What `cargo bench` passes, and filters meant for other targets.
                _ => {}
            }
        }
        assert!(
            options.file > 0 && options.part >= 5 * MIB,
            "parts of at least 5 MiB (the vendor's minimum) and a non-empty file"
        );
        options
    }

    fn parts(&self) -> u64 {
        self.file.div_ceil(self.part)
    }
}

/// What one upload cost.
struct Run {
    seconds: f64,
    /// CPU time the server used meanwhile.
    server_cpu: f64,
    video_id: String,
}

/// Uploads the whole file through `server`: an upload token, then every part in order on one
/// connection. Only the parts are timed.
async fn upload(server: &Server, options: &Options, pattern: &bytes::Bytes) -> Run {
    let mut client = Client::connect(server.addr).await;
    let auth = harness::basic_auth(API_KEY);
    let token = harness::create_upload_token(&mut client, &auth, "{}").await;
    let path = format!("/upload?token={token}");
    let total = options.parts();
    let mut video_id: Option<String> = None;
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    for part in 1..=total {
        let answer = harness::send_apivideo_part(
            &mut client,
            &path,
            part,
            total,
            options.part,
            options.file,
            pattern,
            video_id.as_deref(),
        )
        .await
        .expect_status(201, &format!("{} part {part}/{total}", server.name));
        let json = answer.json();
        let id = json["videoId"]
            .as_str()
            .unwrap_or_else(|| panic!("no videoId in {json}"));
        match &video_id {
            None => video_id = Some(id.to_owned()),
            Some(expected) => assert_eq!(id, expected, "every part fills the same video"),
        }
    }
    Run {
        seconds: started.elapsed().as_secs_f64(),
        server_cpu: server.cpu_seconds() - cpu_before,
        video_id: video_id.expect("at least one part"),
    }
}

/// Checks that vidmock received the whole file and kept its sha256, and returns how long the
/// sha256 took to be known after the last answer; then deletes the video (outside the timing).
async fn check_received(server: &Server, options: &Options, video_id: &str, sha256: &str) -> f64 {
    let mut client = Client::connect(server.addr).await;
    let auth = harness::basic_auth(API_KEY);
    let asked = Instant::now();
    let state = harness::admin_state(&mut client).await;
    let hashed = asked.elapsed().as_secs_f64();
    let video = state["apivideo"]["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["videos"].as_array().into_iter().flatten())
        .find(|v| v["videoId"] == video_id)
        .unwrap_or_else(|| panic!("video {video_id} in the admin state"))
        .clone();
    assert_eq!(video["sha256"], sha256, "vidmock kept the file's sha256");
    let status = client
        .send(
            "GET",
            &format!("/videos/{video_id}/status"),
            &[("authorization", &auth)],
            harness::Payload::empty(),
        )
        .await
        .expect_status(200, "video status")
        .json();
    assert_eq!(
        status["ingest"]["filesize"].as_u64(),
        Some(options.file),
        "vidmock received the whole file: {status}"
    );
    client
        .send(
            "DELETE",
            &format!("/videos/{video_id}"),
            &[("authorization", &auth)],
            harness::Payload::empty(),
        )
        .await
        .expect_status(204, "delete the video");
    hashed
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
        "upload: {} MiB in {} parts of {} MiB, {} runs per server; {}",
        options.file / MIB,
        options.parts(),
        options.part / MIB,
        options.runs,
        harness::machine()
    );

    let servers = [&floor, &vidmock];
    let labels = [
        "floor (bare axum, discards)",
        "vidmock (binary, spilled to temporary files)",
    ];
    let mut hashed_after = Samples::default();
    runtime.block_on(async {
        for round in 0..=options.runs {
            for (i, server) in servers.iter().enumerate() {
                let run = upload(server, &options, &pattern).await;
                figures.record(round, i, server, run.seconds, run.server_cpu);
                if server.name == "vidmock" {
                    let hashed = check_received(server, &options, &run.video_id, &sha256).await;
                    if round > 0 {
                        hashed_after.push(hashed);
                    }
                    harness::pause_after_delete(options.pause).await;
                }
                if round == 0 && server.name == "vidmock" {
                    figures.first_upload_done(server);
                }
            }
        }
    });

    let pieces = format!(
        "{}×{} MiB api.video parts",
        options.parts(),
        options.part / MIB
    );
    figures.table(&pieces, servers, labels).print();
    figures.print_rss(&vidmock);
    harness::print_pause(options.pause);
    println!(
        "vidmock's sha256 of the file was known {} s (median; {}–{}) after the last part's \
         answer, when the admin API was asked for it.\n",
        harness::fmt_num(hashed_after.median()),
        harness::fmt_num(hashed_after.min()),
        harness::fmt_num(hashed_after.max()),
    );

    // The ratio to the floor in the table above is for information only.
    let mut targets = Targets::default();
    targets.below(
        "vidmock peak RSS, bounded mode, all uploads",
        vidmock.peak_rss_mib(),
        150.0,
        "MiB",
    );
    targets.table("Targets").print();
    println!("{}", targets.verdict());
}
