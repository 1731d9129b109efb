//! `MockServer`: one emulated vendor world on one localhost port.
//!
//! A server owns its state (tenants, clock, journal, id generator) and the task that accepts its
//! connections. It is cheap to start, so every test gets its own; dropping it closes the
//! listening socket synchronously, so a dropped server refuses connections the moment `drop`
//! returns, and no async work runs inside `Drop` (wiremock-rs livelocks when many servers drop at
//! once because its `Drop` blocks on async locks).
//!
//! Each job has its own file, so each can be read without the others: this one holds the
//! running server (`MockServer`) and the state its connections share (`Shared`); `builder`
//! configures and starts a server (binding, TLS, restoring a state file or loading a seed);
//! `pipeline` answers one request, its steps written in the order a request takes them (`app`
//! is the whole pipeline as one service); `conn` accepts connections and serves each one,
//! carrying out what faults do to sockets; `shed` closes the connections that stall; `tls` (with the `tls` feature) makes the HTTPS
//! acceptor.

mod builder;
pub(crate) mod conn;
mod pipeline;
mod shed;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
pub use tls::LocalCa;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::clock::Clock;
use crate::engine::journal::RecordedRequest;

pub(crate) use crate::control::Shared;
pub use builder::MockServerBuilder;
pub(crate) use pipeline::app;

