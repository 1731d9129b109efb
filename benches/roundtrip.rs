//! Request round trips and throughput: api.video `createToken` and `getToken`, Kaltura
//! `uploadToken.get` in JSON and in XML, through vidmock's library `MockServer`, the floor (a
//! bare axum router answering the same bytes) and wiremock-rs (a mounted mock answering the same
//! bytes); and the journal's cost (vidmock with recording on and off).
//!
//! ```text
//! cargo bench --bench roundtrip --features cli
//! cargo bench --bench roundtrip --features cli -- --rounds 5 --requests 2000 --per-connection 200
//! ```
//!
//! All servers live in this process, as in a Rust test (wiremock-rs exists only as a library),
//! each on a thread of its own with a current-thread runtime: what wiremock-rs gives each of its
//! servers (see `harness::inproc`). The client is the shared hyper HTTP/1.1 client on the main
//! thread. The responses of the floor and of wiremock-rs are recorded from vidmock once at
//! start-up (status, headers, body), so all three send the same bytes.
//!
//! For every call and target: one keep-alive connection sending requests one after the other
//! (latency p50 and p99, requests per second), then 32 connections at once (requests per second;
//! latency under load). Targets alternate within each round, their order rotating from round to
//! round; each figure is the median over rounds, and CPU time is the process's (client and
//! server together, so differences between targets are the servers'). Throughput is also
//! compared with wiremock-rs round by round (the median of the per-round ratios), which cancels
//! the machine's drift between rounds that a ratio of two medians keeps.

mod harness;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use axum::http::Method;
use bytes::Bytes;
use harness::inproc::{self, Canned, Hosted};
use harness::{Client, Payload, Samples, Table, Targets};

const API_KEY: &str = vidmock::apivideo::DEFAULT_API_KEY;

struct Options {
    rounds: usize,
    /// Requests per round on the single connection.
    requests: usize,
    connections: usize,
    /// Requests per connection per round with all connections at once.
    per_connection: usize,
}

impl Options {
    fn parse() -> Options {
        let quick = inproc::flag("--quick");
        Options {
            rounds: inproc::option("--rounds").unwrap_or(if quick { 2 } else { 5 }),
            requests: inproc::option("--requests").unwrap_or(if quick { 500 } else { 2000 }),
            connections: inproc::option("--connections").unwrap_or(32),
            per_connection: inproc::option("--per-connection").unwrap_or(if quick {
                50
            } else {
                200
            }),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Call {
    CreateToken,
    GetToken,
    KalturaJson,
    KalturaXml,
}

const CALLS: [Call; 4] = [
    Call::CreateToken,
    Call::GetToken,
    Call::KalturaJson,
    Call::KalturaXml,
];

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::CreateToken => "api.video createToken",
            Call::GetToken => "api.video getToken",
            Call::KalturaJson => "Kaltura uploadToken.get, JSON",
            Call::KalturaXml => "Kaltura uploadToken.get, XML",
        }
    }
}

/// One request, ready to send again and again.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    /// The status every answer must have.
    status: u16,
}

impl Req {
    fn headers(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }
}

/// What a vidmock server was given to answer the calls: an upload token, a KS and a Kaltura
/// upload token.
struct Ids {
    token: String,
    ks: String,
    kaltura_token: String,
}

