//! Upload tokens: create, list, get, delete (../shared/specs/apivideo.md §3–§4).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{wire, Backend, Problem, UploadToken};
use crate::ids::Ids;

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
    let ttl = match body {
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
    };
    let token = backend.create_token(ids, key, ttl, now);
    Ok(wire::json(StatusCode::OK, &TokenBody::from(&token)))
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

/// How the list is sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    CreatedAt,
    Ttl,
}

/// The validated query of `GET /upload-tokens`.
#[derive(Debug, PartialEq, Eq)]
struct ListQuery {
    sort_by: Option<SortBy>,
    /// `true` for descending.
    descending: Option<bool>,
    current_page: u64,
    page_size: u64,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut parsed = ListQuery {
            sort_by: None,
            descending: None,
            current_page: 1,
            page_size: 25,
        };
        // Repeated parameters: the last one wins, as PHP reads query strings.
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "sortBy" => {
                    parsed.sort_by = Some(match value.as_ref() {
                        "createdAt" => SortBy::CreatedAt,
                        "ttl" => SortBy::Ttl,
                        _ => return Err(invalid_choice("sortBy")),
                    })
                }
                "sortOrder" => {
                    parsed.descending = Some(match value.as_ref() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(invalid_choice("sortOrder")),
                    })
                }
                "currentPage" => parsed.current_page = integer("currentPage", &value, 1, None)?,
                "pageSize" => parsed.page_size = integer("pageSize", &value, 1, Some(100))?,
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn invalid_choice(name: &str) -> Problem {
    Problem::invalid_query_parameter(name, "The value you selected is not a valid choice.")
}

fn integer(name: &str, value: &str, min: u64, max: Option<u64>) -> Result<u64, Problem> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let negative = digits.starts_with('-') && digits[1..].bytes().all(|b| b.is_ascii_digit());
    if negative && digits.len() > 1 {
        return Err(too_low(name, min));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid_query_parameter(
            name,
            "This value should be of type int.",
        ));
    }
    let Ok(n) = digits.parse::<u64>() else {
        // All digits but beyond u64: as far above any maximum as a value can be.
        return Err(match max {
            Some(max) => too_high(name, max),
            None => Problem::invalid_query_parameter(name, "This value should be of type int."),
        });
    };
    if n < min {
        return Err(too_low(name, min));
    }
    match max {
        Some(max) if n > max => Err(too_high(name, max)),
        _ => Ok(n),
    }
}

fn too_low(name: &str, min: u64) -> Problem {
    Problem::invalid_query_parameter(
        name,
        format!("This value should be greater than or equal to {min}."),
    )
}

fn too_high(name: &str, max: u64) -> Problem {
    Problem::invalid_query_parameter(
        name,
        format!("This value should be less than or equal to {max}."),
    )
}

#[derive(Serialize)]
struct ListBody {
    data: Vec<TokenBody>,
    pagination: Pagination,
}

/// api.video's pagination object (§3.2): links in the order self, first, previous, next, last.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pagination {
    current_page: u64,
    current_page_items: u64,
    page_size: u64,
    pages_total: u64,
    items_total: u64,
    links: Vec<Link>,
}

#[derive(Serialize)]
pub(crate) struct Link {
    rel: &'static str,
    uri: String,
}

impl Pagination {
    /// Pagination of `items_total` items for the page asked; `base` is the relative path and
    /// any query parameters to carry into the links (`/upload-tokens?sortBy=ttl&`).
    pub(crate) fn new(
        base: &str,
        current_page: u64,
        page_size: u64,
        items_total: u64,
        current_page_items: u64,
    ) -> Self {
        // An empty list still has one (empty) page, so `first` and `last` stay valid pages.
        let pages_total = items_total.div_ceil(page_size).max(1);
        let link = |rel, page| Link {
            rel,
            uri: format!("{base}currentPage={page}&pageSize={page_size}"),
        };
        let mut links = vec![link("self", current_page), link("first", 1)];
        if current_page > 1 {
            links.push(link("previous", current_page - 1));
        }
        if current_page < pages_total {
            links.push(link("next", current_page + 1));
        }
        links.push(link("last", pages_total));
        Self {
            current_page,
            current_page_items,
            page_size,
            pages_total,
            items_total,
            links,
        }
    }
}

/// `GET /upload-tokens`: active tokens, sorted and paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    query: Option<&str>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query)?;
    let mut tokens = backend.active_tokens(key, now);
    // Stable sorts: equal keys keep creation order.
    match query.sort_by.unwrap_or(SortBy::CreatedAt) {
        SortBy::CreatedAt => tokens.sort_by_key(|t| t.created_at),
        SortBy::Ttl => tokens.sort_by_key(|t| t.ttl),
    }
    if query.descending == Some(true) {
        tokens.reverse();
    }
    let items_total = tokens.len() as u64;
    let skip = (query.current_page - 1).saturating_mul(query.page_size);
    let data: Vec<TokenBody> = tokens
        .iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(query.page_size as usize)
        .map(TokenBody::from)
        .collect();
    let mut base = String::from("/upload-tokens?");
    if let Some(sort_by) = query.sort_by {
        base.push_str(match sort_by {
            SortBy::CreatedAt => "sortBy=createdAt&",
            SortBy::Ttl => "sortBy=ttl&",
        });
    }
    if let Some(descending) = query.descending {
        base.push_str(if descending {
            "sortOrder=desc&"
        } else {
            "sortOrder=asc&"
        });
    }
    let pagination = Pagination::new(
        &base,
        query.current_page,
        query.page_size,
        items_total,
        data.len() as u64,
    );
    Ok(wire::json(StatusCode::OK, &ListBody { data, pagination }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_accept_digits_only() {
        assert_eq!(integer("pageSize", "25", 1, Some(100)).ok(), Some(25));
        assert!(integer("pageSize", "0", 1, Some(100)).is_err());
        assert!(integer("pageSize", "101", 1, Some(100)).is_err());
        assert!(integer("pageSize", "-3", 1, Some(100)).is_err());
        assert!(integer("pageSize", "2.5", 1, Some(100)).is_err());
        assert!(integer("pageSize", "", 1, Some(100)).is_err());
        assert!(integer("currentPage", "99999999999999999999999", 1, None).is_err());
    }

    #[test]
    fn links_are_ordered_self_first_previous_next_last() {
        let p = Pagination::new("/upload-tokens?", 2, 1, 3, 1);
        let rels: Vec<_> = p.links.iter().map(|l| l.rel).collect();
        assert_eq!(rels, ["self", "first", "previous", "next", "last"]);
        assert_eq!(p.links[0].uri, "/upload-tokens?currentPage=2&pageSize=1");
        assert_eq!(p.pages_total, 3);
    }
}
