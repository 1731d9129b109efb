//! The accept loop: vidmock owns every socket itself instead of handing the listener to a web
//! framework's server.
//!
//! Owning the `TcpStream` is what lets a test ask for failures no HTTP framework can express
//! (reset a connection, close it without an answer, cut an upload after N bytes), and what lets
//! a dropped server end its connections at once instead of waiting for idle clients. It is
//! also where connections that stall are shed (see `shed`): each one is served beside its
//! watchdog, and the accept loop survives running out of file descriptors. And it is the only
//! place that sees the answer hyper writes itself to a request it cannot read (a request line
//! over 64 KiB), before any service could give it a vendor's form.

use std::io;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
#[cfg(feature = "http2")]
use hyper_util::{rt::TokioExecutor, server::conn::auto};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::connection::{ConnControl, ConnInfo, RESET};
use crate::server::shed::{Activity, Busy, Connections, Timeouts, Watchdog};
use crate::server::Shared;

/// How long in-flight requests may run on after a shutdown before their connections are cut.
const GRACE: Duration = Duration::from_millis(500);

/// How much of a body left unread by its handler is still read and discarded so that the
/// client can finish sending and read the answer; beyond it the connection closes.
const DRAIN_BYTES: u64 = 1 << 30;
/// How long that reading may take.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// How much of a request's first bytes is kept to tell whose path a request the HTTP layer
/// refused was for.
const HEAD_KEPT: usize = 256;

/// The socket as hyper sees it, obeying its [`ConnControl`].
struct FaultIo {
    inner: TcpStream,
    control: Arc<ConnControl>,
    /// Told of every read, for the watchdog.
    activity: Arc<Activity>,
    /// Replacement bytes still to write.
    pending_replacement: Option<bytes::Bytes>,
}

/// The connection as hyper sees it, above TLS when there is TLS: where an answer hyper writes
/// itself, to a request it could not read, is given the form of the vendor whose path the
/// request named.
struct VendorAnswers<I> {
    inner: I,
    control: Arc<ConnControl>,
    /// The server, for its vendors.
    shared: Arc<Shared>,
    /// The first bytes read since the last write (at most [`HEAD_KEPT`]): the start of the
    /// request being read.
    head: Vec<u8>,
    /// Whether bytes were written since the last read: the next read starts a new request.
    answered: bool,
    /// The vendor's answer, while it is still being written in place of hyper's.
    replacing: Option<bytes::Bytes>,
    /// Set once a vendor's answer replaced hyper's: whatever hyper writes after it is dropped
    /// (the connection ends after such an answer).
    replaced: bool,
}

