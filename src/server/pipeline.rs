//! The request pipeline: how one request to one server becomes its response.
//!
//! [`app`] is the whole pipeline as one service, built from a server's shared state: what each
//! connection serves, and what the tests below drive without a socket. A request goes through
//! these functions in the order they are written, each one calling the next: `serve` (the
//! `Host` allow-list, then CORS on the vendors' routes) → `persisted` (the state file is saved
//! before the answer leaves) →
//! `routed` (the admin API, or on to the vendors) → `record` (the journal) → `rules` (faults and
//! expectations) → `dispatch` (the vendor that owns the path). Reading down the file is reading
//! down the call chain. The CORS layer `serve` wraps around `persisted` comes last.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::Shared;
use crate::engine::body::{Body, IntoResponse, Request, Response};
use crate::engine::connection::ConnInfo;
use crate::engine::journal::{self, BodyTap, Handled};

/// The pipeline of the server `shared`, as one service (like axum's `app()`): each connection
/// calls it for every request; tests call it with `tower::ServiceExt::oneshot`.
pub(crate) fn app(shared: Arc<Shared>) -> App {
    App { shared }
}

/// See [`app`].
#[derive(Clone)]
pub(crate) struct App {
    shared: Arc<Shared>,
}

impl tower_service::Service<Request> for App {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The CORS service is shared by every server of the process; this says whose request
        // it is.
        request.extensions_mut().insert(self.shared.clone());
        let shared = self.shared.clone();
        Box::pin(async move { Ok(serve(shared, request).await) })
    }
}

