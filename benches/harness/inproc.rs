//! Servers inside the benchmark's own process, for the comparisons with wiremock-rs (a library
//! only, so it can only be measured in-process) and for what a Rust test sees: vidmock's
//! library `MockServer`, the floor as a bare axum router, and a wiremock-rs `MockServer` with
//! mounted mocks.
//!
//! Each server gets what wiremock-rs gives every one of its servers by construction: one thread
//! of its own running a current-thread tokio runtime. The client runs on another thread, so a
//! server never shares its runtime with the client, and the three targets differ only in what
//! answers the request.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

/// A response recorded from vidmock once, replayed by the floor and by wiremock-rs so that all
/// three send the same status, headers and body bytes.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    /// Every header vidmock sent except the ones hyper writes itself (`date`,
    /// `content-length`), in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Canned {
    /// Keeps what a server decides; drops what hyper adds to every response.
    pub fn from_parts(status: u16, headers: &HeaderMap, body: Bytes) -> Canned {
        let headers = headers
            .iter()
            .filter(|(name, _)| *name != "date" && *name != "content-length")
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        Canned {
            status,
            headers,
            body,
        }
    }

    /// The status, headers and body as axum sends them, parsed once: the floor answers with
    /// clones of these, as a bare handler returning constants does.
    pub fn prepared(&self) -> Prepared {
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        Prepared {
            status: StatusCode::from_u16(self.status).expect("a valid status"),
            headers,
            body: self.body.clone(),
        }
    }
}

/// A [`Canned`] answer ready to be sent any number of times.
#[derive(Clone, Debug)]
pub struct Prepared {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    /// The answer as axum sends it.
    pub fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

impl Canned {
    /// The canned response as a wiremock-rs template.
    pub fn template(&self) -> wiremock::ResponseTemplate {
        let content_type = self
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .map_or("application/octet-stream", |(_, value)| value.as_str());
        let mut template = wiremock::ResponseTemplate::new(self.status)
            .set_body_raw(self.body.to_vec(), content_type);
        for (name, value) in &self.headers {
            if name != "content-type" {
                template = template.append_header(name.as_str(), value.as_str());
            }
        }
        template
    }
}

/// Reads a response whole, keeping its headers (the shared [`super::Client`] keeps only status
/// and body).
pub async fn fetch(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Canned {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(body))
        .expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Canned::from_parts(status, &headers, body)
}

/// A server running on a thread of its own (a current-thread runtime); stopped and joined when
/// dropped.
pub struct Hosted {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Hosted {
    /// Runs `start` on a new thread; it returns the server's address and a value that keeps the
    /// server alive until the stop signal.
    pub fn spawn<F, Fut, Keep>(name: &str, start: F) -> Hosted
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = (SocketAddr, Keep)>,
        Keep: 'static,
    {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let (addr, keep) = start().await;
                    addr_tx.send(addr).expect("the spawner waits");
                    let _ = stop_rx.await;
                    drop(keep);
                });
            })
            .expect("a server thread");
        let addr = addr_rx.recv().expect("the server started");
        Hosted {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The floor as an in-process server: an axum router on a bound listener, each route answering
/// one canned response (by the `format` query parameter where there are several), after
/// reading the request body.
pub async fn floor(
    routes: Vec<(axum::http::Method, &'static str, BTreeMap<String, Canned>)>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("floor bind");
    let addr = listener.local_addr().expect("floor address");
    let mut router = axum::Router::new();
    for (method, path, answers) in routes {
        // Parsed once and shared by every request, as a handler answering constants would.
        let answers: std::sync::Arc<BTreeMap<String, Prepared>> = std::sync::Arc::new(
            answers
                .iter()
                .map(|(format, canned)| (format.clone(), canned.prepared()))
                .collect(),
        );
        let handler = move |query: axum::extract::RawQuery, _body: Bytes| {
            let answers = answers.clone();
            async move {
                let format = query
                    .0
                    .as_deref()
                    .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("format=")));
                answers
                    .get(format.unwrap_or_default())
                    .or_else(|| answers.values().next())
                    .expect("a canned answer")
                    .response()
            }
        };
        let filter = axum::routing::MethodFilter::try_from(method).expect("a method");
        router = router.route(path, axum::routing::on(filter, handler));
    }
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("floor serve");
    });
    (addr, task)
}

/// CPU time of this whole process so far (every thread, user and system), in seconds; 10 ms
/// resolution.
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    super::stat_cpu_seconds(&stat)
}

/// A `kB` field of `/proc/self/status`, in MiB.
pub fn self_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    super::status_field_kib(&status, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

/// Open file descriptors of this process.
pub fn self_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Threads of this process.
pub fn self_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |dir| dir.count())
}

/// The load average (1, 5, 15 minutes) as `/proc/loadavg` gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The value after `--name` on the command line (what follows `--` in `cargo bench`), parsed.
pub fn option<T: std::str::FromStr>(name: &str) -> Option<T> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == name {
            return Some(
                args.next()
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| panic!("{name} takes a number")),
            );
        }
    }
    None
}

/// Whether `--name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().skip(1).any(|arg| arg == name)
}
