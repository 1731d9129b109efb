//! Entry points for the fuzz targets under `fuzz/` that reach api.video's parsers (feature
//! `fuzzing`; not a supported API). See `crate::fuzzing`.

use crate::engine::body::Body;
use crate::engine::fuzz::runtime;

/// api.video's `Content-Range` parser: `data` as the header value. A value that parses must
/// describe the same range once printed again.
///
/// # Example
///
/// ```
/// vidmock::apivideo::fuzzing::content_range(b"bytes 0-9/10");
/// ```
pub fn content_range(data: &[u8]) {
    use super::upload::ContentRange;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(range) = ContentRange::parse(text) else {
        return;
    };
    let total = |t: Option<u64>| t.map_or("*".to_owned(), |t| t.to_string());
    let printed = match range {
        ContentRange::Part { part, total: t } => format!("part {part}/{}", total(t)),
        ContentRange::Bytes { from, to, total: t } => format!("bytes {from}-{to}/{}", total(t)),
    };
    assert_eq!(ContentRange::parse(&printed), Some(range), "{printed}");
}

/// api.video's JSON payloads: `data` as the body of video create/update, upload-token create,
/// auth, and a list query string.
///
/// # Example
///
/// ```
/// vidmock::apivideo::fuzzing::json(br#"{"title":"t","tags":["a"],"metadata":[{"key":"k","value":"v"}]}"#);
/// ```
pub fn json(data: &[u8]) {
    use super::{paging, tokens, videos, wire};
    let body = runtime().block_on(wire::read_json(Body::from(bytes::Bytes::copy_from_slice(
        data,
    ))));
    if let Ok(body) = body {
        let _ = videos::Attributes::parse(body.clone(), true);
        let _ = videos::Attributes::parse(body.clone(), false);
        let _ = tokens::parse_ttl(body);
    }
    let query = String::from_utf8_lossy(data);
    let _ = paging::ListQuery::parse(Some(&query), &["createdAt", "title"], &["title", "tags"]);
}

/// A multipart upload body as api.video's reader takes it, kept in memory and spilled.
pub(crate) async fn multipart(body: bytes::Bytes, boundary: &str) {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) =
        http::HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
    {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    for spill in [None, Some(crate::upload::SpillDir::new())] {
        let received = super::upload::read_multipart(
            &headers,
            Body::from(body.clone()),
            1024 * 1024,
            spill.as_ref(),
        )
        .await;
        if let Ok(received) = received {
            let (_, piece) = received.file.expect("a file when Ok");
            assert!(piece.len() > 0, "an accepted file is never empty");
        }
    }
}