/// Creates the objects the calls read, over HTTP.
async fn setup(addr: SocketAddr) -> Ids {
    let mut client = Client::connect(addr).await;
    let auth = harness::basic_auth(API_KEY);
    let token = harness::create_upload_token(&mut client, &auth, r#"{"ttl":3600}"#).await;
    let (ks, kaltura_token) = harness::kaltura_session(&mut client, "talk.mp4").await;
    Ids {
        token,
        ks,
        kaltura_token,
    }
}

/// The requests of each call against a server holding `ids`.
fn requests(ids: &Ids) -> BTreeMap<Call, Req> {
    let auth = harness::basic_auth(API_KEY);
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("ks", &ids.ks)
        .append_pair("uploadTokenId", &ids.kaltura_token)
        .finish();
    let kaltura = |format: u8| Req {
        method: "POST",
        path: format!("/api_v3/service/uploadtoken/action/get?format={format}"),
        headers: vec![(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        body: Bytes::from(form.clone()),
        status: 200,
    };
    BTreeMap::from([
        (
            Call::CreateToken,
            Req {
                method: "POST",
                path: "/upload-tokens".to_owned(),
                headers: vec![
                    ("authorization", auth.clone()),
                    ("content-type", "application/json".to_owned()),
                ],
                body: Bytes::from_static(br#"{"ttl":3600}"#),
                status: 200,
            },
        ),
        (
            Call::GetToken,
            Req {
                method: "GET",
                path: format!("/upload-tokens/{}", ids.token),
                headers: vec![("authorization", auth)],
                body: Bytes::new(),
                status: 200,
            },
        ),
        (Call::KalturaJson, kaltura(1)),
        (Call::KalturaXml, kaltura(2)),
    ])
}

/// vidmock's library server on a thread of its own; its journal on or off. Rate limits are
/// lifted so that no run meets a per-minute budget.
fn vidmock_server(journal: bool) -> Hosted {
    Hosted::spawn(
        if journal { "vidmock" } else { "vidmock-nj" },
        move || async move {
            let server = vidmock::MockServer::builder()
                .apivideo_rate_limits(harness::unlimited_rate_limits())
                .start()
                .await;
            server.set_recording(journal);
            (server.address(), server)
        },
    )
}

/// Sends `req` `n` times on one connection; the latency of each (µs) and requests per second.
async fn one_connection(addr: SocketAddr, req: &Req, n: usize) -> (Samples, f64) {
    let mut client = Client::connect(addr).await;
    let headers = req.headers();
    // Warm-up: the connection, the allocator, the server's caches.
    for _ in 0..(n / 10).max(10) {
        send(&mut client, req, &headers).await;
    }
    let mut latencies = Samples::default();
    let started = Instant::now();
    for _ in 0..n {
        let sent = Instant::now();
        send(&mut client, req, &headers).await;
        latencies.push(sent.elapsed().as_secs_f64() * 1e6);
    }
    (latencies, n as f64 / started.elapsed().as_secs_f64())
}

/// `connections` connections sending `per_connection` requests each, all at once.
async fn many_connections(
    addr: SocketAddr,
    req: &Req,
    connections: usize,
    per_connection: usize,
) -> (Samples, f64) {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut client = Client::connect(addr).await;
        send(&mut client, req, &req.headers()).await;
        clients.push(client);
    }
    let started = Instant::now();
    let runs = clients.into_iter().map(|mut client| async move {
        let headers = req.headers();
        let mut latencies = Vec::with_capacity(per_connection);
        for _ in 0..per_connection {
            let sent = Instant::now();
            send(&mut client, req, &headers).await;
            latencies.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        latencies
    });
    let all = futures_util::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let latencies = Samples(all.into_iter().flatten().collect());
    (
        latencies,
        (connections * per_connection) as f64 / elapsed.as_secs_f64(),
    )
}

/// `req` sent once on a connection of its own, the answer kept whole, headers included.
async fn fetch(addr: SocketAddr, req: &Req) -> Canned {
    inproc::fetch(
        addr,
        req.method,
        &req.path,
        &req.headers(),
        req.body.clone(),
    )
    .await
}

/// The median over rounds of `a`'s figure divided by `b`'s in the same round. Each round runs
/// every target back to back, so a ratio within one round shares the machine's state of the
/// moment (other tenants, frequency), which the ratio of two medians taken over the whole run
/// does not.
fn paired(a: &Samples, b: &Samples) -> f64 {
    let mut ratios = Samples::default();
    for (a, b) in a.0.iter().zip(&b.0) {
        ratios.push(a / b);
    }
    ratios.median()
}

async fn send(client: &mut Client, req: &Req, headers: &[(&str, &str)]) {
    let answer = client
        .send(
            req.method,
            &req.path,
            headers,
            Payload::whole(req.body.clone()),
        )
        .await;
    if answer.status != req.status {
        panic!(
            "{} {}: status {}: {}",
            req.method,
            req.path,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Target {
    Floor,
    Wiremock,
    Vidmock,
    VidmockNoJournal,
}

const TARGETS: [Target; 4] = [
    Target::Floor,
    Target::Wiremock,
    Target::Vidmock,
    Target::VidmockNoJournal,
];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Floor => "floor (bare axum)",
            Target::Wiremock => "wiremock-rs (mounted mock)",
            Target::Vidmock => "vidmock (library)",
            Target::VidmockNoJournal => "vidmock, journal off",
        }
    }
}

/// Figures of one call on one target, one entry per round.
#[derive(Default)]
struct Figures {
    p50: Samples,
    p99: Samples,
    single_rps: Samples,
    many_rps: Samples,
    many_p50: Samples,
    many_p99: Samples,
    cpu_seconds: f64,
    requests: usize,
}

fn main() {
    let options = Options::parse();
    let runtime = harness::client_runtime();

    let vidmock = vidmock_server(true);
    let vidmock_nj = vidmock_server(false);
    let (ids, ids_nj) =
        runtime.block_on(async { (setup(vidmock.addr).await, setup(vidmock_nj.addr).await) });
    let mut reqs: BTreeMap<Target, BTreeMap<Call, Req>> = BTreeMap::new();
    reqs.insert(Target::Vidmock, requests(&ids));
    reqs.insert(Target::VidmockNoJournal, requests(&ids_nj));
    reqs.insert(Target::Floor, requests(&ids));
    reqs.insert(Target::Wiremock, requests(&ids));

    // vidmock's answers, to be sent byte for byte by the floor and by wiremock-rs.
    let canned: BTreeMap<Call, Canned> = runtime.block_on(async {
        let mut canned = BTreeMap::new();
        for call in CALLS {
            let req = &reqs[&Target::Vidmock][&call];
            let answer = fetch(vidmock.addr, req).await;
            assert_eq!(
                answer.status,
                req.status,
                "{}: {:?}",
                call.name(),
                answer.body
            );
            canned.insert(call, answer);
        }
        canned
    });
    for call in CALLS {
        let answer = &canned[&call];
        eprintln!(
            "{}: {} bytes, {}",
            call.name(),
            answer.body.len(),
            answer
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let floor = {
        let one = |call: Call| BTreeMap::from([(String::new(), canned[&call].clone())]);
        let routes = vec![
            (Method::POST, "/upload-tokens", one(Call::CreateToken)),
            (Method::GET, "/upload-tokens/{token}", one(Call::GetToken)),
            (
                Method::POST,
                "/api_v3/service/uploadtoken/action/get",
                BTreeMap::from([
                    ("1".to_owned(), canned[&Call::KalturaJson].clone()),
                    ("2".to_owned(), canned[&Call::KalturaXml].clone()),
                ]),
            ),
        ];
        Hosted::spawn("floor", move || inproc::floor(routes))
    };
    let wiremock = runtime.block_on(async {
        use wiremock::matchers::{method, path, query_param};
        use wiremock::Mock;
        let server = wiremock::MockServer::builder().start().await;
        Mock::given(method("POST"))
            .and(path("/upload-tokens"))
            .respond_with(canned[&Call::CreateToken].template())
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/upload-tokens/{}", ids.token)))
            .respond_with(canned[&Call::GetToken].template())
            .mount(&server)
            .await;
        for (format, call) in [("1", Call::KalturaJson), ("2", Call::KalturaXml)] {
            Mock::given(method("POST"))
                .and(path("/api_v3/service/uploadtoken/action/get"))
                .and(query_param("format", format))
                .respond_with(canned[&call].template())
                .mount(&server)
                .await;
        }
        server
    });
    let addr_of = |target: Target| match target {
        Target::Floor => floor.addr,
        Target::Wiremock => *wiremock.address(),
        Target::Vidmock => vidmock.addr,
        Target::VidmockNoJournal => vidmock_nj.addr,
    };
    // Every target answers every call with the same status and body before anything is timed.
    runtime.block_on(async {
        for target in TARGETS {
            for call in CALLS {
                let req = &reqs[&target][&call];
                let answer = fetch(addr_of(target), req).await;
                assert_eq!(
                    answer.status,
                    req.status,
                    "{} {}",
                    target.name(),
                    call.name()
                );
                if matches!(target, Target::Floor | Target::Wiremock) {
                    assert_eq!(
                        answer.body,
                        canned[&call].body,
                        "{} {}",
                        target.name(),
                        call.name()
                    );
                }
            }
        }
    });

    eprintln!(
        "roundtrip: {} rounds; {} requests on one connection, {}×{} on {} connections; {}; load average {}",
        options.rounds,
        options.requests,
        options.connections,
        options.per_connection,
        options.connections,
        harness::machine(),
        inproc::load_average()
    );
    // `--only TARGET --call CALL`: one target and one call, the rest skipped, for profiling
    // (e.g. under `valgrind --tool=callgrind`); no tables, one line of figures.
    let only: Option<(Target, Call)> = std::env::args()
        .skip_while(|arg| arg != "--only")
        .nth(1)
        .map(|target| {
            let target = match target.as_str() {
                "floor" => Target::Floor,
                "wiremock" => Target::Wiremock,
                "vidmock" => Target::Vidmock,
                "vidmock-nj" => Target::VidmockNoJournal,
                other => panic!("--only: unknown target {other}"),
            };
            let call = match std::env::args()
                .skip_while(|arg| arg != "--call")
                .nth(1)
                .as_deref()
            {
                Some("create") => Call::CreateToken,
                Some("get") => Call::GetToken,
                Some("kjson") => Call::KalturaJson,
                Some("kxml") => Call::KalturaXml,
                other => panic!("--call create|get|kjson|kxml, not {other:?}"),
            };
            (target, call)
        });
    if let Some((target, call)) = only {
        runtime.block_on(async {
            let (latencies, rps) =
                one_connection(addr_of(target), &reqs[&target][&call], options.requests).await;
            let mut many = Vec::new();
            for _ in 0..options.rounds {
                let req = &reqs[&target][&call];
                let connections = options.connections;
                let (_, rps) =
                    many_connections(addr_of(target), req, connections, options.per_connection)
                        .await;
                many.push(rps);
            }
            many.sort_by(f64::total_cmp);
            eprintln!(
                "{} / {}: p50 {:.1} µs, {:.0} req/s; {} connections: {:.0} req/s (median of {})",
                call.name(),
                target.name(),
                latencies.quantile(0.5),
                rps,
                options.connections,
                many[many.len() / 2],
                many.len()
            );
        });
        return;
    }
    let mut figures: BTreeMap<(Call, Target), Figures> = BTreeMap::new();
    runtime.block_on(async {
        for round in 0..options.rounds {
            for call in CALLS {
                for i in 0..TARGETS.len() {
                    let target = TARGETS[(i + round) % TARGETS.len()];
                    let req = &reqs[&target][&call];
                    let addr = addr_of(target);
                    let cpu = inproc::process_cpu_seconds();
                    let (latencies, single_rps) = one_connection(addr, req, options.requests).await;
                    let (loaded, many_rps) = many_connections(
                        addr,
                        req,
                        options.connections,
                        options.per_connection,
                    )
                    .await;
                    let entry = figures.entry((call, target)).or_default();
                    entry.cpu_seconds += inproc::process_cpu_seconds() - cpu;
                    entry.requests += options.requests + options.connections * options.per_connection;
                    entry.p50.push(latencies.quantile(0.5));
                    entry.p99.push(latencies.quantile(0.99));
                    entry.single_rps.push(single_rps);
                    entry.many_rps.push(many_rps);
                    entry.many_p50.push(loaded.quantile(0.5));
                    entry.many_p99.push(loaded.quantile(0.99));
                    eprintln!(
                        "  round {}/{} {:<30} {:<27} p50 {:>6.1} µs p99 {:>6.1} µs {:>7.0} req/s; {} conns {:>7.0} req/s",
                        round + 1,
                        options.rounds,
                        call.name(),
                        target.name(),
                        latencies.quantile(0.5),
                        latencies.quantile(0.99),
                        single_rps,
                        options.connections,
                        many_rps
                    );
                }
            }
        }
    });
    drop(wiremock);

    let machine = harness::machine();
    let range = |s: &Samples| {
        format!(
            "{}–{}",
            harness::fmt_num(s.min()),
            harness::fmt_num(s.max())
        )
    };
    let mut latency = Table::new(
        format!(
            "Round trip, one connection, {} requests per round, median of {} rounds ({machine})",
            options.requests, options.rounds
        ),
        &[
            "call / target",
            "p50 µs",
            "p50 min–max",
            "p99 µs",
            "req/s",
            "p50 vs floor",
            "p99 vs floor",
            "CPU µs/req",
        ],
    );
    let mut throughput = Table::new(
        format!(
            "Throughput, {} connections at once, {}×{} requests per round, median of {} rounds ({machine})",
            options.connections, options.connections, options.per_connection, options.rounds
        ),
        &[
            "call / target",
            "req/s",
            "min–max req/s",
            "vs floor",
            "vs wiremock-rs",
            "vs wiremock-rs, paired",
            "p50 µs",
            "p99 µs",
        ],
    );
    let mut journal = Table::new(
        "Journal cost: vidmock with recording on and off (median req/s)",
        &[
            "call",
            "1 conn, on",
            "1 conn, off",
            "on / off",
            &format!("{} conns, on", options.connections),
            &format!("{} conns, off", options.connections),
            "on / off ",
            "CPU µs/req on",
            "CPU µs/req off",
        ],
    );
    let mut targets = Targets::default();
    for call in CALLS {
        let floor = &figures[&(call, Target::Floor)];
        let wire = &figures[&(call, Target::Wiremock)];
        for target in TARGETS {
            let f = &figures[&(call, target)];
            let cpu_us = f.cpu_seconds * 1e6 / f.requests as f64;
            latency.row(vec![
                format!("{} / {}", call.name(), target.name()),
                harness::fmt_num(f.p50.median()),
                range(&f.p50),
                harness::fmt_num(f.p99.median()),
                harness::fmt_num(f.single_rps.median()),
                harness::fmt_ratio(f.p50.median() / floor.p50.median()),
                harness::fmt_ratio(f.p99.median() / floor.p99.median()),
                harness::fmt_num(cpu_us),
            ]);
            throughput.row(vec![
                format!("{} / {}", call.name(), target.name()),
                harness::fmt_num(f.many_rps.median()),
                range(&f.many_rps),
                harness::fmt_ratio(f.many_rps.median() / floor.many_rps.median()),
                harness::fmt_ratio(f.many_rps.median() / wire.many_rps.median()),
                harness::fmt_ratio(paired(&f.many_rps, &wire.many_rps)),
                harness::fmt_num(f.many_p50.median()),
                harness::fmt_num(f.many_p99.median()),
            ]);
        }
        let on = &figures[&(call, Target::Vidmock)];
        let off = &figures[&(call, Target::VidmockNoJournal)];
        journal.row(vec![
            call.name().to_owned(),
            harness::fmt_num(on.single_rps.median()),
            harness::fmt_num(off.single_rps.median()),
            harness::fmt_ratio(on.single_rps.median() / off.single_rps.median()),
            harness::fmt_num(on.many_rps.median()),
            harness::fmt_num(off.many_rps.median()),
            harness::fmt_ratio(on.many_rps.median() / off.many_rps.median()),
            harness::fmt_num(on.cpu_seconds * 1e6 / on.requests as f64),
            harness::fmt_num(off.cpu_seconds * 1e6 / off.requests as f64),
        ]);
        targets.at_most(
            &format!("{}: p50 round trip vs floor", call.name()),
            on.p50.median() / floor.p50.median(),
            1.25,
            "×",
        );
    }
    for call in CALLS {
        let on = &figures[&(call, Target::Vidmock)];
        let wire = &figures[&(call, Target::Wiremock)];
        targets.at_least(
            &format!(
                "{}: throughput ({} conns) vs wiremock-rs",
                call.name(),
                options.connections
            ),
            on.many_rps.median() / wire.many_rps.median(),
            0.9,
            "×",
        );
        targets.at_least(
            &format!(
                "{}: throughput ({} conns) vs wiremock-rs, paired by round",
                call.name(),
                options.connections
            ),
            paired(&on.many_rps, &wire.many_rps),
            0.9,
            "×",
        );
    }
    latency.print();
    throughput.print();
    journal.print();
    targets.print();
}
