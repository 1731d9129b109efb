//! The control plane under `/__vidmock`: what a test suite in any language uses to drive the
//! same server a Rust test drives through the library. Each route calls the same methods the
//! Rust API exposes. The prefix is one no vendor uses, so it never shadows a vendor path.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::journal::RecordedRequest;
use crate::server::Shared;

pub(crate) fn router() -> Router {
    Router::new()
        // The dashboard. Nested at `/__vidmock`, `/` is the bare prefix only, not `/__vidmock/`.
        .route("/", get(dashboard))
        .route("/health", get(health))
        .route("/reset", post(reset))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/state", get(state))
        .route(
            "/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/faults/{id}", axum::routing::delete(remove_fault))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(require_token))
}

/// With an admin token configured, admin routes answer 401 without it.
async fn require_token(
    Extension(shared): Extension<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(expected) = shared.admin_token.as_deref() else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let header = headers
        .get("x-vidmock-admin-token")
        .and_then(|v| v.to_str().ok());
    let query = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let given = [bearer.map(str::to_owned), header.map(str::to_owned), query];
    if given.iter().flatten().any(|token| token == expected) {
        next.run(request).await
    } else {
        error(StatusCode::UNAUTHORIZED, "this admin API needs its token")
    }
}

/// A JSON response body (what axum's `json` feature would give, without its extractors).
struct Json<T>(T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such admin route")
}

/// The dashboard: one page of HTML, CSS and JS that polls `/__vidmock/state`, `/requests`,
/// `/faults` and `/clock`. It loads nothing from elsewhere, and its content security policy
/// says so to the browser.
const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard() -> Response {
    use axum::http::header;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page may be opened as `/__vidmock/?token=…`: never send that URL on.
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
        ],
        DASHBOARD,
    )
        .into_response()
}

