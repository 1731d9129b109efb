//! Upload tokens: create, list, get, delete (../shared/specs/apivideo.md §3–§4).

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::paging::{ListQuery, Pagination};
use super::{wire, Backend, Problem, UploadToken};
use crate::engine::body::Response;
use crate::engine::ids::Ids;

/// The largest ttl the vendor accepts (int32).
pub(crate) const MAX_TTL: i64 = 2_147_483_647;

/// The wire form of an upload token, in the vendor's key order.
#[derive(Serialize)]
struct TokenBody {
    token: String,
    ttl: u32,
    #[serde(rename = "createdAt")]
    created_at: String,
    /// `null` for ttl 0 (the token never expires).
    #[serde(rename = "expiresAt")]
    expires_at: Option<String>,
}

impl From<&UploadToken> for TokenBody {
    fn from(token: &UploadToken) -> Self {
        Self {
            token: token.token.clone(),
            ttl: token.ttl,
            created_at: wire::atom(token.created_at),
            expires_at: token.expires_at.map(wire::atom),
        }
    }
}

/// `POST /upload-tokens`: `{}`, an empty body, or `{"ttl": n}` with n an integer in
/// 0..=2147483647.
pub(crate) fn create(
    backend: &Backend,
    ids: &Ids,
    key: &str,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let ttl = parse_ttl(body)?;
    let token = backend.create_token(ids, key, ttl, now);
    Ok(wire::json(StatusCode::OK, &TokenBody::from(&token)))
}

/// The `ttl` of a create payload, validated as the vendor does.
pub(crate) fn parse_ttl(body: Option<Value>) -> Result<u32, Problem> {
    Ok(match body {
        None => 0,
        Some(Value::Object(mut object)) => match object.remove("ttl") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(ttl), _) if ttl < 0 => {
                    return Err(Problem::invalid_attribute(
                        "ttl",
                        "This value should be greater than or equal to 0.",
                    ))
                }
                (Some(ttl), _) if ttl <= MAX_TTL => ttl as u32,
                (Some(_), _) | (None, Some(_)) => {
                    return Err(Problem::invalid_attribute(
                        "ttl",
                        format!("This value should be less than or equal to {MAX_TTL}."),
                    ))
                }
                (None, None) => return Err(not_an_int()),
            },
            Some(_) => return Err(not_an_int()),
        },
        Some(_) => return Err(Problem::invalid_payload()),
    })
}

fn not_an_int() -> Problem {
    Problem::invalid_attribute("ttl", "This value should be of type int.")
}

/// `GET /upload-tokens/{token}`: active tokens only.
pub(crate) fn get(
    backend: &Backend,
    key: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let token = backend
        .active_token(key, token, now)
        .ok_or_else(|| Problem::resource_not_found("uploadToken"))?;
    Ok(wire::json(StatusCode::OK, &TokenBody::from(&token)))
}

/// `DELETE /upload-tokens/{token}`: 204, no body.
pub(crate) fn delete(
    backend: &Backend,
    key: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    if backend.delete_token(key, token, now) {
        Ok(wire::no_content())
    } else {
        Err(Problem::resource_not_found("uploadToken"))
    }
}

/// `GET /upload-tokens`: active tokens, sorted and paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    query: Option<&str>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &["createdAt", "ttl"], &[])?;
    let mut tokens = backend.active_tokens(key, now);
    // Stable sorts: equal keys keep creation order.
    match query.sort_by {
        Some("ttl") => tokens.sort_by_key(|t| t.ttl),
        _ => tokens.sort_by_key(|t| t.created_at),
    }
    if query.descending == Some(true) {
        tokens.reverse();
    }
    let (page, pagination) = query.page(tokens, "/upload-tokens");
    let data = page.iter().map(TokenBody::from).collect();
    Ok(wire::json(StatusCode::OK, &ListBody { data, pagination }))
}

#[derive(Serialize)]
struct ListBody {
    data: Vec<TokenBody>,
    pagination: Pagination,
}
