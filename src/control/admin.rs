//! The control plane under `/__vidmock`: what a test suite in any language uses to drive the
//! same server a Rust test drives through the library. Each route calls the same methods the
//! Rust API exposes. The prefix is one no vendor uses, so it never shadows a vendor path.
//!
//! It answers its owner only. The vendors' routes carry CORS headers for browser uploaders;
//! these do not, so a page from another origin cannot read the journal (which holds
//! Authorization headers and KSs) or the state. And since a page can still *send* a request
//! it cannot read the answer of (a form, or a fetch of plain text, needs no preflight), a
//! request that a browser marks as coming from another origin is refused before anything
//! happens, whatever its method and content type. Programs that are not browsers (curl, a test
//! suite, the official clients) send neither `Origin` nor `Sec-Fetch-Site` and are unaffected.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest;

use crate::control::Shared;
use crate::engine::body::{Body, IntoResponse, Request, Response};
use crate::engine::journal::RecordedRequest;

/// Whether `path` is the admin API's: `/__vidmock` and everything under `/__vidmock/`.
pub(crate) fn owns(path: &str) -> bool {
    tail(path).is_some()
}

/// The part of an admin path after `/__vidmock` (`""` for the bare prefix).
fn tail(path: &str) -> Option<&str> {
    let tail = path.strip_prefix("/__vidmock")?;
    (tail.is_empty() || tail.starts_with('/')).then_some(tail)
}

/// What answers an admin request.
enum Handler {
    Dashboard,
    Health,
    Reset,
    Clock,
    Advance,
    Requests,
    ClearRequests,
    State,
    AddFault,
    ListFaults,
    ClearFaults,
    /// The path segment after `/faults/`, as sent (percent-encoded).
    RemoveFault(String),
    /// A vendor's own action: the vendor's name and the path after it.
    VendorAction(String, String),
    /// One journal entry in full, by its `seq`.
    Request(String),
    Operations,
    Vendors,
    /// An uploaded file's bytes, by the id the state shows it under.
    Upload(String),
    Deliveries,
    ClearDeliveries,
    /// The path segment after `/deliveries/`, as sent.
    Delivery(String),
    /// The path segment between `/deliveries/` and `/replay`, as sent.
    Replay(String),
    AddDeliveryFault,
    ListDeliveryFaults,
    ClearDeliveryFaults,
    /// The path segment after `/deliveries/faults/`, as sent.
    RemoveDeliveryFault(String),
}

