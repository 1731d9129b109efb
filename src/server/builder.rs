//! `MockServerBuilder`: what a server is configured with, and how it starts (binding, TLS,
//! restoring a state file or loading a seed, then the accept loop).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[cfg(feature = "tls")]
use super::tls::tls_acceptor;
use super::{MockServer, Shared};
use crate::control::hosts::AllowedHosts;
use crate::engine::clock::Clock;
use crate::engine::ids::Ids;
use crate::engine::journal::{self, Journal};
use crate::engine::vendor::Context;
use crate::registry::Vendors;
use crate::server::conn;
use crate::server::shed::Timeouts;

/// Configures a [`MockServer`] before it starts.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::builder()
///     .seed(42)
///     .apivideo_key("my-project-key")
///     .start()
///     .await;
/// assert_eq!(server.apivideo().api_key(), "my-project-key");
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `.start().await`"]
pub struct MockServerBuilder {
    /// Where to listen; `127.0.0.1:0` unless told otherwise.
    addr: SocketAddr,
    /// A listener the caller bound already (takes precedence over `addr`).
    listener: Option<std::net::TcpListener>,
    seed: Option<u64>,
    clock: Option<Clock>,
    retention: crate::Retention,
    /// Fail verification on any request answered as unrecognized.
    strict: bool,
    cors: bool,
    admin_token: Option<String>,
    /// Names allowed in `Host` besides addresses and `localhost`, as written.
    allowed_hosts: Vec<String>,
    /// When connections that stall are closed.
    timeouts: Timeouts,
    /// Certificate chain and key (PEM) to serve HTTPS with.
    /// The PEM certificate chain and private key, or why none could be made.
    #[cfg(feature = "tls")]
    tls: Option<Result<(String, String), String>>,
    /// Certificate authorities (PEM) trusted for `https://` deliveries beside the public ones.
    #[cfg(feature = "tls")]
    delivery_roots: Vec<String>,
    /// How deliveries connect, made from `delivery_roots` at start.
    connector: crate::engine::deliveries::Connector,
    journal_capacity: usize,
    journal_body_limit: usize,
    /// Whether the journal hashes every request body whole.
    journal_digests: bool,
    /// Each vendor's settings, set through the vendor's own builder methods.
    configs: crate::registry::Configs,
    /// The state file, and what it held when the builder read it (`None`: no file yet).
    state_file: Option<(std::path::PathBuf, Option<crate::control::persist::Loaded>)>,
    /// Tenants and objects to load at start when there is no state to restore.
    seed_data: Option<crate::registry::Seed>,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: None,
            seed: None,
            clock: None,
            retention: crate::Retention::default(),
            strict: false,
            cors: true,
            admin_token: None,
            allowed_hosts: Vec::new(),
            timeouts: Timeouts::default(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            delivery_roots: Vec::new(),
            connector: crate::engine::deliveries::Connector::default(),
            journal_capacity: journal::DEFAULT_CAPACITY,
            journal_body_limit: journal::DEFAULT_BODY_LIMIT,
            journal_digests: true,
            configs: crate::registry::Configs::default(),
            state_file: None,
            seed_data: None,
        }
    }
}

impl MockServerBuilder {
    /// Listens on `addr` instead of `127.0.0.1:0` (port 0 picks a free port).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().bind(([127, 0, 0, 1], 0).into()).start().await;
    /// assert!(server.address().ip().is_loopback());
    /// # }
    /// ```
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Serves on a listener the caller has bound already.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let server = vidmock::MockServer::builder().listener(listener).start().await;
    /// assert_eq!(server.address(), addr);
    /// # }
    /// ```
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Whether the journal computes the sha256 of every request body (default: yes). Hashing
    /// costs a pass over each uploaded byte on top of the one that checks uploads themselves;
    /// past the first MiB of a body it runs on Tokio's blocking pool while the body is read
    /// (the reading waits when the hashing falls a few MiB behind), and the request is answered
    /// once it is done, so `body_sha256` is there when the client has its answer. Turning it
    /// off leaves `body_sha256` empty for bodies larger than the journal's body limit (smaller
    /// ones are still hashed). The binary turns it off.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().journal_body_digests(false);
    /// ```
    pub fn journal_body_digests(mut self, on: bool) -> Self {
        self.journal_digests = on;
        self
    }

