//! Discarded videos (`/discarded/videos`), as a project without the vendor's paid "Video
//! Restore" feature sees them.
//!
//! The OpenAPI document serves these operations, and says that only with Video Restore
//! enabled does `DELETE /videos/{videoId}` discard a video instead of deleting it; by default
//! deleted videos "cannot be recovered". vidmock's projects are such default projects: nothing
//! is ever discarded, so the list is empty and every discarded video is unknown.

use http::StatusCode;
use serde_json::{json, Value};

use super::paging::ListQuery;
use super::{wire, Problem};
use crate::engine::body::Response;

/// `GET /discarded/videos`: the list's parameters are checked as `GET /videos` checks them.
pub(crate) fn list(query: Option<&str>, base: &str) -> Result<Response, Problem> {
    let query = ListQuery::parse(
        query,
        &["title", "createdAt", "publishedAt", "updatedAt"],
        &[],
    )?;
    let (data, pagination) = query.page(Vec::<Value>::new(), &format!("{base}/discarded/videos"));
    Ok(wire::json(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}

/// `GET /discarded/videos/{videoId}`.
pub(crate) fn get() -> Result<Response, Problem> {
    Err(Problem::resource_not_found("videoId"))
}

/// `PATCH /discarded/videos/{videoId}` `{"discarded": false}`: the payload is checked first.
pub(crate) fn update(body: Result<Option<Value>, Problem>) -> Result<Response, Problem> {
    match body? {
        Some(Value::Object(object)) => match object.get("discarded") {
            None | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(Problem::invalid_attribute(
                    "discarded",
                    "Value must be false.",
                ))
            }
        },
        None => {}
        Some(_) => return Err(Problem::invalid_payload()),
    }
    Err(Problem::resource_not_found("videoId"))
}