impl<I> VendorAnswers<I> {
    fn new(inner: I, control: Arc<ConnControl>, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            control,
            shared,
            head: Vec::new(),
            answered: true,
            replacing: None,
            replaced: false,
        }
    }

    /// Keeps the start of a request from the bytes just read.
    fn keep_head(&mut self, read: &[u8]) {
        if self.answered {
            self.head.clear();
            self.answered = false;
        }
        let room = HEAD_KEPT.saturating_sub(self.head.len()).min(read.len());
        self.head.extend_from_slice(&read[..room]);
    }

    /// When `buf` is hyper's own `414 URI Too Long` or `431 Request Header Fields Too Large`
    /// (written for a request line or a head larger than it reads, which never reached the
    /// service), the answer of the vendor whose path the request named, in that vendor's form.
    fn vendor_answer_for(&self, buf: &[u8], served: bool) -> Option<bytes::Bytes> {
        if served {
            return None;
        }
        let status = if buf.starts_with(b"HTTP/1.1 414 ") {
            http::StatusCode::URI_TOO_LONG
        } else if buf.starts_with(b"HTTP/1.1 431 ") {
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        } else {
            return None;
        };
        let path = request_path(&self.head);
        let (content_type, body) = self
            .shared
            .vendors
            .owner(&path)?
            .refused_by_transport(status)?;
        let cors = if self.shared.cors {
            "access-control-allow-origin: *\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             {cors}connection: close\r\n\r\n",
            body.len()
        );
        let mut answer = bytes::BytesMut::with_capacity(head.len() + body.len());
        answer.extend_from_slice(head.as_bytes());
        answer.extend_from_slice(&body);
        Some(answer.freeze())
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for VendorAnswers<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.answered || self.head.len() < HEAD_KEPT {
            self.keep_head(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for VendorAnswers<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.replaced {
            self.answered = true;
            // An interim `100 Continue` is not the answer: the request is still being served.
            let served = if buf.starts_with(b"HTTP/1.1 100 ") {
                self.control.served.load(Ordering::SeqCst)
            } else {
                self.control.served.swap(false, Ordering::SeqCst)
            };
            self.replacing = self.vendor_answer_for(buf, served);
            self.replaced = self.replacing.is_some();
        }
        if !self.replaced {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        }
        while let Some(mut answer) = self.replacing.take() {
            if answer.is_empty() {
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &answer) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    let _ = answer.split_to(n);
                    self.replacing = Some(answer);
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.replacing = Some(answer);
                    return Poll::Pending;
                }
            }
        }
        // hyper's own bytes are swallowed: the vendor's answer stands in for them.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The path of a request line's start (`GET /videos?… HTTP/1.1`), or `/` when it cannot be
/// read.
fn request_path(head: &[u8]) -> String {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let target = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let path = target
        .split(|b| *b == b'?' || *b == b'#')
        .next()
        .unwrap_or_default();
    match std::str::from_utf8(path) {
        Ok(path) if path.starts_with('/') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let budget = self.control.read_budget.load(Ordering::SeqCst);
        if budget == u64::MAX {
            let before = buf.filled().len();
            let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
            if buf.filled().len() > before {
                self.activity.read();
            }
            return polled;
        }
        if budget == 0 {
            self.control.reset();
            return Poll::Pending;
        }
        // Only a connection under a fault gets here: read through a small bounce buffer.
        let mut bounce = [0u8; 16 * 1024];
        let room = buf
            .remaining()
            .min(bounce.len())
            .min(usize::try_from(budget).unwrap_or(usize::MAX));
        let mut limited = ReadBuf::new(&mut bounce[..room]);
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        if let Poll::Ready(Ok(())) = polled {
            let filled = limited.filled();
            if !filled.is_empty() {
                self.activity.read();
            }
            buf.put_slice(filled);
            self.control
                .read_budget
                .store(budget - filled.len() as u64, Ordering::SeqCst);
        }
        polled
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending_replacement.is_none() {
            let replacement = self
                .control
                .replacement
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            self.pending_replacement = replacement;
        }
        let Some(mut replacement) = self.pending_replacement.take() else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        while !replacement.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &replacement) {
                Poll::Ready(Ok(n)) => {
                    let _ = replacement.split_to(n);
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.pending_replacement = Some(replacement);
                    return Poll::Pending;
                }
            }
        }
        // Everything hyper meant to send is swallowed; the connection ends after the garbage.
        self.control.close();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        if self.control.fate.load(Ordering::SeqCst) == RESET {
            // A zero linger turns the close into a reset.
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

/// Accepts connections until `shutdown` fires, serving each on its own task in `tracker`.
pub(crate) async fn accept_loop(
    listener: Arc<TcpListener>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    tls: Option<Tls>,
    timeouts: Timeouts,
) {
    let connections = Arc::new(Connections::default());
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                if shutdown.is_cancelled() {
                    break;
                }
                let pause = backoff.failed(&error, &connections);
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        backoff.succeeded();
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let registered = connections.register(activity.clone());
        // Without the `tls` feature `Tls` is an uninhabited `Copy` type.
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let tls = tls.clone();
        let connection = serve_connection(
            stream,
            ConnInfo {
                peer,
                control: Arc::new(ConnControl::new()),
            },
            shared.clone(),
            shutdown.clone(),
            tls,
            Watchdog::new(activity, timeouts),
        );
        tracker.spawn(async move {
            connection.await;
            drop(registered);
        });
    }
}

/// How many quiet connections one failed accept closes to make room.
const SHED_BATCH: usize = 32;
/// The first pause after an accept failed with nothing to shed; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning about failing accepts in this long.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the accept loop does when accepting fails: an error about one connection (it was reset
/// while queued) is skipped; any other (out of file descriptors, of memory) closes quiet
/// connections to make room and pauses, longer each time nothing could be closed, so a
/// server that cannot accept neither spins nor floods its log.
#[derive(Default)]
struct Backoff {
    /// The pause after the last failure with nothing to shed; zero after a success.
    pause: Duration,
    /// When the last warning was logged, and failures since.
    warned: Option<std::time::Instant>,
    unreported: u64,
}

impl Backoff {
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// How long to wait before accepting again after `error`.
    fn failed(&mut self, error: &io::Error, connections: &Connections) -> Duration {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        ) {
            return Duration::ZERO;
        }
        let shed = connections.shed_idle(SHED_BATCH);
        self.unreported += 1;
        if self.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                %error,
                failures = self.unreported,
                closed_quiet_connections = shed,
                "accept failed; closing quiet connections and pausing"
            );
            self.warned = Some(std::time::Instant::now());
            self.unreported = 0;
        }
        if shed > 0 {
            // The shed connections close on their own tasks within a moment.
            return Duration::from_millis(1);
        }
        self.pause = (self.pause * 2).clamp(FIRST_PAUSE, MAX_PAUSE);
        self.pause
    }
}

