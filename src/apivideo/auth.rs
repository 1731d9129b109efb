//! api.video authentication: API key → access/refresh tokens, and the check every protected
//! route runs (Basic with the API key as user name, or Bearer with a live access token).

use base64::Engine;
use http::{header, HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{wire, Backend, Grant, Problem};
use crate::engine::body::Response;
use crate::engine::ids::Ids;

/// The body of `/auth/api-key` and `/auth/refresh` answers, in the vendor's key order.
#[derive(Serialize)]
struct AccessTokenBody {
    token_type: &'static str,
    expires_in: u64,
    access_token: String,
    refresh_token: String,
}

/// `POST /auth/api-key` `{"apiKey": …}`.
pub(crate) fn authenticate(
    backend: &Backend,
    ids: &Ids,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let key = required_string(body, "apiKey")?;
    if !backend.lock().projects.contains_key(&key) {
        return Err(Problem::invalid_user_credentials());
    }
    Ok(issue(backend, ids, key, now))
}

/// `POST /auth/refresh` `{"refreshToken": …}`: a new pair; the old refresh token is spent. An
/// expired refresh token is refused like an unknown one.
pub(crate) fn refresh(
    backend: &Backend,
    ids: &Ids,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let refresh_token = required_string(body, "refreshToken")?;
    let spent = backend.lock().refresh.shift_remove(&refresh_token);
    match spent {
        Some(Grant { key, expires_at }) if now < expires_at => Ok(issue(backend, ids, key, now)),
        _ => Err(Problem::invalid_user_credentials()),
    }
}

/// Mints a grant for project `key` and answers with it.
fn issue(backend: &Backend, ids: &Ids, key: String, now: OffsetDateTime) -> Response {
    let (access_token, refresh_token) = backend.grant(ids, key, now);
    wire::json(
        StatusCode::OK,
        &AccessTokenBody {
            token_type: "Bearer",
            expires_in: backend.config.access_token_ttl.as_secs(),
            access_token,
            refresh_token,
        },
    )
}

fn required_string(body: Option<Value>, field: &str) -> Result<String, Problem> {
    let Some(body) = body else {
        return Err(Problem::invalid_payload());
    };
    let Value::Object(mut object) = body else {
        return Err(Problem::invalid_payload());
    };
    match object.remove(field) {
        None | Some(Value::Null) => Err(Problem::attribute_required(field)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(Problem::invalid_attribute(
            field,
            "This value should be of type string.",
        )),
    }
}

/// Which project a protected request acts for, from its `Authorization` header.
pub(crate) fn authorize(
    backend: &Backend,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<String, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Problem::missing_authorization_header());
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::invalid_authorization_header_value())?
        .trim();
    let (scheme, credentials) = value
        .split_once(' ')
        .ok_or_else(Problem::invalid_authorization_header_value)?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(Problem::invalid_authorization_header_value)?;
        // `curl -u KEY:`: the key is the user name and the password is empty (and ignored).
        let (key, _password) = decoded
            .split_once(':')
            .ok_or_else(Problem::invalid_authorization_header_value)?;
        if backend.lock().projects.contains_key(key) {
            Ok(key.to_owned())
        } else {
            Err(Problem::invalid_api_key())
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        match backend.lock().access.get(credentials) {
            Some(Grant { key, expires_at }) if now < *expires_at => Ok(key.clone()),
            _ => Err(Problem::invalid_access_token()),
        }
    } else {
        Err(Problem::invalid_authorization_header_value())
    }
}
