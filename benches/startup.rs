//! Start-up: how long a fresh server takes to start, in-process on a test's runtime, for
//! vidmock's library `MockServer`, the floor (`TcpListener::bind` + `tokio::spawn(axum::serve)`)
//! and wiremock-rs; and 1,000 servers alive at once, each target in a fresh child process so
//! that time, resident set and file descriptors belong to that target alone.
//!
//! ```text
//! cargo bench --bench startup --features cli
//! cargo bench --bench startup --features cli -- --rounds 5 --block 60 --servers 1000 --children 3
//! ```
//!
//! Fresh start: each target starts `--block` servers one after the other (each dropped before
//! the next starts), the targets alternate in `--rounds` rounds, on one current-thread runtime
//! as `#[tokio::test]` gives. "start" is the `start().await` (or bind + spawn) alone; "start +
//! first answer" adds one request on a new connection, which shows that the server really
//! serves; "drop" is the synchronous drop. CPU time is the process's, per start, including
//! threads the target starts itself.
//!
//! 1,000 alive: a child process (this executable re-run) starts `--servers` servers of one
//! target on a current-thread runtime, keeps them all, reads `/proc/self/status` (`VmRSS`,
//! `VmHWM`) and counts `/proc/self/fd` and `/proc/self/task`, then sends one request to every
//! server and reads the resident set again. The figures are medians over `--children` child
//! processes per target; "per server" subtracts what the child held before the first start.

mod harness;

use std::net::SocketAddr;
use std::time::Instant;

use harness::inproc;
use harness::{Samples, Table, Targets};

/// The argument that turns this executable into a child holding many servers.
const MANY_ARG: &str = "__vidmock-bench-many";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Floor,
    Vidmock,
    Wiremock,
    WiremockPooled,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Floor => "floor (bind + spawn axum::serve)",
            Target::Vidmock => "vidmock (MockServer::start)",
            Target::Wiremock => "wiremock-rs (builder().start(), fresh)",
            Target::WiremockPooled => "wiremock-rs (MockServer::start, pooled)",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Target::Floor => "floor",
            Target::Vidmock => "vidmock",
            Target::Wiremock => "wiremock",
            Target::WiremockPooled => "wiremock-pooled",
        }
    }

    fn from_arg(arg: &str) -> Target {
        match arg {
            "floor" => Target::Floor,
            "vidmock" => Target::Vidmock,
            "wiremock" => Target::Wiremock,
            "wiremock-pooled" => Target::WiremockPooled,
            other => panic!("unknown target {other}"),
        }
    }
}

/// A started server of any target; dropping it stops it.
enum Running {
    Floor(SocketAddr, tokio::task::JoinHandle<()>),
    Vidmock(vidmock::MockServer),
    Wiremock(wiremock::MockServer),
}

