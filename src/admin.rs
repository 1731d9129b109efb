//! The control plane under `/__vidmock`: what a test suite in any language uses to drive the
//! same server a Rust test drives through the library. Each route calls the same methods the
//! Rust API exposes. The prefix is one no vendor uses, so it never shadows a vendor path.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::journal::RecordedRequest;
use crate::server::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/reset", post(reset))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/state", get(state))
        .fallback(not_found)
        .with_state(shared)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such admin route")
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
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

async fn clock(State(shared): State<Arc<Shared>>) -> Json<Value> {
    clock_body(&shared)
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
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

async fn requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(Value::Array(
        shared.journal.snapshot().iter().map(request_json).collect(),
    ))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.journal.clear();
    StatusCode::NO_CONTENT
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
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