/// Why no handler answers a request.
enum NoRoute {
    /// No admin route has this path.
    NotFound,
    /// The path is a route's, not the method: the methods it takes, for `Allow`.
    Method(&'static str),
}

/// The handler for `method` on the admin path `tail`. A route that takes `GET` takes `HEAD`
/// too, answered like `GET` without the body.
fn route(method: &Method, tail: &str) -> Result<Handler, NoRoute> {
    use Handler::*;
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let (handler, allow) = match tail {
        "" | "/" => (get.then_some(Dashboard), "GET,HEAD"),
        "/health" => (get.then_some(Health), "GET,HEAD"),
        "/reset" => (post.then_some(Reset), "POST"),
        "/clock" => (get.then_some(Clock), "GET,HEAD"),
        "/clock/advance" => (post.then_some(Advance), "POST"),
        "/requests" => (
            get.then_some(Requests).or(delete.then_some(ClearRequests)),
            "GET,HEAD,DELETE",
        ),
        "/state" => (get.then_some(State), "GET,HEAD"),
        "/operations" => (get.then_some(Operations), "GET,HEAD"),
        "/vendors" => (get.then_some(Vendors), "GET,HEAD"),
        "/faults" => (
            post.then_some(AddFault)
                .or(get.then_some(ListFaults))
                .or(delete.then_some(ClearFaults)),
            "POST,GET,HEAD,DELETE",
        ),
        "/deliveries" => (
            get.then_some(Deliveries)
                .or(delete.then_some(ClearDeliveries)),
            "GET,HEAD,DELETE",
        ),
        "/deliveries/faults" => (
            post.then_some(AddDeliveryFault)
                .or(get.then_some(ListDeliveryFaults))
                .or(delete.then_some(ClearDeliveryFaults)),
            "POST,GET,HEAD,DELETE",
        ),
        _ => {
            let one = |prefix: &str| {
                tail.strip_prefix(prefix)
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                    .map(str::to_owned)
            };
            let replay = tail
                .strip_prefix("/deliveries/")
                .and_then(|rest| rest.strip_suffix("/replay"))
                .filter(|id| !id.is_empty() && !id.contains('/'));
            if let Some(id) = one("/faults/") {
                (delete.then_some(RemoveFault(id)), "DELETE")
            } else if let Some(seq) = one("/requests/") {
                (get.then_some(Request(seq)), "GET,HEAD")
            } else if let Some(id) = one("/uploads/") {
                (get.then_some(Upload(id)), "GET,HEAD")
            } else if let Some(id) = one("/deliveries/faults/") {
                (delete.then_some(RemoveDeliveryFault(id)), "DELETE")
            } else if let Some(id) = replay {
                (post.then(|| Replay(id.to_owned())), "POST")
            } else if let Some(id) = one("/deliveries/") {
                (get.then_some(Delivery(id)), "GET,HEAD")
            } else if let Some(rest) = tail.strip_prefix("/vendors/") {
                match rest.split_once('/') {
                    Some((vendor, path)) if !vendor.is_empty() && !path.is_empty() => (
                        post.then(|| VendorAction(vendor.to_owned(), path.to_owned())),
                        "POST",
                    ),
                    _ => return Err(NoRoute::NotFound),
                }
            } else {
                return Err(NoRoute::NotFound);
            }
        }
    };
    handler.ok_or(NoRoute::Method(allow))
}

/// Answers a request to the admin API: where it comes from first, then the token, then the
/// route. As HTTP wants, `HEAD`
/// gets `GET`'s headers and Content-Length without a body, and a method a route does not take
/// gets 405 with the methods it does in `Allow` (a 401 for it too).
pub(crate) async fn answer(shared: &Shared, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    let routed = match tail(request.uri().path()) {
        Some(tail) => route(request.method(), tail),
        None => Err(NoRoute::NotFound),
    };
    let allow = match routed {
        Err(NoRoute::Method(allow)) => Some(allow),
        _ => None,
    };
    let mut response = match (
        from_elsewhere(&request),
        has_token(shared, &request),
        routed,
    ) {
        (Some(why), _, _) => error(StatusCode::FORBIDDEN, why),
        (None, false, _) => error(StatusCode::UNAUTHORIZED, "this admin API needs its token"),
        (None, true, Ok(handler)) => handle(shared, handler, request).await,
        (None, true, Err(NoRoute::NotFound)) => error(StatusCode::NOT_FOUND, "no such admin route"),
        (None, true, Err(NoRoute::Method(_))) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let size = hyper::body::Body::size_hint(response.body()).exact();
    let headers = response.headers_mut();
    if let (Some(allow), false) = (allow, headers.contains_key(header::ALLOW)) {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let (Some(size), false) = (size, headers.contains_key(header::CONTENT_LENGTH)) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

async fn handle(shared: &Shared, handler: Handler, request: Request) -> Response {
    match handler {
        Handler::Dashboard => dashboard(),
        Handler::Health => health().into_response(),
        Handler::Reset => reset(shared).into_response(),
        Handler::Clock => clock_body(shared).into_response(),
        Handler::Advance => match read_body(request).await {
            Ok(body) => advance(shared, &body),
            Err(refused) => refused,
        },
        Handler::Requests => requests(shared).into_response(),
        Handler::ClearRequests => clear_requests(shared).into_response(),
        Handler::State => state(shared).await.into_response(),
        Handler::AddFault => match read_body(request).await {
            Ok(body) => add_fault(shared, &body),
            Err(refused) => refused,
        },
        Handler::ListFaults => list_faults(shared).into_response(),
        Handler::ClearFaults => clear_faults(shared).into_response(),
        Handler::RemoveFault(id) => remove_fault(&shared.faults, &id),
        Handler::Deliveries => Json(shared.cx.deliveries.all()).into_response(),
        Handler::ClearDeliveries => {
            shared.cx.deliveries.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        Handler::Delivery(id) => match delivery_id(&id).and_then(|id| shared.cx.deliveries.get(id))
        {
            Some(delivery) => Json(delivery).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("no delivery {id}")),
        },
        Handler::Replay(id) => {
            match delivery_id(&id).and_then(|id| shared.cx.deliveries.replay(id)) {
                Some(new) => (StatusCode::CREATED, Json(json!({ "id": new }))).into_response(),
                None => error(StatusCode::NOT_FOUND, format!("no delivery {id}")),
            }
        }
        Handler::AddDeliveryFault => match read_body(request).await {
            Ok(body) => add_delivery_fault(shared, &body),
            Err(refused) => refused,
        },
        Handler::ListDeliveryFaults => Json(listed(shared.cx.deliveries.faults())).into_response(),
        Handler::ClearDeliveryFaults => {
            shared.cx.deliveries.faults().clear();
            StatusCode::NO_CONTENT.into_response()
        }
        Handler::RemoveDeliveryFault(id) => remove_fault(shared.cx.deliveries.faults(), &id),
        Handler::VendorAction(vendor, path) => match read_body(request).await {
            Ok(body) => vendor_action(shared, &vendor, &path, &body),
            Err(refused) => refused,
        },
        Handler::Request(seq) => request_detail(shared, &seq),
        Handler::Operations => Json(shared.vendors.operations()).into_response(),
        Handler::Vendors => Json(shared.vendors.described()).into_response(),
        Handler::Upload(id) => upload(shared, &id).await,
    }
}

/// `POST /__vidmock/vendors/{vendor}/{path}`: the vendor's own action, with a JSON body or
/// none.
fn vendor_action(shared: &Shared, vendor: &str, path: &str, body: &[u8]) -> Response {
    let Some(contract) = shared.vendors.named(vendor) else {
        return error(StatusCode::NOT_FOUND, format!("no vendor named {vendor:?}"));
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not JSON: {e}"),
                )
            }
        }
    };
    match contract.admin_action(&shared.cx, path, &body) {
        Some((status, answer)) => (status, Json(answer)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("{vendor} has no admin action at {path:?}"),
        ),
    }
}

/// The admin API's JSON bodies are small: more than this is refused (413).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The whole body of `request`, or the answer when it is too large or cannot be read.
async fn read_body(request: Request) -> Result<Bytes, Response> {
    match http_body_util::Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            Err((status, format!("Failed to buffer the request body: {e}")).into_response())
        }
    }
}

