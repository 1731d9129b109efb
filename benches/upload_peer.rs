//! Upload throughput and peak memory against the peer a user would pick instead: a 1 GiB file
//! sent as api.video `Content-Range: part N/TOTAL` parts of 50 MiB, in-process, one client,
//! through wiremock-rs 0.6 (a mounted mock answering 200 to every part) and through vidmock's
//! library `MockServer` with `Retention::Memory` (the library's default), with `Memory` and the
//! journal's body digests off (`journal_body_digests(false)`), and with `Retention::Spill`, with
//! the journal's digests on and off (off is what the `vidmock` binary runs with). A floor row (plain hyper, reading and discarding each body) is printed for information only.
//!
//! ```text
//! cargo bench --all-features --bench upload_peer -- --runs 3
//! cargo bench --all-features --bench upload_peer -- --runs 5 --file-mib 1024 --part-mib 50
//! cargo bench --all-features --bench upload_peer -- --quick
//! ```
//!
//! Every run is a process of its own: the benchmark executable re-run with [`CHILD_ARG`], which
//! starts one server, uploads the file once and reports the time and its own peak resident set
//! (`VmHWM` in `/proc/self/status`; "n/a" where there is no `/proc`). That is what one test
//! sees (a fresh server, one upload), and the peak belongs to one variant alone: nothing a
//! previous variant allocated is still counted. The variants take turns within each round, so
//! load from elsewhere on the machine falls on all of them alike.
//!
//! Inside a run, the server gets what wiremock-rs gives each of its servers by construction: a
//! thread of its own running a current-thread tokio runtime; the client runs on the main
//! thread, one keep-alive HTTP/1.1 connection (plain hyper, the `harness` client), parts sent
//! one after the other as the vendor's clients do, each a multipart body streamed from a 1 MiB
//! pattern. A run is timed from the first byte of part 1 to the answer to the last part; for
//! vidmock the upload token is made before, and the file's sha256 is checked through the admin
//! API after (not timed). wiremock-rs runs as a user gets it from `MockServer::builder()`:
//! request recording on, so it keeps every body it received.
//!
//! Targets (reported, not asserted): vidmock ≥ 1.5× wiremock-rs's throughput (each vidmock
//! row); `Spill`'s peak RSS ≤ 1/10 of wiremock-rs's (shown as wiremock-rs's peak over Spill's,
//! ≥ 10×).

mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use harness::inproc::Hosted;
use harness::{Client, Samples, Table, Targets};

const MIB: u64 = 1024 * 1024;

/// The argument that turns the benchmark executable into one run of one variant.
const CHILD_ARG: &str = "__vidmock-upload-peer-run";

/// What answers the upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Wiremock,
    Memory,
    MemoryNoDigests,
    Spill,
    SpillNoDigests,
    Floor,
}

impl Variant {
    /// In the order the table shows them and each round runs them.
    const ALL: [Variant; 6] = [
        Variant::Wiremock,
        Variant::Memory,
        Variant::MemoryNoDigests,
        Variant::Spill,
        Variant::SpillNoDigests,
        Variant::Floor,
    ];

    fn arg(self) -> &'static str {
        match self {
            Variant::Wiremock => "wiremock",
            Variant::Memory => "memory",
            Variant::MemoryNoDigests => "memory-no-digests",
            Variant::Spill => "spill",
            Variant::SpillNoDigests => "spill-no-digests",
            Variant::Floor => "floor",
        }
    }

    fn from_arg(arg: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.arg() == arg)
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Wiremock => "wiremock-rs 0.6 (mounted mock, recording on)",
            Variant::Memory => "vidmock Memory",
            Variant::MemoryNoDigests => "vidmock Memory, journal digests off",
            Variant::Spill => "vidmock Spill",
            Variant::SpillNoDigests => "vidmock Spill, journal digests off (the binary's settings)",
            Variant::Floor => "floor: hyper, discards (information only)",
        }
    }

    fn is_vidmock(self) -> bool {
        matches!(
            self,
            Variant::Memory | Variant::MemoryNoDigests | Variant::Spill | Variant::SpillNoDigests
        )
    }
}

struct Options {
    runs: usize,
    file: u64,
    part: u64,
}

impl Options {
    fn parse() -> Options {
        let mut runs = 3;
        let mut file_mib = None;
        let mut part_mib = None;
        let mut quick = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> u64 {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} takes a positive number"))
            };
            match arg.as_str() {
                "--runs" => runs = value("--runs").max(1) as usize,
                "--file-mib" => file_mib = Some(value("--file-mib")),
                "--part-mib" => part_mib = Some(value("--part-mib")),
                "--quick" => quick = true,
                // What `cargo bench` passes, and filters meant for other targets.
                _ => {}
            }
        }
        let (file_default, part_default) = if quick { (30, 10) } else { (1024, 50) };
        let options = Options {
            runs,
            file: file_mib.unwrap_or(file_default) * MIB,
            part: part_mib.unwrap_or(part_default) * MIB,
        };
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