/// The TLS side of a server: a rustls acceptor (the `tls` feature), or nothing.
#[cfg(feature = "tls")]
pub(crate) type Tls = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature there is no TLS to offer.
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = std::convert::Infallible;

/// How long a client may take over its TLS handshake.
#[cfg(feature = "tls")]
const HANDSHAKE: Duration = Duration::from_secs(10);

async fn serve_connection(
    stream: TcpStream,
    info: ConnInfo,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tls: Option<Tls>,
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))] mut watchdog: Watchdog,
) {
    let control = info.control.clone();
    let io = FaultIo {
        inner: stream,
        control: control.clone(),
        activity: watchdog.activity().clone(),
        pending_replacement: None,
    };
    match tls {
        None => serve_io(io, info, shared, shutdown, watchdog).await,
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            // A TLS client speaks first, with a handshake record; anything else is a plain
            // HTTP client that is told to use https:// rather than fed a TLS alert.
            let mut first = [0u8; 1];
            let peeked = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut watchdog => return,
                peeked = tokio::time::timeout(HANDSHAKE, io.inner.peek(&mut first)) => peeked,
            };
            match peeked {
                Ok(Ok(1..)) if first[0] != super::tls::HANDSHAKE_RECORD => {
                    let fallback = io
                        .inner
                        .local_addr()
                        .map_or_else(|_| "localhost".to_owned(), |address| address.to_string());
                    super::tls::refuse_plain_http(io, fallback).await;
                    return;
                }
                Ok(Ok(1..)) => {}
                // Closed, failed or silent: nothing to serve.
                _ => return,
            }
            let handshake = tokio::select! {
                _ = shutdown.cancelled() => return,
                // A handshake stalls like a head: the watchdog sees its bytes.
                _ = &mut watchdog => return,
                handshake = tokio::time::timeout(HANDSHAKE, acceptor.accept(io)) => handshake,
            };
            // A client that cannot finish a handshake gets nothing more.
            if let Ok(Ok(stream)) = handshake {
                serve_io(stream, info, shared, shutdown, watchdog).await;
            }
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
    }
}

/// Serves HTTP/1 (and HTTP/2 with the `http2` feature) on one connection until it ends, a fault
/// kills it, or the server shuts down.
async fn serve_io<I>(
    io: I,
    info: ConnInfo,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    mut watchdog: Watchdog,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let control = info.control.clone();
    let io = VendorAnswers::new(io, control.clone(), shared.clone());
    let app = crate::server::app(shared);
    let activity = watchdog.activity().clone();
    let stall = watchdog.timeouts().body_stall;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        info.control.served.store(true, Ordering::SeqCst);
        // In progress until its answer has been sent whole (or dropped with the connection).
        let busy = activity.begin();
        request.extensions_mut().insert(info.clone());
        let answer = tower_service::Service::call(
            &mut app.clone(),
            request.map(|body| crate::engine::body::Body::new(Unread::new(body, stall))),
        );
        async move {
            let response = answer.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Answer { body, _busy: busy }))
        }
    });
    // HTTP/2 is what browsers speak over TLS; a Rust test's client speaks HTTP/1.1, so the
    // library alone does not compile an HTTP/2 server it would never use.
    #[cfg(feature = "http2")]
    let builder = auto::Builder::new(TokioExecutor::new());
    #[cfg(feature = "http2")]
    let connection = builder.serve_connection(TokioIo::new(io), service);
    #[cfg(not(feature = "http2"))]
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => {}
        // A fault ended the connection: dropping it drops the socket (a reset if asked).
        _ = control.killed.notified() => return,
        _ = connection.as_mut() => return,
        // Stalled or shed: dropping the connection closes the socket. Polled last, so that it
        // sees what this poll of the connection read and answered.
        _ = &mut watchdog => return,
    }
    // Shutting down: idle connections close now, busy ones get a short grace period.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, connection).await;
}