impl Running {
    fn addr(&self) -> SocketAddr {
        match self {
            Running::Floor(addr, _) => *addr,
            Running::Vidmock(server) => server.address(),
            Running::Wiremock(server) => *server.address(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Floor(_, task) = self {
            // What a test does with a spawned server it no longer needs.
            task.abort();
        }
    }
}

/// The floor's router: a route or two, as small as a server gets.
fn floor_router() -> axum::Router {
    axum::Router::new()
        .route("/upload-tokens", axum::routing::post(|| async { "{}" }))
        .route(
            "/upload-tokens/{token}",
            axum::routing::get(|| async { "{}" }),
        )
}

async fn start(target: Target) -> Running {
    match target {
        Target::Floor => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            let app = floor_router();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            Running::Floor(addr, task)
        }
        Target::Vidmock => Running::Vidmock(vidmock::MockServer::start().await),
        Target::Wiremock => Running::Wiremock(wiremock::MockServer::builder().start().await),
        Target::WiremockPooled => Running::Wiremock(wiremock::MockServer::start().await),
    }
}

/// One request on a new connection: `GET /` (a 404 everywhere); its status.
async fn first_answer(addr: SocketAddr) -> u16 {
    let mut client = harness::Client::connect(addr).await;
    client
        .send("GET", "/", &[], harness::Payload::empty())
        .await
        .status
}

/// What one child process measured.
#[derive(Debug, Default, Clone)]
struct Many {
    seconds: f64,
    cpu_seconds: f64,
    rss_before: f64,
    rss: f64,
    hwm: f64,
    rss_after_requests: f64,
    fds_before: usize,
    fds: usize,
    threads: usize,
}

/// The child: starts `count` servers of `target`, measures, prints one line, exits.
fn many_child() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(MANY_ARG) {
        return;
    }
    let target = Target::from_arg(&args.next().expect("a target"));
    let count: usize = args.next().and_then(|n| n.parse().ok()).expect("a count");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let rss_before = inproc::self_status_mib("VmRSS:");
        let fds_before = inproc::self_fds();
        let cpu = inproc::process_cpu_seconds();
        let started = Instant::now();
        let mut servers = Vec::with_capacity(count);
        for _ in 0..count {
            servers.push(start(target).await);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = inproc::process_cpu_seconds() - cpu;
        let rss = inproc::self_status_mib("VmRSS:");
        let hwm = inproc::self_status_mib("VmHWM:");
        let fds = inproc::self_fds();
        let threads = inproc::self_threads();
        for server in &servers {
            let status = first_answer(server.addr()).await;
            assert!(status >= 400, "{} answered {status}", target.name());
        }
        let rss_after_requests = inproc::self_status_mib("VmRSS:");
        println!(
            "many {seconds} {cpu_seconds} {rss_before} {rss} {hwm} {rss_after_requests} {fds_before} {fds} {threads}"
        );
        // Nothing is dropped: the process ends here, as the figures are taken.
        std::process::exit(0);
    });
}

