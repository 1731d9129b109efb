//! What every vidmock benchmark shares: server processes to measure (the `vidmock` binary and
//! the floor, a bare axum server), a plain HTTP/1.1 client that streams generated bodies, the
//! statistics, and the tables the results are printed in.
//!
//! Each benchmark target (`benches/*.rs`, `harness = false`) includes this module with
//! `mod harness;` and uses the part it needs, hence the `dead_code` allowance.
//!
//! Every server runs as its own process, started the same way: the `vidmock` binary as users
//! run it, and the floor by re-running the benchmark executable itself with [`FLOOR_ARG`] (see
//! [`floor`]). Both get a fresh multi-threaded tokio runtime with the default worker count and
//! talk to the benchmark's client over loopback TCP, so the only difference between them is what
//! answers the request; and the resident set of a process is that server's alone.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;

pub mod inproc;

/// The argument that turns a benchmark executable into the floor server.
pub const FLOOR_ARG: &str = "__vidmock-bench-floor";

const MIB: f64 = 1024.0 * 1024.0;

// ---------------------------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------------------------

/// A server process that prints `… listening on http://HOST:PORT` as its first stdout line.
/// Killed when dropped.
pub struct Server {
    /// The name the tables use.
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// The `vidmock` binary built by Cargo for this benchmark, with `args` after `--port 0`.
    pub fn vidmock(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
        command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args);
        // The environment configures the binary too: measure its defaults, not the caller's.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("VIDMOCK_") {
                command.env_remove(name);
            }
        }
        Server::spawn("vidmock", command)
    }

    /// The floor: this benchmark executable re-run as a bare axum server (see [`floor`]).
    pub fn floor() -> Server {
        let exe = std::env::current_exe().expect("the benchmark knows its own path");
        let mut command = Command::new(exe);
        command.arg(FLOOR_ARG);
        Server::spawn("floor", command)
    }

    fn spawn(name: &'static str, mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("cannot read {name}'s first line: {e}"));
        let addr = line
            .trim_end()
            .split_once(" listening on http://")
            .and_then(|(_, addr)| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from {name}: {line:?}"));
        Server {
            name,
            addr,
            child,
            _stdout: stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS`: the resident set now, in MiB.
    pub fn rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmRSS:") as f64 / 1024.0
    }

    /// `VmHWM`: the largest resident set since start (or since [`Server::reset_peak_rss`]), in
    /// MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmHWM:") as f64 / 1024.0
    }

    /// Resets `VmHWM` to the current resident set (Linux `clear_refs` value 5), so the next
    /// reading covers only what runs after this call. Returns false where that is refused.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// CPU time the process has used so far, user and system, all threads (dead ones too), in
    /// seconds (`/proc/PID/stat`, 10 ms resolution). Unlike wall time, it barely moves when
    /// other work shares the machine.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .unwrap_or_else(|e| panic!("cannot read /proc/{}/stat: {e}", self.pid()));
        stat_cpu_seconds(&stat)
    }

    /// Open file descriptors (`/proc/PID/fd`).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/PID/status`.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status_field_kib(&status, field).unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A `kB` field (`VmRSS:`, `VmHWM:`) of the text of a `/proc/…/status` file.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User plus system CPU time, in seconds, from the text of a `/proc/…/stat` file.
fn stat_cpu_seconds(stat: &str) -> f64 {
    // The command name may hold spaces; the fields after it are plain numbers. utime and
    // stime are fields 14 and 15 of the line, the 12th and 13th after the name.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ, which /proc reports in, is 100 on every Linux architecture that matters.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------------
// The floor
// ---------------------------------------------------------------------------------------------

/// The floor server: the least an axum server can do for the same requests. It answers the
/// routes the benchmarks call with fixed bodies of the vendor's shape and reads (and drops)
/// every body byte, so what separates vidmock from it is vidmock's own work.
pub mod floor {
    use axum::body::Body;
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::serve::ListenerExt;
    use axum::Router;
    use futures_util::StreamExt;

    /// Serves the floor when this process was started as one (its first argument is
    /// [`super::FLOOR_ARG`]), and then never returns; otherwise returns at once.
    pub fn serve_if_asked() {
        if std::env::args().nth(1).as_deref() != Some(super::FLOOR_ARG) {
            return;
        }
        // The same runtime as the `vidmock` binary's: multi-threaded, default worker count.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("floor runtime");
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("floor bind");
            let addr = listener.local_addr().expect("floor address");
            println!("floor listening on http://{addr}");
            let app = Router::new()
                .route("/upload-tokens", post(create_token))
                .route("/upload", post(upload))
                .route(
                    "/api_v3/service/uploadtoken/action/upload",
                    post(kaltura_upload),
                );
            // As vidmock does for every connection it accepts.
            let listener = listener.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            axum::serve(listener, app).await.expect("floor serve");
        });
        std::process::exit(0);
    }

    fn json(status: StatusCode, body: &'static str) -> Response {
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    async fn create_token(body: Body) -> Response {
        discard(body).await;
        json(StatusCode::OK, r#"{"token":"to-floor"}"#)
    }

    async fn upload(body: Body) -> Response {
        discard(body).await;
        json(StatusCode::CREATED, r#"{"videoId":"vi-floor"}"#)
    }

    async fn kaltura_upload(body: Body) -> Response {
        discard(body).await;
        json(
            StatusCode::OK,
            r#"{"objectType":"KalturaUploadToken","id":"0_floor","status":1,"uploadedFileSize":0}"#,
        )
    }

    /// Reads every frame of the body and drops it.
    async fn discard(body: Body) {
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            if frame.is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A request body that is either small and given whole, or a head, `len` generated bytes and a
/// tail. Generated bytes are slices of one shared pattern (never copied, never held whole), so
/// the client's memory and CPU stay flat whatever the body's size.
pub struct Payload {
    head: Option<Bytes>,
    pattern: Bytes,
    offset: usize,
    remaining: u64,
    tail: Option<Bytes>,
    frame: usize,
    len: u64,
}

impl Payload {
    /// The size of the frames generated bytes are sent in.
    pub const FRAME: usize = 256 * 1024;

    pub fn empty() -> Payload {
        Payload::whole(Bytes::new())
    }

    pub fn whole(body: impl Into<Bytes>) -> Payload {
        Payload::generated(body.into(), Bytes::new(), 0, 0, Bytes::new())
    }

    /// `head`, then `len` bytes of `pattern` repeated, starting at `offset` into it, then
    /// `tail`.
    pub fn generated(head: Bytes, pattern: Bytes, offset: usize, len: u64, tail: Bytes) -> Payload {
        assert!(len == 0 || !pattern.is_empty(), "a non-empty pattern");
        let total = head.len() as u64 + len + tail.len() as u64;
        Payload {
            head: (!head.is_empty()).then_some(head),
            offset: if pattern.is_empty() {
                0
            } else {
                offset % pattern.len()
            },
            pattern,
            remaining: len,
            tail: (!tail.is_empty()).then_some(tail),
            frame: Payload::FRAME,
            len: total,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if this.remaining > 0 {
            let n = (this.pattern.len() - this.offset)
                .min(this.frame)
                .min(usize::try_from(this.remaining).unwrap_or(usize::MAX));
            let chunk = this.pattern.slice(this.offset..this.offset + n);
            this.offset = (this.offset + n) % this.pattern.len();
            this.remaining -= n as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(this.tail.take().map(|tail| Ok(Frame::data(tail))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.remaining == 0 && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// `len` bytes that look random (xorshift64), so nothing downstream benefits from repetition
/// within a pattern; deterministic, so every run sends the same file.
pub fn pattern(len: usize) -> Bytes {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// The sha256 of a file of `len` bytes made of `pattern` over and over, as the upload
/// benchmarks send it.
pub fn pattern_file_sha256(len: u64, pattern: &[u8]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut left = len;
    while left > 0 {
        let take = left.min(pattern.len() as u64) as usize;
        hasher.update(&pattern[..take]);
        left -= take as u64;
    }
    hex::encode(hasher.finalize())
}

/// A multipart/form-data body streamed as a [`Payload`]: text fields, then one file part of
/// generated bytes.
pub struct Multipart {
    pub boundary: String,
    head: String,
}

impl Multipart {
    pub fn new() -> Multipart {
        Multipart {
            boundary: "vidmock-bench-4c1f0e9a7d2b4e8f9a1c3b5d7e9f0a2b".to_owned(),
            head: String::new(),
        }
    }

    pub fn text(mut self, name: &str, value: &str) -> Multipart {
        let _ = write!(
            self.head,
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
            self.boundary
        );
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The whole body, ending with a file part of `len` bytes of `pattern` from `offset`.
    pub fn file(
        mut self,
        name: &str,
        filename: &str,
        pattern: Bytes,
        offset: usize,
        len: u64,
    ) -> Payload {
        let _ = write!(
            self.head,
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.boundary
        );
        let tail = format!("\r\n--{}--\r\n", self.boundary);
        Payload::generated(
            Bytes::from(self.head),
            pattern,
            offset,
            len,
            Bytes::from(tail),
        )
    }
}

/// Sends part `part` of `total` of an api.video upload through `client` as a multipart body
/// with `Content-Range: part n/N`: `part_size` bytes (fewer for the last part) of a
/// `file_size`-byte file made of `pattern`, adding `videoId` once the first answer gave one.
#[allow(clippy::too_many_arguments)]
pub async fn send_apivideo_part(
    client: &mut Client,
    path: &str,
    part: u64,
    total: u64,
    part_size: u64,
    file_size: u64,
    pattern: &Bytes,
    video_id: Option<&str>,
) -> Answer {
    let from = (part - 1) * part_size;
    let len = part_size.min(file_size - from);
    let mut form = Multipart::new();
    if let Some(id) = video_id {
        form = form.text("videoId", id);
    }
    let content_type = form.content_type();
    let body = form.file(
        "file",
        "bench.mp4",
        pattern.clone(),
        (from % pattern.len() as u64) as usize,
        len,
    );
    let range = format!("part {part}/{total}");
    client
        .send(
            "POST",
            path,
            &[("content-type", &content_type), ("content-range", &range)],
            body,
        )
        .await
}

/// api.video rate limits no benchmark reaches, so a run measures uploads, not 429s.
pub fn unlimited_rate_limits() -> vidmock::apivideo::RateLimits {
    vidmock::apivideo::RateLimits {
        reads: u32::MAX,
        writes: u32::MAX,
        uploads: u32::MAX,
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} with a body that is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Panics unless the status is `status`, showing the body.
    pub fn expect_status(self, status: u16, what: &str) -> Answer {
        assert_eq!(
            self.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// One HTTP/1.1 keep-alive connection, used by every benchmark for every server: plain hyper,
/// so the client costs the same (and little) whichever server it measures.
pub struct Client {
    authority: String,
    sender: hyper::client::conn::http1::SendRequest<Payload>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Client {
            authority: addr.to_string(),
            sender,
        }
    }

    /// Sends one request (`path_and_query` in origin form) and reads the whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Payload,
    ) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &self.authority)
            .header("content-length", body.len());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("a valid request");
        self.sender.ready().await.expect("connection ready");
        let response = self
            .sender
            .send_request(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"));
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: reading the answer: {e}"))
            .to_bytes();
        Answer { status, body }
    }
}

/// The runtime the client runs on: one thread, as a `#[tokio::test]` gives.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

/// `Authorization: Basic` for a user name and an empty password.
pub fn basic_auth(user: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:"));
    format!("Basic {encoded}")
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The server's whole state from the admin API (which waits for pending sha256s).
pub async fn admin_state(client: &mut Client) -> serde_json::Value {
    client
        .send("GET", "/__vidmock/state", &[], Payload::empty())
        .await
        .expect_status(200, "admin state")
        .json()
}

/// api.video's `createToken` with `body` (JSON), authorized by `auth`; the new token.
pub async fn create_upload_token(client: &mut Client, auth: &str, body: &'static str) -> String {
    client
        .send(
            "POST",
            "/upload-tokens",
            &[
                ("authorization", auth),
                ("content-type", "application/json"),
            ],
            Payload::whole(body),
        )
        .await
        .expect_status(200, "create an upload token")
        .json()["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// A Kaltura admin KS for the default partner, then an upload token for `file_name` made with
/// it: `(ks, upload token id)`.
pub async fn kaltura_session(client: &mut Client, file_name: &str) -> (String, String) {
    let urlencoded = [("content-type", "application/x-www-form-urlencoded")];
    let ks = client
        .send(
            "POST",
            "/api_v3/service/session/action/start?format=1",
            &urlencoded,
            Payload::whole(form(&[
                ("secret", vidmock::kaltura::DEFAULT_ADMIN_SECRET),
                (
                    "partnerId",
                    &vidmock::kaltura::DEFAULT_PARTNER_ID.to_string(),
                ),
                ("type", "2"),
                ("userId", "bench"),
            ])),
        )
        .await
        .expect_status(200, "session.start")
        .json()
        .as_str()
        .expect("a KS")
        .to_owned();
    let token = client
        .send(
            "POST",
            "/api_v3/service/uploadtoken/action/add?format=1",
            &urlencoded,
            Payload::whole(form(&[("ks", &ks), ("uploadToken:fileName", file_name)])),
        )
        .await
        .expect_status(200, "uploadToken.add")
        .json()["id"]
        .as_str()
        .expect("an upload token id")
        .to_owned();
    (ks, token)
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

/// Repeated measurements of one quantity.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut values = self.0.clone();
        values.sort_by(f64::total_cmp);
        values
    }

    pub fn median(&self) -> f64 {
        let values = self.sorted();
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> f64 {
        let values = self.sorted();
        if values.is_empty() {
            return f64::NAN;
        }
        let rank = (q * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// MiB per second for `bytes` moved in `elapsed`.
pub fn mib_per_s(bytes: u64, elapsed: std::time::Duration) -> f64 {
    bytes as f64 / MIB / elapsed.as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Upload runs
// ---------------------------------------------------------------------------------------------

/// What the upload benchmarks record of their two servers, the floor (index 0) and vidmock
/// (index 1), one whole-file upload after another; round 0 is the warm-up, logged but not kept.
pub struct UploadRuns {
    runs: usize,
    /// The file's size in bytes.
    file: u64,
    pub throughput: [Samples; 2],
    pub cpu_per_gib: [Samples; 2],
    idle_rss: f64,
    /// vidmock's (peak, current) resident set after its first upload.
    first_upload: (f64, f64),
}

impl UploadRuns {
    /// Before the first upload, so that vidmock's resident set now is its idle one.
    pub fn new(runs: usize, file: u64, vidmock: &Server) -> UploadRuns {
        UploadRuns {
            runs,
            file,
            throughput: Default::default(),
            cpu_per_gib: Default::default(),
            idle_rss: vidmock.rss_mib(),
            first_upload: (0.0, 0.0),
        }
    }

    fn gib(&self) -> f64 {
        self.file as f64 / (1024.0 * MIB)
    }

    /// Logs one upload of round `round` by `servers[i]`, and keeps its figures unless it is the
    /// warm-up.
    pub fn record(&mut self, round: usize, i: usize, server: &Server, seconds: f64, cpu: f64) {
        let speed = self.file as f64 / MIB / seconds;
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round}/{}", self.runs)
        };
        eprintln!(
            "  {label:<9} {:<8} {:>7.3} s {:>8.1} MiB/s {:>6.2} CPU s   RSS now {:>6.1} MiB, peak {:>6.1} MiB",
            server.name,
            seconds,
            speed,
            cpu,
            server.rss_mib(),
            server.peak_rss_mib()
        );
        if round > 0 {
            self.throughput[i].push(speed);
            self.cpu_per_gib[i].push(cpu / self.gib());
        }
    }

    /// Notes vidmock's resident set once its first upload is done and checked.
    pub fn first_upload_done(&mut self, vidmock: &Server) {
        self.first_upload = (vidmock.peak_rss_mib(), vidmock.rss_mib());
    }

    /// Throughput, server CPU time and peak resident set of each server, `labels` naming them;
    /// `pieces` says how the file was cut (`20×50 MiB api.video parts`).
    pub fn table(&self, pieces: &str, servers: [&Server; 2], labels: [&str; 2]) -> Table {
        let floor_speed = self.throughput[0].median();
        let floor_cpu = self.cpu_per_gib[0].median();
        let mut table = Table::new(
            format!(
                "Upload: {} MiB in {pieces}, one connection, median of {} runs ({})",
                self.file / (1024 * 1024),
                self.runs,
                machine()
            ),
            &[
                "target",
                "MiB/s",
                "min–max MiB/s",
                "ratio to floor",
                "server CPU s/GiB",
                "CPU vs floor",
                "peak RSS (MiB)",
            ],
        );
        for (i, server) in servers.iter().enumerate() {
            table.row(vec![
                labels[i].to_owned(),
                fmt_num(self.throughput[i].median()),
                format!(
                    "{}–{}",
                    fmt_num(self.throughput[i].min()),
                    fmt_num(self.throughput[i].max())
                ),
                fmt_ratio(self.throughput[i].median() / floor_speed),
                fmt_num(self.cpu_per_gib[i].median()),
                fmt_ratio(self.cpu_per_gib[i].median() / floor_cpu),
                fmt_num(server.peak_rss_mib()),
            ]);
        }
        table
    }

    /// vidmock's resident set idle, after the first upload and after all of them.
    pub fn print_rss(&self, vidmock: &Server) {
        // The bounded mode must stay flat however much has been uploaded: what the process
        // keeps between the first upload and the last shows memory held per upload.
        let retained = (vidmock.rss_mib() - self.first_upload.1) / (self.gib() * self.runs as f64);
        println!(
            "vidmock RSS (MiB): {} idle; after the first upload {} (peak {}); after all {} uploads {} \
             (peak {}): {} MiB kept per GiB uploaded.\n",
            fmt_num(self.idle_rss),
            fmt_num(self.first_upload.1),
            fmt_num(self.first_upload.0),
            self.runs + 1,
            fmt_num(vidmock.rss_mib()),
            fmt_num(vidmock.peak_rss_mib()),
            fmt_num(retained),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// A table printed as GitHub Markdown, columns aligned, so a run's output pastes straight into
/// BENCHMARKS.md.
pub struct Table {
    title: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([self.columns[i].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    // Text left, numbers right.
                    if i == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = format!("{}\n\n", self.title);
        out.push_str(&line(&self.columns));
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, width)| {
                if i == 0 {
                    format!(":{}", "-".repeat(width - 1))
                } else {
                    format!("{}:", "-".repeat(width - 1))
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// The targets of a benchmark, reported (never asserted) next to what was measured.
#[derive(Default)]
pub struct Targets {
    rows: Vec<(String, String, String, bool)>,
}

impl Targets {
    /// `measured` must be at most `limit` (costs: time, memory, ratios of times).
    pub fn at_most(&mut self, what: &str, measured: f64, limit: f64, unit: &str) {
        self.add(
            what,
            with_unit(format!("≤ {limit}"), unit),
            measured,
            unit,
            measured <= limit,
        );
    }

    /// `measured` must be below `limit`.
    pub fn below(&mut self, what: &str, measured: f64, limit: f64, unit: &str) {
        self.add(
            what,
            with_unit(format!("< {limit}"), unit),
            measured,
            unit,
            measured < limit,
        );
    }

    /// `measured` must be at least `limit` (throughputs and their ratios).
    pub fn at_least(&mut self, what: &str, measured: f64, limit: f64, unit: &str) {
        self.add(
            what,
            with_unit(format!("≥ {limit}"), unit),
            measured,
            unit,
            measured >= limit,
        );
    }

    fn add(&mut self, what: &str, goal: String, measured: f64, unit: &str, met: bool) {
        self.rows.push((
            what.to_owned(),
            goal,
            with_unit(fmt_num(measured), unit),
            met,
        ));
    }

    pub fn all_met(&self) -> bool {
        self.rows.iter().all(|row| row.3)
    }

    /// One line saying whether every target was met.
    pub fn verdict(&self) -> &'static str {
        if self.all_met() {
            "All targets met."
        } else {
            "Some targets missed (reported, not asserted)."
        }
    }

    /// The "Targets" table, then the verdict and a blank line.
    pub fn print(&self) {
        self.table("Targets").print();
        println!("{}\n", self.verdict());
    }

    pub fn table(&self, title: &str) -> Table {
        let mut table = Table::new(title, &["target", "goal", "measured", "met"]);
        for (what, goal, measured, met) in &self.rows {
            table.row(vec![
                what.clone(),
                goal.clone(),
                measured.clone(),
                if *met { "yes" } else { "NO" }.to_owned(),
            ]);
        }
        table
    }
}

/// `0.7×`, `150 MiB`: ratios take their sign without a space.
fn with_unit(number: String, unit: &str) -> String {
    match unit {
        "" => number,
        "×" => format!("{number}×"),
        unit => format!("{number} {unit}"),
    }
}

/// A number with as many decimals as its size deserves.
pub fn fmt_num(value: f64) -> String {
    if !value.is_finite() {
        "n/a".to_owned()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A ratio written as `0.83×`.
pub fn fmt_ratio(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}×")
    } else {
        "n/a".to_owned()
    }
}

/// Waits `secs` after an upload's video or token is deleted, before the next run, so that the
/// file system has finished with the deleted upload's files before the next upload writes new
/// ones.
pub async fn pause_after_delete(secs: u64) {
    if secs > 0 {
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}

/// Says under the table whether runs waited between uploads (see [`pause_after_delete`]).
pub fn print_pause(secs: u64) {
    match secs {
        0 => println!(
            "Each vidmock run followed the previous one's deletion at once (`--pause-secs 0`).\n"
        ),
        _ => println!(
            "Each vidmock run started {secs} s after the previous upload was deleted \
             (`--pause-secs {secs}`).\n"
        ),
    }
}

/// The machine a run happened on: cores and CPU model, for the report.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}