/// A request body that, dropped before its end, goes on being read and discarded in the
/// background.
///
/// A handler answering early (a refused token, a missing video, a scripted fault) drops the
/// body. hyper then makes one attempt to read the rest and otherwise closes the connection with
/// bytes still unread, which makes the kernel send a reset: a client still sending its upload
/// gets a broken pipe, and often loses the answer that was already on its way. Reading the rest
/// lets the client finish its request, read the answer and keep the connection, as it would
/// with the vendor.
///
/// It also ends a body that stops arriving: when a handler waits longer than the body-stall
/// limit for the next piece, it gets an error instead, and the rest of the body is abandoned
/// (hyper closes the connection once the answer is out). tower-http's `TimeoutBody` does the
/// same but hides the body's size hint and end, which the journal and the vendors read.
struct Unread {
    body: Option<Incoming>,
    ended: bool,
    /// How long a handler may wait for the next piece (`None`: for ever).
    stall: Option<Duration>,
    /// Runs while a handler waits; allocated on the first wait.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether `timer` counts the current wait (it is re-armed when a wait begins).
    waiting: bool,
}

impl Unread {
    fn new(body: Incoming, stall: Option<Duration>) -> Self {
        Self {
            body: Some(body),
            ended: false,
            stall,
            timer: None,
            waiting: false,
        }
    }
}

/// Why a request body ended early: the client stopped sending it.
#[derive(Debug)]
struct Stalled(Duration);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body stalled: nothing arrived for {:?}",
            self.0
        )
    }
}

impl std::error::Error for Stalled {}

impl hyper::body::Body for Unread {
    type Data = bytes::Bytes;
    type Error = crate::engine::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(body).poll_frame(cx);
        match frame {
            Poll::Ready(frame) => {
                this.waiting = false;
                if matches!(frame, None | Some(Err(_))) {
                    this.ended = true;
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(limit) = this.stall else {
                    return Poll::Pending;
                };
                let deadline = tokio::time::Instant::now() + limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.waiting {
                    timer.as_mut().reset(deadline);
                    this.waiting = true;
                }
                if std::future::Future::poll(timer.as_mut(), cx).is_pending() {
                    return Poll::Pending;
                }
                // Dropping hyper's body tells it the rest will not be read.
                this.body = None;
                this.ended = true;
                Poll::Ready(Some(Err(Box::new(Stalled(limit)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| hyper::body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        if hyper::body::Body::is_end_stream(self) {
            return;
        }
        let (Some(mut body), Ok(runtime)) =
            (self.body.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let stall = self.stall.unwrap_or(DRAIN_TIME);
        runtime.spawn(async move {
            use http_body_util::BodyExt;
            let discard = async {
                let mut read = 0u64;
                while let Ok(Some(Ok(frame))) = tokio::time::timeout(stall, body.frame()).await {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if read > DRAIN_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
        });
    }
}

/// An answer on its way out: its request counts as in progress until hyper has sent the whole
/// body (or dropped it with the connection).
struct Answer {
    body: crate::engine::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for Answer {
    type Data = bytes::Bytes;
    type Error = crate::engine::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::request_path;

    #[test]
    fn the_path_of_a_refused_request_is_read_from_its_first_bytes() {
        assert_eq!(request_path(b"GET /videos?title=ttt"), "/videos");
        assert_eq!(
            request_path(b"GET /api_v3/service/x HTTP/1.1\r\n"),
            "/api_v3/service/x"
        );
        assert_eq!(request_path(b"GET /vod/v#frag HTTP/1.1"), "/vod/v");
    }

    #[test]
    fn a_start_that_names_no_path_is_the_root() {
        assert_eq!(request_path(b""), "/");
        assert_eq!(request_path(b"GET"), "/");
        assert_eq!(request_path(b"GET http://host/x HTTP/1.1"), "/");
        assert_eq!(request_path(b"GET /\xff\xfe HTTP/1.1"), "/");
    }
}
