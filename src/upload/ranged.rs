//! A stored upload served back over HTTP, whole or by `Range`, a block at a time from the
//! blocking pool: both vendors serve uploaded files to players (api.video's `mp4` asset,
//! Kaltura's playManifest and download URLs), and a `<video>` element seeks with ranges. The
//! file is streamed, never gathered in memory, and a spilled file is read from disk off the
//! threads that serve requests.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use super::ContentReader;
use crate::engine::body::{Body, IntoResponse, Response};

/// How much of a file one read of a ranged answer takes.
const BLOCK: usize = 256 * 1024;

/// The range a `Range` header (`value`) asks of a file of `size` bytes: `Ok(None)` for the
/// whole file (no header, or one served whole: several ranges, another unit, a last byte before
/// the first), `Err` when it cannot be satisfied (RFC 9110 §14.2).
pub(crate) fn range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // `bytes=-n`: the last n bytes.
        (true, false) => {
            let n = number(last).ok_or(())?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, true) => (number(first).ok_or(())?, size.saturating_sub(1)),
        (false, false) => {
            let (start, end) = (number(first).ok_or(())?, number(last).ok_or(())?);
            if end < start {
                return Ok(None);
            }
            (start, end.min(size.saturating_sub(1)))
        }
        (true, true) => return Ok(None),
    };
    if start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The file `reader` reads, whole (200) or the range `range_header` asks (206 with
/// `Content-Range`), or 416 with `bytes */size`; `Accept-Ranges`, `Content-Length` and
/// `content_type` set. `head` answers the headers alone.
pub(crate) fn ranged(
    reader: ContentReader,
    range_header: Option<&str>,
    head: bool,
    content_type: HeaderValue,
) -> Response {
    let size = reader.len;
    let (status, start, end) = match range(range_header, size) {
        Ok(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Ok(None) => (StatusCode::OK, 0, size.saturating_sub(1)),
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let length = if size == 0 { 0 } else { end - start + 1 };
    let body = if head || length == 0 {
        Body::empty()
    } else {
        let stream = futures_util::stream::try_unfold(
            (reader, start, length),
            |(mut reader, at, left)| async move {
                if left == 0 {
                    return Ok(None);
                }
                let want = usize::try_from(left).unwrap_or(BLOCK).min(BLOCK);
                let read = tokio::task::spawn_blocking(move || {
                    let mut block = vec![0; want];
                    reader.seek(SeekFrom::Start(at))?;
                    reader.read_exact(&mut block)?;
                    Ok::<_, std::io::Error>((reader, block))
                })
                .await
                .map_err(std::io::Error::other)??;
                let (reader, block) = read;
                Ok::<_, std::io::Error>(Some((
                    Bytes::from(block),
                    (reader, at + want as u64, left - want as u64),
                )))
            },
        );
        Body::from_stream(stream)
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn ranges_are_read_as_rfc_9110_gives_them() {
        assert_eq!(range(None, 100), Ok(None));
        assert_eq!(range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(range(Some("bytes=x-1"), 100), Err(()));
        assert_eq!(range(Some("bytes=9-2"), 100), Ok(None));
        assert_eq!(range(Some("bytes=-0"), 100), Err(()));
        assert_eq!(range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(range(Some("bytes=0-1,4-5"), 10), Ok(None));
    }
}