/// Answers one request of the server `shared`: the `Host` check, CORS, then (with a state file)
/// saving after the answer, then the admin API or the vendors. Plain function calls rather than a stack of
/// middleware, which would clone and box each layer's inner service for every request; only
/// CORS is a tower layer, built once per process and shared by every server (its inner service
/// finds the server in the request's extensions, which the connection fills).
async fn serve(shared: Arc<Shared>, request: Request) -> Response {
    // Against DNS rebinding, before anything else: a request that names the server by a name
    // nobody allowed is not answered, on any route.
    if let Some(refusal) = shared.allowed_hosts.refusal(&request) {
        return refusal;
    }
    // A vendor that answers preflights and sets its CORS headers itself (as Kaltura does) is
    // left to do so; the admin API and the dashboard get none, so that no page of another
    // origin can read them.
    let path = request.uri().path();
    let vendor_owned = shared
        .vendors
        .owner(path)
        .is_some_and(|vendor| vendor.answers_cors());
    if !shared.cors || vendor_owned || crate::control::admin::owns(path) {
        return persisted(shared, request).await;
    }
    let mut cors = cors_service().clone();
    // Always ready (`Persisted` is), but the `Service` contract says to ask.
    let ready = std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut cors, cx)).await;
    let answer = match ready {
        Ok(()) => tower_service::Service::call(&mut cors, request).await,
        Err(never) => match never {},
    };
    match answer {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// With a state file, a request is answered only once its changes are saved: a client that
/// saw a token or a completed upload acknowledged never loses it, whenever the process dies.
/// A request that changed nothing costs a look at the vendors' change marks.
async fn persisted(shared: Arc<Shared>, request: Request) -> Response {
    let Some(persister) = shared.persister.clone() else {
        return routed(shared, request).await;
    };
    let response = routed(shared.clone(), request).await;
    if let Err(error) = persister.save(&shared).await {
        tracing::warn!(%error, "cannot save the state");
        return (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("vidmock: cannot save the state file: {error}"),
        )
            .into_response();
    }
    response
}

/// The admin API under `/__vidmock`, or the vendors (through the journal and the faults).
async fn routed(shared: Arc<Shared>, request: Request) -> Response {
    if crate::control::admin::owns(request.uri().path()) {
        return crate::control::admin::answer(&shared, request).await;
    }
    record(shared, request).await
}

/// Journal middleware: records the request on arrival, taps its body as the handler reads it,
/// and completes the entry with the status, operation and timing when the response is ready.
async fn record(shared: Arc<Shared>, request: Request) -> Response {
    if !shared.journal.is_enabled() {
        return rules(shared, request, None).await;
    }
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    // Over HTTP/2 the URI is in absolute form (`https://host:port/path?query`).
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let entry = journal::Entry::arrived(
        shared.cx.clock.now(),
        parts.extensions.get::<ConnInfo>().map(|info| info.peer),
        parts.method.clone(),
        path_and_query,
        &parts.headers,
    );
    // The request line for the terminal, built only when someone listens (the binary does).
    let logged = tracing::enabled!(target: "vidmock::request", tracing::Level::INFO)
        .then(|| (parts.method.clone(), parts.uri.path().to_owned()));
    let Some(seq) = shared.journal.begin(entry) else {
        return rules(shared, Request::from_parts(parts, body), None).await;
    };
    // A body known to be empty (most GETs) has nothing to watch: the entry already says so.
    let (body, tap) = if hyper::body::Body::is_end_stream(&body) {
        (body, None)
    } else {
        let tap = Arc::new(Mutex::new(BodyTap::new(
            shared.journal.body_limit(),
            shared.journal.digests(),
            hyper::body::Body::size_hint(&body).lower(),
        )));
        let feeding = tap.clone();
        let body = Body::from_stream(body.into_data_stream().then(move |chunk| {
            let backlog = match &chunk {
                Ok(bytes) => feeding
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .feed(bytes),
                Err(_) => None,
            };
            async move {
                // The handler gets the chunk once the hashing has room for it: a body is never
                // read much faster than it is hashed.
                if let Some(backlog) = backlog {
                    backlog.wait().await;
                }
                chunk
            }
        }));
        (body, Some(tap))
    };
    let mut response = rules(shared.clone(), Request::from_parts(parts, body), Some(seq)).await;
    let summary = tap.map(|tap| tap.lock().unwrap_or_else(|e| e.into_inner()).summary());
    // The entry is complete, digest included, before the client has the answer.
    let read = match summary {
        Some(summary) => Some(summary.settle().await),
        None => None,
    };
    // Only the journal reads it: taken, not copied.
    let handled = response.extensions_mut().remove::<Handled>();
    let error = response.extensions_mut().remove::<journal::ErrorCode>();
    let status = response.status().as_u16();
    if let Some((method, path)) = logged {
        // Method, path (never the query: it may hold a KS), status, vendor error, operation,
        // time; as a dev server prints them.
        let error = error
            .as_ref()
            .map_or(String::new(), |e| format!(" · {}", e.0));
        let operation = handled
            .as_ref()
            .and_then(|h| h.operation.as_deref())
            .unwrap_or("-");
        tracing::info!(
            target: "vidmock::request",
            "{method} {path} {status}{error} {operation} {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    shared.journal.complete(seq, |entry| {
        if let Some((prefix, size, sha256)) = read {
            entry.set_body(prefix, size, sha256);
        }
        entry.set_answer_headers(response.headers());
        entry.set_answer(status, handled, error, started.elapsed());
    });
    // The start of the answer's body is noted as it is sent, before the client has it.
    if !hyper::body::Body::is_end_stream(response.body()) {
        let (parts, body) = response.into_parts();
        let tap = AnswerTap {
            inner: body,
            kept: Vec::new(),
            journal: Some((shared, seq)),
        };
        response = Response::from_parts(parts, Body::new(tap));
    }
    response
}

/// An answer's body that notes its first [`journal::ANSWER_PREVIEW`] bytes in the journal
/// entry `seq` as they go by.
struct AnswerTap {
    inner: Body,
    /// What has been sent so far, up to the preview's size.
    kept: Vec<u8>,
    /// Where the preview goes; taken once it is written.
    journal: Option<(Arc<Shared>, u64)>,
}

impl AnswerTap {
    fn note(&mut self) {
        if let Some((shared, seq)) = self.journal.take() {
            let kept = std::mem::take(&mut self.kept);
            shared
                .journal
                .complete(seq, |entry| entry.set_answer_body(&kept));
        }
    }
}

impl hyper::body::Body for AnswerTap {
    type Data = bytes::Bytes;
    type Error = crate::engine::body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if this.journal.is_some() {
            match &polled {
                std::task::Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let room = journal::ANSWER_PREVIEW - this.kept.len();
                        this.kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    if this.kept.len() >= journal::ANSWER_PREVIEW
                        || hyper::body::Body::is_end_stream(&this.inner)
                    {
                        this.note();
                    }
                }
                std::task::Poll::Ready(_) => this.note(),
                std::task::Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::Body::size_hint(&self.inner)
    }
}

impl Drop for AnswerTap {
    fn drop(&mut self) {
        // An answer cut short keeps what was sent of it.
        self.note();
    }
}

/// Fault middleware: applies the first mounted fault that matches the request.
async fn rules(shared: Arc<Shared>, request: Request, seq: Option<u64>) -> Response {
    if shared.faults.is_empty() && shared.expectations.is_idle() {
        return dispatch(shared, request).await;
    }
    let (request, seen) = crate::engine::faults::matchable(
        request,
        shared.journal.base(),
        shared.journal.body_limit(),
    )
    .await;
    if let Some(seq) = seq {
        shared.expectations.observe(seq, &seen);
    }
    let inner = shared.clone();
    let response = crate::engine::faults::apply(
        &shared.faults,
        &shared.journal,
        request,
        &seen,
        seq,
        move |request| Box::pin(dispatch(inner, request)),
    )
    .await;
    if let (Some(seq), Some(_)) = (
        seq,
        response
            .extensions()
            .get::<crate::engine::journal::Unrecognized>(),
    ) {
        shared.expectations.unrecognized(seq);
    }
    response
}

/// Sends a request to the vendor that owns its path.
async fn dispatch(shared: Arc<Shared>, mut request: Request) -> Response {
    match shared.vendors.owner(request.uri().path()) {
        Some(vendor) => {
            let failing = request
                .extensions_mut()
                .remove::<crate::engine::faults::FailNextProcessing>();
            if let Some(failing) = failing {
                if !vendor.fail_next_processing(&shared.cx, &failing.0) {
                    tracing::debug!("a failProcessing fault found no processing to fail");
                }
            }
            vendor.clone().handle(shared.cx.clone(), request).await
        }
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// [`persisted`] as a service, for CORS to wrap.
#[derive(Clone, Copy)]
struct Persisted;

impl tower_service::Service<Request> for Persisted {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Box::pin(async move {
            let shared = request.extensions().get::<Arc<Shared>>().cloned();
            Ok(match shared {
                Some(shared) => persisted(shared, request).await,
                None => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            })
        })
    }
}

/// [`persisted`] behind CORS as browser uploaders need it, built once for every server.
fn cors_service() -> &'static tower_http::cors::Cors<Persisted> {
    static CORS: std::sync::OnceLock<tower_http::cors::Cors<Persisted>> =
        std::sync::OnceLock::new();
    CORS.get_or_init(|| tower_layer::Layer::layer(&build_cors(), Persisted))
}

/// CORS as browser uploaders need it: any origin, the methods the APIs use, whatever headers the
/// browser asks to send, and the response headers api.video's module says page code may read.
fn build_cors() -> tower_http::cors::CorsLayer {
    use http::{HeaderName, Method};
    use tower_http::cors::{AllowHeaders, Any, CorsLayer};
    let exposed = crate::registry::cors_exposed_headers();
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(
            exposed
                .iter()
                .map(|name| HeaderName::from_static(name))
                .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(86400))
}

#[cfg(test)]
mod tests {
    //! The pipeline driven as a service, with no socket: what each step adds, seen from the
    //! response and the server's state. Paths and credentials are the defaults; the vendors'
    //! own behaviour is tested over a real socket in `tests/`.

    use std::sync::Arc;

    use http::{header, Method, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::{app, Shared};
    use crate::engine::body::{Body, Request};

    fn shared() -> Arc<Shared> {
        crate::server::MockServerBuilder::shared_for_tests()
    }

    fn request(method: Method, uri: &str, body: &'static str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(uri)
            // The default project's key, `vidmock-api-key:`.
            .header(header::AUTHORIZATION, "Basic dmlkbW9jay1hcGkta2V5Og==")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, "http://localhost:5173")
            .body(Body::from(body))
            .expect("a valid request")
    }

    async fn text(response: crate::engine::body::Response) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body that reads")
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_vendor_request_is_answered_recorded_and_given_cors_headers() {
        // Arrange
        let shared = shared();

        // Act
        let response = app(shared.clone())
            .oneshot(request(Method::POST, "/upload-tokens", r#"{"ttl": 60}"#))
            .await
            .expect("the pipeline never fails");

        // Assert
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let recorded = shared.journal.snapshot();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].operation.as_deref(), Some("createToken"));
        assert_eq!(recorded[0].status, Some(200));
        assert!(text(response).await.contains(r#""ttl":60"#));
    }

    #[tokio::test]
    async fn a_mounted_fault_answers_before_the_vendor_and_is_named_in_the_journal() {
        // Arrange
        let shared = shared();
        crate::FaultBuilder::new(
            &shared.faults,
            crate::Fault::status(503).body("down").into(),
        )
        .when(crate::engine::matchers::path("/upload-tokens"))
        .named("outage")
        .mount();

        // Act
        let response = app(shared.clone())
            .oneshot(request(Method::POST, "/upload-tokens", "{}"))
            .await
            .expect("the pipeline never fails");

        // Assert
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(text(response).await, "down");
        let recorded = shared.journal.snapshot();
        assert_eq!(recorded[0].fault.as_deref(), Some("outage"));
        assert_eq!(recorded[0].status, Some(503));
    }

    #[tokio::test]
    async fn the_admin_api_is_answered_without_being_recorded() {
        // Arrange
        let shared = shared();
        let mut own = request(Method::GET, "/__vidmock/requests", "");
        own.headers_mut().remove(header::ORIGIN);

        // Act
        let response = app(shared.clone())
            .oneshot(own)
            .await
            .expect("the pipeline never fails");

        // Assert
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(text(response).await, "[]");
        assert!(shared.journal.snapshot().is_empty());
    }

    #[tokio::test]
    async fn an_admin_request_from_another_origin_is_refused_without_cors_headers() {
        // Arrange
        let shared = shared();
        crate::FaultBuilder::new(&shared.faults, crate::Fault::close()).mount();

        // Act
        let response = app(shared.clone())
            .oneshot(request(Method::DELETE, "/__vidmock/faults", ""))
            .await
            .expect("the pipeline never fails");

        // Assert
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert!(text(response).await.contains("its own origin only"));
        assert_eq!(shared.faults.list().len(), 1, "the faults are untouched");
    }

    #[tokio::test]
    async fn a_vendor_request_naming_an_unknown_host_is_refused_before_the_journal() {
        // Arrange
        let shared = shared();
        let mut rebound = request(Method::POST, "/upload-tokens", "{}");
        rebound.headers_mut().insert(
            header::HOST,
            http::HeaderValue::from_static("attacker.example:8484"),
        );

        // Act
        let response = app(shared.clone())
            .oneshot(rebound)
            .await
            .expect("the pipeline never fails");

        // Assert
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(text(response)
            .await
            .contains("--allowed-host attacker.example"));
        assert!(shared.journal.snapshot().is_empty());
    }

    #[tokio::test]
    async fn a_preflight_to_a_vendor_that_answers_cors_itself_skips_the_cors_layer() {
        // Arrange
        let shared = shared();
        let preflight = |path: &str| {
            http::Request::builder()
                .method(Method::OPTIONS)
                .uri(path)
                .header(header::ORIGIN, "http://localhost:5173")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(Body::empty())
                .expect("a valid request")
        };

        // Act
        let layered = app(shared.clone())
            .oneshot(preflight("/upload-tokens"))
            .await
            .expect("the pipeline never fails");
        let own = app(shared.clone())
            .oneshot(preflight("/api_v3/service/system/action/ping"))
            .await
            .expect("the pipeline never fails");

        // Assert
        let methods = |response: &crate::engine::body::Response| {
            response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .map(str::to_owned)
                .unwrap_or_default()
        };
        assert!(
            methods(&layered).contains("PATCH"),
            "the CORS layer answers, with every method the APIs use: {:?}",
            layered.headers()
        );
        assert_eq!(
            methods(&own),
            "POST, GET, HEAD, OPTIONS",
            "the vendor answers, with its own list"
        );
    }
}
