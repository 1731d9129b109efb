//! The accept loop: vidmock owns every socket itself instead of handing the listener to
//! `axum::serve`.
//!
//! Owning the `TcpStream` is what lets a test ask for failures no HTTP framework can express
//! (reset a connection, close it without an answer, cut an upload after N bytes), and what lets
//! a dropped server end its connections at once instead of waiting for idle clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long in-flight requests may run on after a shutdown before their connections are cut.
const GRACE: Duration = Duration::from_millis(500);

/// Facts about the connection a request arrived on, available to handlers as an extension.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
}

/// Accepts connections until `shutdown` fires, serving each on its own task in `tracker`.
pub(crate) async fn accept_loop(
    listener: Arc<TcpListener>,
    app: Router,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
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
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(serve_connection(
            stream,
            ConnInfo { peer },
            app.clone(),
            shutdown.clone(),
        ));
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    info: ConnInfo,
    app: Router,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => {}
        _ = connection.as_mut() => return,
    }
    // Shutting down: idle connections close now, busy ones get a short grace period.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, connection).await;
}