/// An emulated api.video and Kaltura on a localhost port.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let token = reqwest::Client::new()
///     .post(format!("{}/upload-tokens", server.uri()))
///     .basic_auth(server.apivideo().api_key(), Some(""))
///     .json(&serde_json::json!({ "ttl": 60 }))
///     .send()
///     .await
///     .unwrap();
/// assert_eq!(token.status(), 200);
/// assert_eq!(server.apivideo().tokens().len(), 1);
/// # }
/// ```
pub struct MockServer {
    shared: Arc<Shared>,
    /// The PEM certificate chain served, with HTTPS.
    #[cfg(feature = "tls")]
    certificate: Option<String>,
    address: SocketAddr,
    /// `Some` until shutdown; shared with the accept task so `Drop` can close it synchronously.
    listener: Option<Arc<TcpListener>>,
    shutdown: CancellationToken,
    /// Every connection task of this server.
    tracker: TaskTracker,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Starts a server with both vendors and default credentials on `127.0.0.1`, any free port.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.uri().starts_with("http://127.0.0.1:"));
    /// # }
    /// ```
    pub async fn start() -> MockServer {
        Self::builder().start().await
    }

    /// A builder for a server with other credentials, a seed, limits…
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().seed(7).start().await;
    /// # }
    /// ```
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, the base URL to give a client.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.uri(), format!("http://{}", server.address()));
    /// # }
    /// ```
    pub fn uri(&self) -> String {
        self.shared.cx.base_url.clone()
    }

    /// The PEM certificate chain this server presents, when it serves HTTPS.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.tls_certificate_pem().is_none());
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_certificate_pem(&self) -> Option<&str> {
        self.certificate.as_deref()
    }

    /// The socket address the server listens on.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_ne!(server.address().port(), 0);
    /// # }
    /// ```
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's clock: advance it to expire tokens without sleeping.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let token = server.apivideo().create_token(Some(std::time::Duration::from_secs(60)));
    /// server.clock().advance(std::time::Duration::from_secs(61));
    /// assert!(server.apivideo().token(&token.token).is_none());
    /// # }
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.cx.clock
    }

    /// The events this server sends to the URLs its users register (webhooks): each recorded
    /// with every attempt, faults on them, replay, and expectations.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.clock().advance(std::time::Duration::from_secs(60));
    /// server.deliveries().settled().await;
    /// assert!(server.deliveries().all().is_empty());
    /// # }
    /// ```
    pub fn deliveries(&self) -> &crate::Deliveries {
        &self.shared.cx.deliveries
    }

    /// The state behind this server, for the vendors' own views of it.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Every request recorded so far, oldest first (bounded by the journal's capacity).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.received_requests().is_empty());
    /// # }
    /// ```
    pub fn received_requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal.snapshot()
    }

    /// The recorded requests that `matcher` matches: any [`crate::Match`], the
    /// [`crate::matchers`] and the vendors' matchers (`apivideo::op`, `kaltura::action`…) included.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::matchers::method;
    /// let server = vidmock::MockServer::start().await;
    /// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// assert_eq!(server.received(method("GET")).len(), 1);
    /// assert_eq!(server.received(vidmock::apivideo::op("createToken")).len(), 0);
    /// # }
    /// ```
    pub fn received(&self, matcher: impl crate::Match) -> Vec<RecordedRequest> {
        self.shared
            .journal
            .snapshot()
            .into_iter()
            .filter(|recorded| matcher.matches(&recorded.request()))
            .collect()
    }

    /// Starts scripting a fault; mount it with [`crate::FaultBuilder::mount`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::{apivideo, Fault};
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(Fault::apivideo_not_found("uploadToken")).when(apivideo::op("getToken")).times(1).mount();
    /// # }
    /// ```
    pub fn fault(&self, fault: impl Into<crate::Fault>) -> crate::FaultBuilder<'_> {
        crate::FaultBuilder::new(&self.shared.faults, fault.into())
    }

    /// Removes a mounted fault; `false` if there was none with that id.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(!server.remove_fault(42));
    /// # }
    /// ```
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.faults.remove(id)
    }

    /// The mounted faults as the admin API lists them (id, name, action, schedule, counts).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::close()).named("cut").mount();
    /// assert_eq!(server.faults()[0].name, "cut");
    /// # }
    /// ```
    pub fn faults(&self) -> Vec<crate::engine::faults::MountedFault> {
        self.shared
            .faults
            .list()
            .iter()
            .map(|rule| rule.listed())
            .collect()
    }

    /// Expects requests matching `matcher`: at least one unless [`crate::ExpectationBuilder::times`]
    /// says otherwise. Checked by [`MockServer::verify`] and when the server drops.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.expect(vidmock::apivideo::op("listTokens")).times(1).named("one listing");
    /// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// server.verify();
    /// # }
    /// ```
    pub fn expect(&self, matcher: impl crate::Match + 'static) -> crate::ExpectationBuilder {
        crate::ExpectationBuilder::register(&self.shared.expectations, Box::new(matcher))
    }

    /// Panics, with every unmet expectation and strict-mode violation described in vendor
    /// terms, unless all is well.
    ///
    /// # Example
    ///
    /// ```should_panic
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.expect(vidmock::apivideo::op("createToken")).named("a token");
    /// server.verify(); // panics: no token was created
    /// # }
    /// ```
    pub fn verify(&self) {
        let vendors = &self.shared.vendors;
        let mut failures = self
            .shared
            .expectations
            .failures(&self.shared.journal, &|r| vendors.chunk_of(r));
        failures.extend(self.shared.cx.deliveries.failures());
        if !failures.is_empty() {
            panic!("vidmock: {}", failures.join("\nvidmock: "));
        }
    }

    /// Forgets every recorded request.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// server.clear_requests();
    /// assert!(server.received_requests().is_empty());
    /// # }
    /// ```
    pub fn clear_requests(&self) {
        self.shared.journal.clear();
    }

    /// Turns request recording on or off (on by default).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.set_recording(false);
    /// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// assert!(server.received_requests().is_empty());
    /// # }
    /// ```
    pub fn set_recording(&self, on: bool) {
        self.shared.journal.set_enabled(on);
    }

    /// Clears vendor state and the journal, keeping credentials (API keys): the same as
    /// `POST /__vidmock/reset`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.apivideo().create_token(None);
    /// server.reset();
    /// assert!(server.apivideo().tokens().is_empty());
    /// # }
    /// ```
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, lets in-flight requests finish for a short grace period, then closes
    /// every connection and waits until all of them are gone.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let address = server.address();
    /// server.shutdown().await;
    /// assert!(tokio::net::TcpStream::connect(address).await.is_err());
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        self.stop_accepting();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
        if let Some(persister) = &self.shared.persister {
            // A clean stop leaves one snapshot and an empty log.
            if let Err(error) = persister.snapshot(&self.shared).await {
                tracing::warn!(%error, "cannot save the state at shutdown");
            }
        }
    }

    /// Synchronous part of every shutdown: no new connection can be made once this returns.
    fn stop_accepting(&mut self) {
        self.shutdown.cancel();
        self.shared.cx.deliveries.shutdown();
        if let Some(listener) = self.listener.take() {
            // Shutting a listening socket down makes the kernel refuse new connections at once
            // (the accept task still holds the descriptor until it notices the cancellation).
            let _ = socket2::SockRef::from(&*listener).shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop_accepting();
        self.tracker.close();
        if let Some(persister) = &self.shared.persister {
            persister.save_blocking(&self.shared);
        }
        // Checked synchronously (no async lock, no runtime needed); never a second panic
        // while a test is already unwinding.
        if !std::thread::panicking() {
            self.verify();
        }
    }
}