/// What one run reports.
struct Run {
    seconds: f64,
    peak_rss_mib: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_ARG) {
        child(&args[2..]);
        return;
    }
    let options = Options::parse();
    let pattern = harness::pattern(MIB as usize);
    let sha256 = harness::pattern_file_sha256(options.file, &pattern);
    eprintln!(
        "upload_peer: {} MiB in {} parts of {} MiB, {} runs per variant; {}; load average {}",
        options.file / MIB,
        options.parts(),
        options.part / MIB,
        options.runs,
        harness::machine(),
        harness::inproc::load_average(),
    );

    let mut speeds: Vec<Samples> = vec![Samples::default(); Variant::ALL.len()];
    let mut peaks: Vec<f64> = vec![f64::NAN; Variant::ALL.len()];
    for round in 1..=options.runs {
        for (i, variant) in Variant::ALL.into_iter().enumerate() {
            let run = run_in_child(variant, &options, &sha256);
            let speed = options.file as f64 / MIB as f64 / run.seconds;
            eprintln!(
                "  run {round}/{} {:<18} {:>8.3} s {:>8.1} MiB/s   peak RSS {} MiB",
                options.runs,
                variant.arg(),
                run.seconds,
                speed,
                harness::fmt_num(run.peak_rss_mib),
            );
            speeds[i].push(speed);
            // The largest peak of any run (NaN, where unknown, is never larger).
            peaks[i] = if peaks[i].is_nan() {
                run.peak_rss_mib
            } else {
                peaks[i].max(run.peak_rss_mib)
            };
        }
    }
    let load_after = harness::inproc::load_average();

    let peer_speed = speeds[0].median();
    let peer_peak = peaks[0];
    let mut table = Table::new(
        format!(
            "Upload in-process: {} MiB in {}×{} MiB api.video parts, one connection, median of \
             {} runs, a fresh process per run ({}; load average after: {load_after})",
            options.file / MIB,
            options.parts(),
            options.part / MIB,
            options.runs,
            harness::machine(),
        ),
        &[
            "variant",
            "MiB/s (median)",
            "min–max MiB/s",
            "vs wiremock-rs",
            "peak RSS (MiB)",
            "RSS vs wiremock-rs",
        ],
    );
    for (i, variant) in Variant::ALL.into_iter().enumerate() {
        table.row(vec![
            variant.label().to_owned(),
            harness::fmt_num(speeds[i].median()),
            format!(
                "{}–{}",
                harness::fmt_num(speeds[i].min()),
                harness::fmt_num(speeds[i].max())
            ),
            harness::fmt_ratio(speeds[i].median() / peer_speed),
            harness::fmt_num(peaks[i]),
            fmt_share(peaks[i] / peer_peak),
        ]);
    }
    table.print();

    let mut targets = Targets::default();
    for (i, variant) in Variant::ALL.into_iter().enumerate() {
        if variant.is_vidmock() {
            targets.at_least(
                &format!("{} throughput vs wiremock-rs", variant.label()),
                speeds[i].median() / peer_speed,
                1.5,
                "×",
            );
        }
    }
    let spill = Variant::ALL
        .iter()
        .position(|v| *v == Variant::Spill)
        .expect("Spill is a variant");
    // Spill's peak at most 1/10 of wiremock-rs's: wiremock-rs's at least 10× Spill's, which
    // reads better than a ratio that rounds to 0.01×.
    targets.at_least(
        "wiremock-rs peak RSS over vidmock Spill's",
        peer_peak / peaks[spill],
        10.0,
        "×",
    );
    targets.print();
}

/// A ratio as `0.48×`, or as `1/145` when it is below a tenth (two decimals would round it
/// away).
fn fmt_share(ratio: f64) -> String {
    if ratio.is_finite() && ratio > 0.0 && ratio < 0.1 {
        format!("1/{:.0}", 1.0 / ratio)
    } else {
        harness::fmt_ratio(ratio)
    }
}