    /// Makes every generated id (tokens, videos, access tokens) reproducible.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let a = vidmock::MockServer::builder().seed(1).start().await;
    /// let b = vidmock::MockServer::builder().seed(1).start().await;
    /// assert_eq!(a.apivideo().create_token(None).token, b.apivideo().create_token(None).token);
    /// # }
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Uses `clock` (for example one frozen beforehand, or shared between servers).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let clock = vidmock::Clock::new();
    /// clock.freeze();
    /// let server = vidmock::MockServer::builder().clock(clock.clone()).start().await;
    /// assert_eq!(server.clock().now(), clock.now());
    /// # }
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// What is kept of uploaded files: every byte (the default, so tests can read uploads
    /// back) or only size and sha256 (flat memory for large files).
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().retention(vidmock::Retention::DigestOnly);
    /// ```
    pub fn retention(mut self, retention: crate::Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Whether to answer CORS preflights and put CORS headers on every response (default: yes,
    /// as the vendors do, so browser uploaders work).
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().cors(false);
    /// ```
    pub fn cors(mut self, on: bool) -> Self {
        self.cors = on;
        self
    }

    /// Serves HTTPS with a self-signed certificate for `localhost`, `127.0.0.1` and `::1`,
    /// made at start; [`MockServer::tls_certificate_pem`] gives it to clients that must trust
    /// it. Browser uploaders that always call `https://` need this.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().tls().start().await;
    /// assert!(server.uri().starts_with("https://127.0.0.1:"));
    /// assert!(server.tls_certificate_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self) -> Self {
        let names = super::tls::local_names();
        // Generating a key only fails on a broken crypto provider; then HTTPS is impossible,
        // and `try_start` says so.
        self.tls = Some(
            rcgen::generate_simple_self_signed(names)
                .map(|certified| (certified.cert.pem(), certified.signing_key.serialize_pem()))
                .map_err(|e| format!("cannot make a certificate: {e}")),
        );
        self
    }

    /// Serves HTTPS with a certificate for `localhost`, `127.0.0.1` and `::1` made now and
    /// signed by `authority`: a client that trusts the authority once trusts every server it
    /// signs for, across restarts.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let ca = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
    /// let server = vidmock::MockServer::builder().tls_signed_by(&ca).start().await;
    /// // The chain served ends with the authority's certificate.
    /// assert!(server.tls_certificate_pem().unwrap().ends_with(ca.certificate_pem()));
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_signed_by(mut self, authority: &super::tls::LocalCa) -> Self {
        self.tls = Some(
            authority
                .sign(super::tls::local_names())
                .map_err(|e| format!("cannot make a certificate: {e}")),
        );
        self
    }

    /// Serves HTTPS with the given certificate chain and private key (PEM).
    ///
    /// # Example
    ///
    /// ```
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    /// let builder = vidmock::MockServer::builder()
    ///     .tls_pem(cert.cert.pem(), cert.signing_key.serialize_pem());
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_pem(
        mut self,
        certificate_chain: impl Into<String>,
        private_key: impl Into<String>,
    ) -> Self {
        self.tls = Some(Ok((certificate_chain.into(), private_key.into())));
        self
    }

    /// Also trusts this certificate authority (PEM) when delivering webhooks and notifications
    /// to `https://` subscribers; the public authorities are always trusted. For a receiver
    /// whose certificate a local authority signed (mkcert, or a test's own). A certificate that
    /// cannot be read makes [`MockServerBuilder::try_start`] fail with [`crate::Error::Tls`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let ca = vidmock::LocalCa::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    /// let server = vidmock::MockServer::builder()
    ///     .trust_for_deliveries(ca.certificate_pem())
    ///     .start()
    ///     .await;
    /// # drop(server);
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn trust_for_deliveries(mut self, certificate_pem: impl Into<String>) -> Self {
        self.delivery_roots.push(certificate_pem.into());
        self
    }

    /// Requires `token` on every admin route (`/__vidmock`), as `Authorization: Bearer TOKEN`,
    /// an `X-Vidmock-Admin-Token` header, or a `token` query parameter (for the dashboard). The
    /// token is compared in constant time. An empty token guards nothing, so
    /// [`MockServerBuilder::try_start`] refuses it ([`crate::Error::EmptyAdminToken`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().admin_token("s3cret").start().await;
    /// let health = format!("{}/__vidmock/health", server.uri());
    /// let http = reqwest::Client::new();
    /// assert_eq!(http.get(&health).send().await.unwrap().status(), 401);
    /// assert_eq!(http.get(&health).bearer_auth("s3cret").send().await.unwrap().status(), 200);
    ///
    /// let empty = vidmock::MockServer::builder().admin_token("").try_start().await;
    /// assert!(matches!(empty, Err(vidmock::Error::EmptyAdminToken)));
    /// # }
    /// ```
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Answers requests whose `Host` names the server `host` (repeatable). Without it, the
    /// server answers to `localhost` (and names under `.localhost`) and to IP addresses only,
    /// so that no page on another site can reach it through DNS rebinding; any other name gets
    /// 403. `.example.test` allows that domain and its subdomains; `*` allows any name. The
    /// port is not compared. [`MockServerBuilder::try_start`] refuses a value that is none of
    /// these ([`crate::Error::AllowedHost`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().allowed_host("mock.test").start().await;
    /// let health = format!("{}/__vidmock/health", server.uri());
    /// let http = reqwest::Client::new();
    /// let named = |host: &str| http.get(&health).header("host", host).send();
    /// assert_eq!(named("mock.test:8484").await.unwrap().status(), 200);
    /// assert_eq!(named("localhost").await.unwrap().status(), 200);
    /// assert_eq!(named("attacker.example").await.unwrap().status(), 403);
    /// # }
    /// ```
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// How long a client may take to send a request head once its first byte has arrived
    /// (default 30 s; `None`: no limit). Past it, the connection is closed without an answer.
    /// Real time, not the server's [`Clock`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let server = vidmock::MockServer::builder()
    ///     .header_read_timeout(std::time::Duration::from_millis(100))
    ///     .start()
    ///     .await;
    /// let mut socket = tokio::net::TcpStream::connect(server.address()).await.unwrap();
    /// socket.write_all(b"GET /upload-tokens HTTP/1.1\r\nHost: loc").await.unwrap();
    /// let mut rest = Vec::new();
    /// socket.read_to_end(&mut rest).await.unwrap(); // closed by the server
    /// assert!(rest.is_empty());
    /// # }
    /// ```
    pub fn header_read_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.timeouts.header_read = limit.into();
        self
    }