/// Why a browser sent `request` from a page of another origin, or `None`.
///
/// `Origin`, when present, must be the server's own (the `Host` the request was sent to), on
/// every method: browsers send it on every cross-origin fetch and on any `POST`. `Sec-Fetch-Site`,
/// which browsers send on every request, must be `same-origin` or `none` (typed in the address
/// bar), except for following a link to a page (a `GET` navigation), which shows the dashboard
/// but lets no other page read it. `same-site` counts as elsewhere: a page on another port of
/// localhost is another origin.
fn from_elsewhere(request: &Request) -> Option<String> {
    let headers = request.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = text(header::HOST)
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
        let given = origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<http::Uri>().ok())
            .and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()));
        let same =
            matches!((&own, &given), (Some(own), Some(given)) if own.eq_ignore_ascii_case(given));
        if !same {
            return Some(format!(
                "vidmock: the admin API answers pages of its own origin only, not {:?}; call it                  from a program (curl, a test) or from the dashboard at /__vidmock/",
                String::from_utf8_lossy(origin.as_bytes())
            ));
        }
    }
    let site = text(http::HeaderName::from_static("sec-fetch-site"));
    let navigating = text(http::HeaderName::from_static("sec-fetch-mode")) == Some("navigate")
        && (request.method() == Method::GET || request.method() == Method::HEAD);
    match site {
        Some("same-origin" | "none") | None => None,
        Some(_) if navigating => None,
        Some(site) => Some(format!(
            "vidmock: the admin API answers pages of its own origin only (this request is              {site}); call it from a program (curl, a test) or from the dashboard at /__vidmock/"
        )),
    }
}

/// With an admin token configured, admin routes answer 401 without it. The comparison takes
/// the same time whatever the given token shares with the right one: both are hashed, and
/// the digests compared in constant time.
fn has_token(shared: &Shared, request: &Request) -> bool {
    let Some(expected) = shared.admin_token.as_deref() else {
        return true;
    };
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
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
    let expected = sha2::Sha256::digest(expected.as_bytes());
    given.iter().flatten().fold(false, |found, token| {
        let digest = sha2::Sha256::digest(token.as_bytes());
        found | bool::from(subtle::ConstantTimeEq::ct_eq(&digest[..], &expected[..]))
    })
}