/// Runs one upload through `variant` in a new process, and reads back what it measured.
fn run_in_child(variant: Variant, options: &Options, sha256: &str) -> Run {
    let exe = std::env::current_exe().expect("the benchmark knows its own path");
    let output = Command::new(exe)
        .args([
            CHILD_ARG,
            variant.arg(),
            &options.file.to_string(),
            &options.part.to_string(),
            sha256,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {} variant: {e}", variant.arg()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the {} run failed ({}): {stdout}",
        variant.arg(),
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no result from the {} run: {stdout}", variant.arg()));
    let mut fields = line.split_whitespace();
    let seconds = fields
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    // "n/a" where the platform has no /proc.
    let peak_rss_mib = fields
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    Run {
        seconds,
        peak_rss_mib,
    }
}

/// One run, in the child: `VARIANT FILE_BYTES PART_BYTES SHA256`. Prints
/// `RESULT SECONDS PEAK_RSS_MIB`.
fn child(args: &[String]) {
    let variant = args
        .first()
        .and_then(|a| Variant::from_arg(a))
        .unwrap_or_else(|| panic!("unknown variant in {args:?}"));
    let number = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("argument {i} is not a number in {args:?}"))
    };
    let options = Options {
        runs: 1,
        file: number(1),
        part: number(2),
    };
    let sha256 = args.get(3).expect("the file's sha256").clone();
    let pattern = harness::pattern(MIB as usize);
    let runtime = harness::client_runtime();
    let seconds = runtime.block_on(async {
        match variant {
            Variant::Wiremock => {
                let server = wiremock_server().await;
                upload(*server.address(), variant, &options, &pattern, &sha256).await
            }
            Variant::Floor => {
                let server = Hosted::spawn("floor", floor);
                upload(server.addr, variant, &options, &pattern, &sha256).await
            }
            Variant::Memory
            | Variant::MemoryNoDigests
            | Variant::Spill
            | Variant::SpillNoDigests => {
                let server = vidmock_server(variant);
                upload(server.addr, variant, &options, &pattern, &sha256).await
            }
        }
    });
    match peak_rss_mib() {
        Some(mib) => println!("RESULT {seconds} {mib}"),
        None => println!("RESULT {seconds} n/a"),
    }
}

/// This process's peak resident set (`VmHWM`), in MiB; `None` off Linux.
fn peak_rss_mib() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// wiremock-rs as a user starts it, with one mock answering every part.
async fn wiremock_server() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::builder().start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/upload"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "videoId": "vi-wiremock" })),
        )
        .mount(&server)
        .await;
    server
}

/// vidmock's library server on a thread of its own, with the variant's retention and journal.
/// Rate limits are lifted so that no run meets a per-minute budget.
fn vidmock_server(variant: Variant) -> Hosted {
    let (retention, digests) = match variant {
        Variant::Memory => (vidmock::Retention::Memory, true),
        Variant::MemoryNoDigests => (vidmock::Retention::Memory, false),
        Variant::SpillNoDigests => (vidmock::Retention::Spill, false),
        _ => (vidmock::Retention::Spill, true),
    };
    Hosted::spawn("vidmock", move || async move {
        let server = vidmock::MockServer::builder()
            .retention(retention)
            .journal_body_digests(digests)
            .apivideo_rate_limits(harness::unlimited_rate_limits())
            .start()
            .await;
        (server.address(), server)
    })
}

/// The floor: plain hyper, every request's body read frame by frame and dropped, then 200.
async fn floor() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("floor bind");
    let addr = listener.local_addr().expect("floor address");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let mut body = request.into_body();
                        while let Some(frame) = body.frame().await {
                            if frame.is_err() {
                                break;
                            }
                        }
                        let response = hyper::Response::builder()
                            .status(200)
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(Bytes::from_static(
                                br#"{"videoId":"vi-floor"}"#,
                            )))
                            .expect("a response");
                        Ok::<_, Infallible>(response)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// Uploads the whole file to `addr`, every part in order on one connection, and returns the
/// seconds from the first part's first byte to the last part's answer. vidmock is then asked
/// (untimed) for the file's sha256, which must be `sha256`.
async fn upload(
    addr: SocketAddr,
    variant: Variant,
    options: &Options,
    pattern: &Bytes,
    sha256: &str,
) -> f64 {
    let mut client = Client::connect(addr).await;
    let token = if variant.is_vidmock() {
        let auth = harness::basic_auth(vidmock::apivideo::DEFAULT_API_KEY);
        harness::create_upload_token(&mut client, &auth, "{}").await
    } else {
        "to-peer".to_owned()
    };
    let path = format!("/upload?token={token}");
    let total = options.parts();
    let mut video_id: Option<String> = None;
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
        .await;
        assert!(
            (200..300).contains(&answer.status),
            "{} part {part}/{total}: {} {}",
            variant.arg(),
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        if video_id.is_none() {
            let json = answer.json();
            let id = json["videoId"]
                .as_str()
                .unwrap_or_else(|| panic!("no videoId in {json}"));
            video_id = Some(id.to_owned());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if variant.is_vidmock() {
        let video_id = video_id.expect("at least one part");
        let state = harness::admin_state(&mut client).await;
        let kept = state["apivideo"]["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["videos"].as_array().into_iter().flatten())
            .find(|v| v["videoId"] == video_id.as_str())
            .map(|v| v["sha256"].clone());
        assert_eq!(
            kept,
            Some(serde_json::Value::from(sha256)),
            "vidmock kept the whole file ({})",
            variant.arg()
        );
    }
    seconds
}
