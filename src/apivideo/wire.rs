//! api.video's transport conventions: exact media types, ATOM dates, bounded JSON bodies.

use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use time::OffsetDateTime;

use super::Problem;
use crate::engine::body::{Body, IntoResponse, Response};

/// JSON payloads (not uploads) above this size are refused as an invalid payload.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON success. The Content-Type is exactly `application/json`: the official Node client
/// refuses `application/json; charset=utf-8` (../shared/specs/apivideo.md §1.2).
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    // Most answers are under 1 KiB: one allocation instead of a series of regrowths.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes.clear();
    }
    let mut response = (status, bytes).into_response();
    // Room for the content type, the rate-limit and the CORS headers, grown into once.
    response.headers_mut().reserve(8);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 204 with neither body nor Content-Type.
pub(crate) fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
}

/// "ATOM UTC": `YYYY-MM-DDTHH:MM:SS+00:00`, no fraction, never `Z` (§1.5).
pub(crate) fn atom(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return format!(
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
    }
    // Every answer carrying a token or a video formats dates: digits by hand, no formatter.
    let mut out = String::with_capacity(25);
    push_digits(&mut out, year as u32, 4);
    for (separator, value) in [
        ('-', u8::from(at.month())),
        ('-', at.day()),
        ('T', at.hour()),
        (':', at.minute()),
        (':', at.second()),
    ] {
        out.push(separator);
        push_digits(&mut out, u32::from(value), 2);
    }
    out.push_str("+00:00");
    out
}

/// `value` in decimal, zero-padded to `width` digits (`value` < 10^`width`).
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
}

/// Reads a JSON body whatever its Content-Type (the browser uploader sends JSON as text/plain).
/// `Ok(None)` for an empty or blank body.
pub(crate) async fn read_json(body: Body) -> Result<Option<serde_json::Value>, Problem> {
    let limited = http_body_util::Limited::new(body, JSON_BODY_LIMIT);
    let bytes = limited
        .collect()
        .await
        .map_err(|_| Problem::invalid_payload())?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| Problem::invalid_payload())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_atom_with_a_numeric_utc_offset_and_no_fraction() {
        let at = time::macros::datetime!(2020-12-02 10:13:19.5 UTC);
        assert_eq!(atom(at), "2020-12-02T10:13:19+00:00");
    }

    #[test]
    fn dates_are_zero_padded_and_converted_to_utc() {
        let at = time::macros::datetime!(0987-01-05 03:04:05 +02:00);
        assert_eq!(atom(at), "0987-01-05T01:04:05+00:00");
        let at = time::macros::datetime!(2024-02-29 23:59:59 -01:00);
        assert_eq!(atom(at), "2024-03-01T00:59:59+00:00");
    }
}