/// A JSON response body.
struct Json<T>(T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => {
                let mut response = Response::new(Body::from(body));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The dashboard: one page of HTML, CSS and JS that polls `/__vidmock/state`, `/requests`,
/// `/faults` and `/clock`. It loads nothing from elsewhere, and its content security policy
/// says so to the browser. Served at `/__vidmock` and `/__vidmock/`.
const DASHBOARD: &str = include_str!("dashboard.html");

fn dashboard() -> Response {
    let mut response = Response::new(Body::from(DASHBOARD));
    let headers = response.headers_mut();
    for (name, value) in [
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
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

fn reset(shared: &Shared) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

fn clock_body(shared: &Shared) -> Json<Value> {
    let now = shared.cx.clock.now();
    Json(json!({
        "now": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "offsetSeconds": shared.cx.clock.offset().as_secs(),
    }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

fn advance(shared: &Shared, body: &[u8]) -> Response {
    let Ok(Advance { seconds }) = serde_json::from_slice::<Advance>(body) else {
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
    shared.cx.clock.advance(by);
    clock_body(shared).into_response()
}

fn requests(shared: &Shared) -> Json<Vec<RecordedRequest>> {
    Json(shared.journal.snapshot())
}

/// One journal entry with what the list leaves out: the body kept (base64), and the answer's
/// headers and the start of its body (base64).
fn request_detail(shared: &Shared, seq: &str) -> Response {
    use base64::Engine;
    let Some(recorded) = seq
        .parse::<u64>()
        .ok()
        .and_then(|seq| shared.journal.get(seq))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "the journal holds no request with this number",
        );
    };
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let headers = |map: &http::HeaderMap| {
        let mut out = serde_json::Map::new();
        for name in map.keys() {
            let values: Vec<Value> = map
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
                .collect();
            out.insert(name.as_str().to_owned(), values.into());
        }
        Value::Object(out)
    };
    let mut json = serde_json::to_value(&recorded).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut json {
        fields.insert("url".into(), recorded.url.to_string().into());
        fields.insert("body".into(), base64(&recorded.body).into());
        fields.insert("bodyKept".into(), recorded.body.len().into());
        fields.insert(
            "answer".into(),
            json!({
                "status": recorded.status,
                "headers": headers(&recorded.answer_headers),
                "body": base64(&recorded.answer_body),
                "bodyKept": recorded.answer_body.len(),
            }),
        );
    }
    Json(json).into_response()
}

/// An uploaded file's bytes, as an attachment named after the upload.
async fn upload(shared: &Shared, id: &str) -> Response {
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    let Some((name, file)) = shared.vendors.upload(&id) else {
        return error(StatusCode::NOT_FOUND, "no upload has this id");
    };
    let Some(reader) = file.reader() else {
        return error(
            StatusCode::CONFLICT,
            "this server keeps only the upload's digest, not its bytes",
        );
    };
    // Streamed a block at a time from the blocking pool (spilled files are read from disk), as
    // the vendors serve their files: a large upload never sits whole in memory.
    let mut response = crate::upload::ranged::ranged(
        reader,
        None,
        false,
        HeaderValue::from_static("application/octet-stream"),
    );
    // A name a browser can save: nothing that could break out of the header or a directory.
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let name = match name.trim_matches(['.', ' ']) {
        "" => "upload".to_owned(),
        name => name.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn clear_requests(shared: &Shared) -> StatusCode {
    shared.journal.clear();
    StatusCode::NO_CONTENT
}

async fn state(shared: &Shared) -> Json<Value> {
    // Kept uploads are hashed after their last chunk: finish that on the blocking pool rather
    // than on the thread that serves every request.
    let digests = crate::control::persist::digests(shared);
    if !digests.iter().all(crate::upload::Digest256::is_known) {
        let hashing = move || digests.iter().for_each(crate::upload::Digest256::compute);
        // Only a runtime shutting down fails it; the views below then hash what is left.
        let _ = tokio::task::spawn_blocking(hashing).await;
    }
    let body = shared.vendors.state_json(shared.cx.clock.now());
    Json(Value::Object(body))
}

/// The JSON form of a fault rule (README, "Admin API").
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultSpec {
    name: Option<String>,
    #[serde(rename = "match", default)]
    matching: MatchSpec,
    action: crate::Action,
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
    /// Every request a vendor answers (`apivideo`, `kaltura`).
    vendor: Option<String>,
    /// An api.video upload token or a Kaltura upload token id.
    upload_token: Option<String>,
    /// An api.video progressive upload's part number (`Content-Range: part n/…`).
    part: Option<u64>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    query: std::collections::BTreeMap<String, String>,
}

/// A delivery's id as the path gives it.
fn delivery_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

fn listed(faults: &crate::engine::faults::Faults) -> Vec<crate::MountedFault> {
    faults.list().iter().map(|r| r.listed()).collect()
}

fn add_fault(shared: &Shared, body: &[u8]) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    if crate::Fault::delivery_only(&spec.action) {
        return error(
            StatusCode::BAD_REQUEST,
            "this action applies to outbound deliveries: POST it to /__vidmock/deliveries/faults",
        );
    }
    mount(shared, &shared.faults, spec, described(body))
}

/// What a fault matches, as posted, for the listing (it parsed already, so it parses again).
fn described(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|mut fault| fault.get_mut("match").map(Value::take))
        .unwrap_or_else(|| json!({}))
}

/// `POST /deliveries/faults`: the same JSON, with the actions a delivery takes and the
/// matchers that read a delivery (method, path, headers, query).
fn add_delivery_fault(shared: &Shared, body: &[u8]) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    if !crate::Fault::applies_to_deliveries(&spec.action) {
        return error(
            StatusCode::BAD_REQUEST,
            "a delivery fault's action.type is one of drop, delay, duplicate, reorder, badSignature",
        );
    }
    let m = &spec.matching;
    if m.operation.is_some() || m.vendor.is_some() || m.upload_token.is_some() || m.part.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "a delivery fault matches on method, path, pathRegex, headers and query only",
        );
    }
    mount(shared, shared.cx.deliveries.faults(), spec, described(body))
}

fn mount(
    shared: &Shared,
    faults: &std::sync::Arc<crate::engine::faults::Faults>,
    spec: FaultSpec,
    posted: Value,
) -> Response {
    if let crate::Action::Status { status, .. } = spec.action {
        if !(100..=999).contains(&status) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("status {status} is not an HTTP status"),
            );
        }
    }
    let fault = crate::Fault::from(spec.action);
    let mut builder = crate::FaultBuilder::new(faults, fault).described(posted);
    let m = spec.matching;
    if let Some(method) = m.method {
        builder = builder.when(crate::engine::matchers::method(
            method.to_ascii_uppercase().as_str(),
        ));
    }
    if let Some(path) = m.path {
        builder = builder.when(crate::engine::matchers::path(path));
    }
    if let Some(pattern) = m.path_regex {
        #[cfg(feature = "regex")]
        {
            if let Err(e) = regex_check(&pattern) {
                return error(StatusCode::BAD_REQUEST, e);
            }
            builder = builder.when(crate::engine::matchers::path_regex(pattern));
        }
        #[cfg(not(feature = "regex"))]
        {
            let _ = pattern;
            return error(
                StatusCode::BAD_REQUEST,
                "pathRegex needs vidmock built with its `regex` feature (the binary has it)",
            );
        }
    }
    for (name, value) in m.headers {
        if http::HeaderName::try_from(name.as_str()).is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid header name {name:?}"),
            );
        }
        builder = builder.when(crate::engine::matchers::header(
            name.as_str(),
            value.as_str(),
        ));
    }
    for (name, value) in m.query {
        builder = builder.when(crate::engine::matchers::query_param(name, value));
    }
    if let Some(operation) = m.operation {
        match shared.vendors.operation(&operation) {
            Ok(matcher) => builder = builder.when(matcher),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    if let Some(vendor) = m.vendor {
        match shared.vendors.owned_by(&vendor) {
            Ok(matcher) => builder = builder.when(matcher),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    if let Some(token) = m.upload_token {
        builder = builder.when(AnyOf(shared.vendors.upload_token(&token)));
    }
    if let Some(n) = m.part {
        match shared.vendors.part(n) {
            Ok(matcher) => builder = builder.when(matcher),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
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
#[cfg(feature = "regex")]
fn regex_check(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid pathRegex: {e}"))
}

fn list_faults(shared: &Shared) -> Json<Vec<crate::MountedFault>> {
    Json(listed(&shared.faults))
}

fn clear_faults(shared: &Shared) -> StatusCode {
    shared.faults.clear();
    StatusCode::NO_CONTENT
}

/// `DELETE /faults/{id}`: `raw_id` is the path segment as sent, percent-encoded.
fn remove_fault(faults: &crate::engine::faults::Faults, raw_id: &str) -> Response {
    let Ok(id) = percent_encoding::percent_decode_str(raw_id).decode_utf8() else {
        return (
            StatusCode::BAD_REQUEST,
            "Invalid URL: Invalid UTF-8 in `id`",
        )
            .into_response();
    };
    match id.parse::<u64>() {
        Ok(id) if faults.remove(id) => StatusCode::NO_CONTENT.into_response(),
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