    /// How long a connection may stay open with no request in progress and no byte of the
    /// next one (default 120 s, longer than the pools of hyper and reqwest keep an idle
    /// connection; `None`: no limit). Real time, not the server's [`Clock`].
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().idle_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn idle_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.timeouts.idle = limit.into();
        self
    }

    /// How long a handler may wait for the next bytes of a request body (default 60 s; `None`:
    /// no limit). Past it, the handler sees the body end in an error and answers as it does
    /// for a broken body, and the connection closes after that answer. Requests in progress
    /// are otherwise never cut: a scripted hang or a dribbled answer lasts as long as it was
    /// told to. Real time, not the server's [`Clock`].
    ///
    /// # Example
    ///
    /// ```
    /// let builder =
    ///     vidmock::MockServer::builder().body_stall_timeout(std::time::Duration::from_secs(10));
    /// ```
    pub fn body_stall_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.timeouts.body_stall = limit.into();
        self
    }

    /// Strict mode: [`MockServer::verify`] (and dropping the server) fails if any request was
    /// answered as unrecognized (an unknown api.video route, an unknown Kaltura service or
    /// action), so a typo in a client's URL cannot pass unnoticed.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().strict().start().await;
    /// server.verify();
    /// # }
    /// ```
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// How many requests the journal keeps (default 10,000; the oldest fall off first). Their
    /// recorded bodies together stay under 64 MiB as well: past that, the oldest fall off
    /// sooner, so a journal of large uploads stays small.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().journal_capacity(1).start().await;
    /// for _ in 0..3 {
    ///     reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// }
    /// assert_eq!(server.received_requests().len(), 1);
    /// # }
    /// ```
    pub fn journal_capacity(mut self, entries: usize) -> Self {
        self.journal_capacity = entries;
        self
    }

    /// How many bytes of each request body the journal keeps (default 64 KiB). Size and sha256
    /// always cover the whole body.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().journal_body_limit(1024);
    /// ```
    pub fn journal_body_limit(mut self, bytes: usize) -> Self {
        self.journal_body_limit = bytes;
        self
    }

    /// Each vendor's settings, for the vendors' own builder methods (`apivideo_key`,
    /// `kaltura_partner`…), which live with the vendor.
    pub(crate) fn configs_mut(&mut self) -> &mut crate::registry::Configs {
        &mut self.configs
    }

    /// Loads tenants, upload tokens, videos, partners and entries from a seed document (the
    /// JSON format of the README's "Seed file" section) when the server starts. A seed is
    /// ignored when a [`MockServerBuilder::state_file`] has state to restore: the state
    /// continues where the seed began. The document is read and checked here.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Json`] when the document is not valid JSON or has an unknown field (with
    /// the line and column), [`crate::Error::Invalid`] when a value cannot be used, such as an
    /// id named twice (with the field's path).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder()
    ///     .seed_json(r#"{
    ///         "apivideo": {"projects": [{"apiKey": "team-a",
    ///             "uploadTokens": [{"token": "to1234567890abcdefghijkl", "ttl": 3600}],
    ///             "videos": [{"title": "Launch", "tags": ["demo"]}]}]},
    ///         "kaltura": {"partners": [{"id": 202, "adminSecret": "s3cret",
    ///             "uploadTokens": [{"fileName": "talk.mp4", "fileSize": 1048576}],
    ///             "entries": [{"name": "Keynote"}]}]}
    ///     }"#)
    ///     .unwrap()
    ///     .start()
    ///     .await;
    /// let team = server.apivideo().project("team-a").unwrap();
    /// assert!(team.token("to1234567890abcdefghijkl").is_some());
    /// assert_eq!(team.videos()[0].title, "Launch");
    /// assert_eq!(server.kaltura().for_partner(202).unwrap().entries()[0].name, "Keynote");
    /// # }
    /// ```
    pub fn seed_json(mut self, json: &str) -> Result<Self, crate::Error> {
        self.seed_data = Some(crate::control::persist::parse_seed(
            json,
            crate::Document::Seed,
        )?);
        Ok(self)
    }

    /// Like [`MockServerBuilder::seed_json`], reading the document from `path` (used exactly as
    /// given).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Read`] when the file cannot be read; otherwise as
    /// [`MockServerBuilder::seed_json`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let path = std::env::temp_dir().join(format!("vidmock-doc-seed-{}.json", std::process::id()));
    /// std::fs::write(&path, r#"{"apivideo": {"projects": [{"apiKey": "k"}]}}"#).unwrap();
    /// let server = vidmock::MockServer::builder().seed_file(&path).unwrap().start().await;
    /// assert!(server.apivideo().api_keys().contains(&"k".to_string()));
    /// # std::fs::remove_file(&path).unwrap();
    /// # }
    /// ```
    pub fn seed_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, crate::Error> {
        self.seed_data = Some(crate::control::persist::read_seed(path.as_ref())?);
        Ok(self)
    }

    /// Keeps the state in `path` (used exactly as given): restored at start when the file
    /// exists, and saved atomically (a temporary file in the same directory, fsync, rename)
    /// before any request that changed it is answered, every 200 ms for changes made through
    /// the Rust API, and at shutdown. A process killed at any moment leaves a file that loads.
    /// With [`crate::Retention::Memory`], completed uploads' bytes are kept in `PATH.d/<sha256>`.
    /// The file is read and checked here.
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read ([`crate::Error::Read`]) or is not a vidmock
    /// state file ([`crate::Error::Json`], [`crate::Error::Invalid`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let path = std::env::temp_dir().join(format!("vidmock-doc-state-{}.json", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let first = vidmock::MockServer::builder().state_file(&path).unwrap().start().await;
    /// let token = first.apivideo().create_token(None);
    /// first.shutdown().await;
    ///
    /// let second = vidmock::MockServer::builder().state_file(&path).unwrap().start().await;
    /// assert_eq!(second.apivideo().token(&token.token), Some(token));
    /// # std::fs::remove_file(&path).unwrap();
    /// # }
    /// ```
    pub fn state_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, crate::Error> {
        let path = path.as_ref().to_path_buf();
        let loaded = crate::control::persist::load(&path)?;
        self.state_file = Some((path, loaded));
        Ok(self)
    }

    /// Binds and starts serving on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When the server cannot start (use [`MockServerBuilder::try_start`] to get the
    /// [`crate::Error`]) or when called outside a tokio runtime.
    pub async fn start(self) -> MockServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(error) => panic!("vidmock could not start: {error}"),
        }
    }

    /// Like [`MockServerBuilder::start`], returning why it could not start instead of panicking.
    ///
    /// # Errors
    ///
    /// [`crate::Error::EmptyAdminToken`] for an empty admin token, [`crate::Error::AllowedHost`]
    /// for an allowed host that is not one, [`crate::Error::Bind`] when the address cannot be
    /// bound, [`crate::Error::Tls`] when the certificate or key cannot be used,
    /// [`crate::Error::Save`] when a state file cannot be written.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let address = taken.local_addr().unwrap();
    /// let error = vidmock::MockServer::builder().bind(address).try_start().await.unwrap_err();
    /// assert!(matches!(error, vidmock::Error::Bind { address: Some(a), .. } if a == address));
    /// assert!(error.to_string().starts_with(&format!("cannot listen on {address}: ")));
    /// # }
    /// ```
    pub async fn try_start(mut self) -> Result<MockServer, crate::Error> {
        if self.admin_token.as_deref() == Some("") {
            return Err(crate::Error::EmptyAdminToken);
        }
        if let Err(host) = AllowedHosts::new(self.allowed_hosts.iter().map(String::as_str)) {
            return Err(crate::Error::AllowedHost { host });
        }
        let handed_over = |source| crate::Error::Bind {
            address: None,
            source,
        };
        let listener = match self.listener.take() {
            Some(listener) => {
                listener.set_nonblocking(true).map_err(handed_over)?;
                TcpListener::from_std(listener).map_err(handed_over)?
            }
            None => TcpListener::bind(self.addr)
                .await
                .map_err(|source| crate::Error::Bind {
                    address: Some(self.addr),
                    source,
                })?,
        };
        let address = listener.local_addr().map_err(handed_over)?;
        #[cfg(feature = "tls")]
        let (tls, certificate) = match self.tls.take() {
            Some(Ok((chain, key))) => (Some(tls_acceptor(&chain, &key)?), Some(chain)),
            Some(Err(message)) => return Err(crate::Error::Tls { message }),
            None => (None, None),
        };
        #[cfg(not(feature = "tls"))]
        let tls: Option<crate::server::conn::Tls> = None;
        #[cfg(feature = "tls")]
        {
            self.connector = crate::engine::deliveries::Connector::trusting(&self.delivery_roots)
                .map_err(|message| crate::Error::Tls { message })?;
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = http::Uri::try_from(format!("{scheme}://{address}"))
            .map_err(|e| handed_over(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let timeouts = self.timeouts;
        let shared = self.into_shared(format!("{scheme}://{address}"), base);
        let listener = Arc::new(listener);
        let shutdown = CancellationToken::new();
        if let Some(persister) = &shared.persister {
            // The first save makes the file exist (with the seed, if any) before any request.
            persister
                .save(&shared)
                .await
                .map_err(|source| crate::Error::Save {
                    path: persister.path().to_path_buf(),
                    source,
                })?;
            tokio::spawn(crate::control::persist::background(
                shared.clone(),
                persister.clone(),
                SAVE_INTERVAL,
                shutdown.clone(),
            ));
        }
        tokio::spawn(shared.cx.deliveries.clone().run());
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(conn::accept_loop(
            listener.clone(),
            shared.clone(),
            shutdown.clone(),
            tracker.clone(),
            tls,
            timeouts,
        ));
        Ok(MockServer {
            #[cfg(feature = "tls")]
            certificate,
            shared,
            address,
            listener: Some(listener),
            shutdown,
            tracker,
            accept: Some(accept),
        })
    }

    /// The state of a server answering at `base_url` (`base`, parsed), restored from the state
    /// file or seeded: everything but the socket, so that the pipeline can be driven without
    /// one.
    pub(crate) fn into_shared(mut self, base_url: String, base: http::Uri) -> Arc<Shared> {
        let clock = self.clock.take().unwrap_or_default();
        let shared = Arc::new(Shared {
            cx: Arc::new(Context {
                deliveries: crate::engine::deliveries::Deliveries::new(
                    clock.clone(),
                    self.seed,
                    crate::engine::deliveries::DEFAULT_CAPACITY,
                    std::mem::take(&mut self.connector),
                ),
                clock,
                ids: Ids::new(self.seed),
                base_url,
                spill: (self.retention == crate::Retention::Spill)
                    .then(crate::upload::SpillDir::new),
            }),
            journal: Journal::new(
                base,
                self.journal_capacity,
                self.journal_body_limit,
                self.journal_digests,
            ),
            faults: Arc::new(crate::engine::faults::Faults::new(self.seed)),
            expectations: Arc::new(crate::engine::expect::Expectations::new(self.strict)),
            cors: self.cors,
            admin_token: self.admin_token,
            // `try_start` has refused a list that does not parse; an unparsed one allows no
            // name, failing closed.
            allowed_hosts: AllowedHosts::new(self.allowed_hosts.iter().map(String::as_str))
                .unwrap_or_default(),
            vendors: Vendors::new(self.configs, self.retention),
            persister: self
                .state_file
                .as_ref()
                .map(|(path, _)| Arc::new(crate::control::persist::Persister::new(path.clone()))),
        });
        let restored = match self.state_file {
            Some((path, Some(loaded))) => {
                restore(&shared, &path, loaded);
                shared.vendors.resume(&shared.cx);
                true
            }
            _ => false,
        };
        if let (Some(seed), false) = (&self.seed_data, restored) {
            seed.apply(&shared.vendors, &shared.cx);
        }
        shared
    }

    /// A server's state at the default address with a fixed seed, for unit tests that drive
    /// the pipeline without a socket.
    #[cfg(test)]
    pub(crate) fn shared_for_tests() -> Arc<Shared> {
        let base = "http://127.0.0.1:8484";
        crate::MockServer::builder()
            .seed(7)
            .into_shared(base.to_owned(), http::Uri::from_static(base))
    }
}

/// How often changes made through the Rust API (not over HTTP) are saved to the state file.
const SAVE_INTERVAL: Duration = Duration::from_millis(200);

/// Applies a state file read by the builder.
fn restore(shared: &Arc<Shared>, path: &std::path::Path, loaded: crate::control::persist::Loaded) {
    let clock = &shared.cx.clock;
    let offset = clock.offset();
    if loaded.clock_offset > offset {
        clock.advance(loaded.clock_offset - offset);
    }
    let dir = crate::control::persist::blob_dir(path);
    let blob = |sha256: &str, size: u64| crate::control::persist::read_blob(&dir, sha256, size);
    loaded.vendors.apply(&shared.vendors, &blob, clock.now());
}