/// The dashboard at `/__vidmock/`, behind the admin token like every admin route. A router
/// nested at `/__vidmock` maps its `/` to the bare prefix only and never sees `/__vidmock/`
/// (its fallback needs a non-empty tail), so the app mounts this route beside the nest.
pub(crate) fn dashboard_route() -> axum::routing::MethodRouter {
    get(dashboard).layer(axum::middleware::from_fn(require_token))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn reset(Extension(shared): Extension<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

fn clock_body(shared: &Shared) -> Json<Value> {
    let now = shared.clock.now();
    Json(json!({
        "now": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "offsetSeconds": shared.clock.offset().as_secs(),
    }))
}

async fn clock(Extension(shared): Extension<Arc<Shared>>) -> Json<Value> {
    clock_body(&shared)
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(Extension(shared): Extension<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let Ok(Advance { seconds }) = serde_json::from_slice::<Advance>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON body {\"seconds\": N} with N >= 0",
        );
    };
    let Ok(by) = Duration::try_from_secs_f64(seconds) else {
        return error(
            StatusCode::BAD_REQUEST,
            "seconds must be a finite number >= 0",
        );
    };
    shared.clock.advance(by);
    clock_body(&shared).into_response()
}

fn request_json(recorded: &RecordedRequest) -> Value {
    let headers: serde_json::Map<String, Value> = recorded
        .headers
        .keys()
        .map(|name| {
            let values: Vec<Value> = recorded
                .headers
                .get_all(name)
                .iter()
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            (name.as_str().to_owned(), Value::Array(values))
        })
        .collect();
    json!({
        "seq": recorded.seq,
        "receivedAt": recorded.received_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "method": recorded.method.as_str(),
        "path": recorded.url.path(),
        "query": recorded.url.query(),
        "headers": headers,
        "bodySize": recorded.body_size,
        "bodySha256": recorded.body_sha256,
        "vendor": recorded.vendor.map(|v| v.as_str()),
        "operation": recorded.operation,
        "target": recorded.target,
        "status": recorded.status,
        "fault": recorded.fault,
        "durationMs": recorded.duration.map(|d| d.as_secs_f64() * 1000.0),
    })
}

async fn requests(Extension(shared): Extension<Arc<Shared>>) -> Json<Value> {
    Json(Value::Array(
        shared.journal.snapshot().iter().map(request_json).collect(),
    ))
}

async fn clear_requests(Extension(shared): Extension<Arc<Shared>>) -> StatusCode {
    shared.journal.clear();
    StatusCode::NO_CONTENT
}

async fn state(Extension(shared): Extension<Arc<Shared>>) -> Json<Value> {
    // Kept uploads are hashed after their last chunk: finish that on the blocking pool rather
    // than on the thread that serves every request.
    let digests = crate::persist::digests(&shared);
    if !digests.iter().all(crate::storage::Digest256::is_known) {
        let hashing = move || digests.iter().for_each(crate::storage::Digest256::compute);
        // Only a runtime shutting down fails it; the views below then hash what is left.
        let _ = tokio::task::spawn_blocking(hashing).await;
    }
    #[allow(unused_mut)]
    let mut body = serde_json::Map::new();
    #[cfg(feature = "apivideo")]
    body.insert(
        "apivideo".into(),
        shared.apivideo.state_json(shared.clock.now()),
    );
    #[cfg(feature = "kaltura")]
    body.insert("kaltura".into(), shared.kaltura.state_json());
    let _ = &shared;
    Json(Value::Object(body))
}

/// The JSON form of a fault rule (README, "Admin API").
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultSpec {
    name: Option<String>,
    #[serde(rename = "match", default)]
    matching: MatchSpec,
    action: ActionSpec,
    times: Option<u64>,
    after: Option<u64>,
    on_nth: Option<u64>,
    probability: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MatchSpec {
    method: Option<String>,
    path: Option<String>,
    path_regex: Option<String>,
    /// An api.video operation (`createToken`) or a Kaltura one (`uploadtoken.upload`).
    operation: Option<String>,
    /// An api.video upload token or a Kaltura upload token id.
    upload_token: Option<String>,
    /// An api.video progressive upload's part number (`Content-Range: part n/…`).
    part: Option<u64>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    query: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum ActionSpec {
    #[serde(rename_all = "camelCase")]
    Status {
        status: u16,
        #[serde(default)]
        body: String,
        #[serde(default)]
        headers: std::collections::BTreeMap<String, String>,
    },
    #[serde(rename_all = "camelCase")]
    ApivideoProblem {
        status: u16,
        slug: String,
        title: String,
        name: Option<String>,
        detail: Option<String>,
        problems: Option<Vec<ProblemSpec>>,
    },
    #[serde(rename_all = "camelCase")]
    KalturaError {
        code: String,
        #[serde(default)]
        args: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    Delay {
        ms: u64,
    },
    #[serde(rename_all = "camelCase")]
    DelayUniform {
        min_ms: u64,
        max_ms: u64,
    },
    #[serde(rename_all = "camelCase")]
    DelayLognormal {
        median_ms: u64,
        sigma: f64,
        cap_ms: u64,
    },
    #[serde(rename_all = "camelCase")]
    Dribble {
        chunk_bytes: usize,
        every_ms: u64,
    },
    Hang,
    Reset,
    Close,
    #[serde(rename_all = "camelCase")]
    Garbage {
        body: String,
    },
    #[serde(rename_all = "camelCase")]
    Truncate {
        after_bytes: usize,
    },
    #[serde(rename_all = "camelCase")]
    ResetAfterRequestBytes {
        bytes: u64,
    },
    LoseResponse,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemSpec {
    slug: String,
    title: String,
    name: String,
}

fn fault_of(action: ActionSpec) -> Result<crate::Fault, String> {
    use crate::Fault;
    let ms = Duration::from_millis;
    Ok(match action {
        ActionSpec::Status {
            status,
            body,
            headers,
        } => {
            if !(100..=999).contains(&status) {
                return Err(format!("status {status} is not an HTTP status"));
            }
            headers
                .into_iter()
                .fold(Fault::status(status).body(body), |f, (k, v)| f.header(k, v))
        }
        #[cfg(feature = "apivideo")]
        ActionSpec::ApivideoProblem {
            status,
            slug,
            title,
            name,
            detail,
            problems,
        } => {
            let mut problem = crate::apivideo::Problem::new(status, &slug, title);
            if let Some(name) = name {
                problem = problem.name(name);
            }
            if let Some(detail) = detail {
                problem = problem.detail(detail);
            }
            if let Some(problems) = problems {
                problem = problem.problems(
                    problems
                        .into_iter()
                        .map(|p| crate::apivideo::ProblemItem::new(&p.slug, p.title, p.name)),
                );
            }
            Fault::apivideo(problem)
        }
        #[cfg(feature = "kaltura")]
        ActionSpec::KalturaError { code, args } => {
            let values: Vec<&str> = args.iter().map(String::as_str).collect();
            Fault::kaltura(crate::kaltura::ApiError::new(&code, &values))
        }
        #[allow(unreachable_patterns)]
        ActionSpec::ApivideoProblem { .. } | ActionSpec::KalturaError { .. } => {
            return Err("that vendor is not compiled into this build".into())
        }
        ActionSpec::Delay { ms: d } => Fault::delay(ms(d)),
        ActionSpec::DelayUniform { min_ms, max_ms } => Fault::delay_uniform(ms(min_ms), ms(max_ms)),
        ActionSpec::DelayLognormal {
            median_ms,
            sigma,
            cap_ms,
        } => Fault::delay_lognormal(ms(median_ms), sigma, ms(cap_ms)),
        ActionSpec::Dribble {
            chunk_bytes,
            every_ms,
        } => Fault::dribble(chunk_bytes, ms(every_ms)),
        ActionSpec::Hang => Fault::hang(),
        ActionSpec::Reset => Fault::reset(),
        ActionSpec::Close => Fault::close(),
        ActionSpec::Garbage { body } => Fault::garbage(body),
        ActionSpec::Truncate { after_bytes } => Fault::truncate_after(after_bytes),
        ActionSpec::ResetAfterRequestBytes { bytes } => Fault::reset_after_request_bytes(bytes),
        ActionSpec::LoseResponse => Fault::lose_response(),
    })
}

async fn add_fault(Extension(shared): Extension<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    let fault = match fault_of(spec.action) {
        Ok(fault) => fault,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let mut builder = crate::FaultBuilder::new(&shared.faults, fault);
    let m = spec.matching;
    if let Some(method) = m.method {
        builder = builder.when(crate::matchers::method(
            method.to_ascii_uppercase().as_str(),
        ));
    }
    if let Some(path) = m.path {
        builder = builder.when(crate::matchers::path(path));
    }
    if let Some(pattern) = m.path_regex {
        if let Err(e) = regex_check(&pattern) {
            return error(StatusCode::BAD_REQUEST, e);
        }
        builder = builder.when(crate::matchers::path_regex(pattern));
    }
    for (name, value) in m.headers {
        if axum::http::HeaderName::try_from(name.as_str()).is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid header name {name:?}"),
            );
        }
        builder = builder.when(crate::matchers::header(name.as_str(), value.as_str()));
    }
    for (name, value) in m.query {
        builder = builder.when(crate::matchers::query_param(name, value));
    }
    if let Some(operation) = m.operation {
        builder = match operation.split_once('.') {
            #[cfg(feature = "kaltura")]
            Some((service, action)) => builder.when(crate::kaltura::action(service, action)),
            #[cfg(feature = "apivideo")]
            None => builder.when(crate::apivideo::op(operation)),
            #[allow(unreachable_patterns)]
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "that vendor is not compiled into this build",
                )
            }
        };
    }
    if let Some(token) = m.upload_token {
        let any: Vec<Box<dyn crate::Match>> = vec![
            #[cfg(feature = "apivideo")]
            Box::new(crate::apivideo::upload_token(token.clone())),
            #[cfg(feature = "kaltura")]
            Box::new(crate::kaltura::upload_token(&token)),
        ];
        builder = builder.when(AnyOf(any));
    }
    #[cfg(feature = "apivideo")]
    if let Some(n) = m.part {
        builder = builder.when(crate::apivideo::part(n));
    }
    builder = builder.after(spec.after.unwrap_or(0));
    if let Some(times) = spec.times {
        builder = builder.times(times);
    }
    if let Some(k) = spec.on_nth {
        builder = builder.on_nth(k);
    }
    if let Some(p) = spec.probability {
        builder = builder.probability(p);
    }
    if let Some(name) = spec.name {
        builder = builder.named(name);
    }
    let id = builder.mount();
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

/// `path_regex` panics on an invalid pattern; refuse it first.
fn regex_check(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid pathRegex: {e}"))
}

async fn list_faults(Extension(shared): Extension<Arc<Shared>>) -> Json<Value> {
    Json(Value::Array(
        shared.faults.list().iter().map(|r| r.to_json()).collect(),
    ))
}

async fn clear_faults(Extension(shared): Extension<Arc<Shared>>) -> StatusCode {
    shared.faults.clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(
    Extension(shared): Extension<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match id.parse::<u64>() {
        Ok(id) if shared.faults.remove(id) => StatusCode::NO_CONTENT.into_response(),
        _ => error(StatusCode::NOT_FOUND, format!("no fault {id}")),
    }
}

/// Matches when any of its matchers does.
struct AnyOf(Vec<Box<dyn crate::Match>>);

impl crate::Match for AnyOf {
    fn matches(&self, request: &crate::Request) -> bool {
        self.0.iter().any(|m| m.matches(request))
    }
}