fn run_child(target: Target, count: usize) -> Many {
    let exe = std::env::current_exe().expect("own path");
    let output = std::process::Command::new(exe)
        .args([MANY_ARG, target.arg(), &count.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("child");
    assert!(output.status.success(), "{} child failed", target.name());
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("many "))
        .unwrap_or_else(|| panic!("no figures from the child: {text}"));
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    Many {
        seconds: v[0],
        cpu_seconds: v[1],
        rss_before: v[2],
        rss: v[3],
        hwm: v[4],
        rss_after_requests: v[5],
        fds_before: v[6] as usize,
        fds: v[7] as usize,
        threads: v[8] as usize,
    }
}

#[derive(Default)]
struct Fresh {
    start_us: Samples,
    first_answer_us: Samples,
    drop_us: Samples,
}

fn main() {
    many_child();
    // `--only TARGET`: start and drop `--block` servers of one target, nothing else, for
    // profiling (e.g. under `valgrind --tool=callgrind`).
    if let Some(only) = std::env::args().skip_while(|arg| arg != "--only").nth(1) {
        let target = Target::from_arg(&only);
        let count: usize = inproc::option("--block").unwrap_or(1000);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            for _ in 0..count {
                drop(start(target).await);
            }
        });
        return;
    }
    let quick = inproc::flag("--quick");
    let rounds: usize = inproc::option("--rounds").unwrap_or(if quick { 2 } else { 5 });
    let block: usize = inproc::option("--block").unwrap_or(if quick { 20 } else { 60 });
    let servers: usize = inproc::option("--servers").unwrap_or(1000);
    let children: usize = inproc::option("--children").unwrap_or(if quick { 1 } else { 3 });
    let machine = harness::machine();
    eprintln!(
        "startup: {rounds} rounds of {block} fresh starts per target; {servers} servers alive in \
         {children} child processes per target; {machine}; load average {}",
        inproc::load_average()
    );

    // Fresh start, in-process.
    let fresh_targets = [
        Target::Floor,
        Target::Vidmock,
        Target::Wiremock,
        Target::WiremockPooled,
    ];
    let mut fresh: Vec<Fresh> = fresh_targets.iter().map(|_| Fresh::default()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Warm-up: code paths, the allocator, wiremock-rs's pool.
        for target in fresh_targets {
            for _ in 0..5 {
                let server = start(target).await;
                first_answer(server.addr()).await;
            }
        }
        for round in 0..rounds {
            for i in 0..fresh_targets.len() {
                let index = (i + round) % fresh_targets.len();
                let target = fresh_targets[index];
                let figures = &mut fresh[index];
                for _ in 0..block {
                    let started = Instant::now();
                    let server = start(target).await;
                    let start_us = started.elapsed().as_secs_f64() * 1e6;
                    first_answer(server.addr()).await;
                    let answered_us = started.elapsed().as_secs_f64() * 1e6;
                    let dropped = Instant::now();
                    drop(server);
                    let drop_us = dropped.elapsed().as_secs_f64() * 1e6;
                    figures.start_us.push(start_us);
                    figures.first_answer_us.push(answered_us);
                    figures.drop_us.push(drop_us);
                }
                // Let the servers just dropped finish (wiremock-rs's threads end on their own).
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            eprintln!("  fresh starts: round {}/{rounds} done", round + 1);
        }
    });
    drop(runtime);

    // 1,000 alive at once, one child process per run.
    let many_targets = [Target::Floor, Target::Vidmock, Target::Wiremock];
    let mut many: Vec<Vec<Many>> = many_targets.iter().map(|_| Vec::new()).collect();
    for child in 0..children {
        for (i, target) in many_targets.iter().enumerate() {
            let m = run_child(*target, servers);
            eprintln!(
                "  {servers} alive, child {}/{children}: {:<40} {:>7.3} s, RSS {:>6.1} MiB (before {:.1}), \
                 {} fds, {} threads",
                child + 1,
                target.name(),
                m.seconds,
                m.rss,
                m.rss_before,
                m.fds,
                m.threads
            );
            many[i].push(m);
        }
    }

    let floor_start = fresh[0].start_us.median();
    let mut table = Table::new(
        format!(
            "Fresh start, in-process on a current-thread runtime, median of {} starts per target ({machine})",
            rounds * block
        ),
        &[
            "target",
            "start µs",
            "p10–p90 µs",
            "vs floor",
            "start + first answer µs",
            "drop µs",
        ],
    );
    for (i, target) in fresh_targets.iter().enumerate() {
        let f = &fresh[i];
        table.row(vec![
            target.name().to_owned(),
            harness::fmt_num(f.start_us.median()),
            format!(
                "{}–{}",
                harness::fmt_num(f.start_us.quantile(0.1)),
                harness::fmt_num(f.start_us.quantile(0.9))
            ),
            harness::fmt_ratio(f.start_us.median() / floor_start),
            harness::fmt_num(f.first_answer_us.median()),
            harness::fmt_num(f.drop_us.median()),
        ]);
    }
    table.print();

    let median =
        |runs: &[Many], f: fn(&Many) -> f64| Samples(runs.iter().map(f).collect()).median();
    let mut alive = Table::new(
        format!(
            "{servers} servers alive at once, one child process per run, median of {children} runs"
        ),
        &[
            "target",
            "time to start all (s)",
            "CPU s",
            "VmRSS MiB",
            "VmHWM MiB",
            "KiB per server",
            "VmRSS after a request each",
            "fds",
            "fds per server",
            "threads",
        ],
    );
    for (i, target) in many_targets.iter().enumerate() {
        let runs = &many[i];
        let per_server_kib = median(runs, |m| (m.rss - m.rss_before) * 1024.0) / servers as f64;
        alive.row(vec![
            target.name().to_owned(),
            harness::fmt_num(median(runs, |m| m.seconds)),
            harness::fmt_num(median(runs, |m| m.cpu_seconds)),
            harness::fmt_num(median(runs, |m| m.rss)),
            harness::fmt_num(median(runs, |m| m.hwm)),
            harness::fmt_num(per_server_kib),
            harness::fmt_num(median(runs, |m| m.rss_after_requests)),
            harness::fmt_num(median(runs, |m| m.fds as f64)),
            harness::fmt_num(median(runs, |m| (m.fds - m.fds_before) as f64) / servers as f64),
            harness::fmt_num(median(runs, |m| m.threads as f64)),
        ]);
    }
    alive.print();

    let mut targets = Targets::default();
    targets.at_most(
        "vidmock fresh start vs the floor's bind + spawn",
        fresh[1].start_us.median() / floor_start,
        2.0,
        "×",
    );
    targets.below(
        &format!("vidmock, {servers} servers alive: VmRSS"),
        median(&many[1], |m| m.rss),
        100.0,
        "MiB",
    );
    targets.print();
}
