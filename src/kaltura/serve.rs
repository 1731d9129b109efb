//! The media URLs an entry hands out (`dataUrl`, `downloadUrl`, `thumbnailUrl`, and what
//! `flavorAsset.getUrl`/`getDownloadUrl` answer), served by vidmock itself so that a client can
//! fetch what it uploaded.
//!
//! Why here and not in the API: these are the server's other front doors (`extwidget`'s
//! `playManifest`, `download` and `thumbnail` actions), addressed by partner path
//! (`/p/{partnerId}/sp/{partnerId}00/…`) with parameters as path segments (`/entryId/0_x/…`).
//! vidmock answers them directly: the uploaded bytes (every flavor is the source's bytes, as
//! nothing is transcoded) with HTTP ranges, and a thumbnail drawn as a plain PNG.

use http::{header, HeaderValue, Method, StatusCode};

use super::lifecycle::flavor_status;
use super::store::{EntryStatus, StoredEntry};
use super::Served;
use crate::engine::body::{Body, Request, Response};

/// The largest thumbnail side drawn (a bigger request is drawn at this size).
const MAX_THUMBNAIL_SIDE: u32 = 1024;
/// Kaltura's default thumbnail size (`thumbnailAction`'s defaults).
const DEFAULT_THUMBNAIL: (u32, u32) = (120, 90);
/// Path segments read of a media URL; longer paths are refused.
const MAX_SEGMENTS: usize = 64;

/// The actions of the partner-path front door that vidmock serves.
const ACTIONS: &[&str] = &["playManifest", "download", "thumbnail", "raw"];

/// A media URL, read.
struct MediaPath<'p> {
    partner_id: i64,
    action: &'p str,
    /// The `key/value` pairs after the action; a trailing odd segment (`a.mp4`) is a file name.
    pairs: Vec<(&'p str, &'p str)>,
}

impl<'p> MediaPath<'p> {
    fn read(path: &'p str) -> Option<Self> {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        if segments.next()? != "p" {
            return None;
        }
        let partner_id = segments.next()?.parse().ok()?;
        let mut action = segments.next()?;
        if action == "sp" {
            segments.next()?;
            action = segments.next()?;
        }
        let action = ACTIONS.iter().find(|a| **a == action)?;
        let rest: Vec<&str> = segments.take(MAX_SEGMENTS + 1).collect();
        if rest.len() > MAX_SEGMENTS {
            return None;
        }
        let pairs = rest
            .chunks(2)
            .filter(|pair| pair.len() == 2)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        Some(Self {
            partner_id,
            action,
            pairs,
        })
    }

    fn get(&self, keys: &[&str]) -> Option<&'p str> {
        self.pairs
            .iter()
            .find(|(k, _)| keys.iter().any(|key| key.eq_ignore_ascii_case(k)))
            .map(|(_, v)| *v)
    }
}

/// Whether `path` is one of the media URLs served here.
pub(crate) fn owns(path: &str) -> bool {
    path.starts_with("/p/") && MediaPath::read(path).is_some()
}

/// Answers a media URL, and names it for the journal (`playManifest`, `thumbnail`, …).
pub(crate) fn answer(served: &Served, request: &Request) -> (Response, &'static str) {
    let path = request.uri().path();
    let Some(media) = MediaPath::read(path) else {
        return (text(StatusCode::NOT_FOUND, "not found"), "media");
    };
    let operation = ACTIONS
        .iter()
        .find(|a| **a == media.action)
        .copied()
        .unwrap_or("media");
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (response, operation);
    }
    let head = request.method() == Method::HEAD;
    let Some(entry_id) = media.get(&["entryId", "entry_id"]) else {
        return (
            text(StatusCode::NOT_FOUND, "entry id is missing"),
            operation,
        );
    };
    let response = if media.action == "thumbnail" {
        thumbnail(served, &media, entry_id)
    } else {
        file(served, &media, entry_id, request)
    };
    let mut response = response;
    if head {
        *response.body_mut() = Body::empty();
    }
    (response, operation)
}

fn text(status: StatusCode, message: &'static str) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The READY entry a media URL names, if its partner has it.
fn with_entry<T>(
    served: &Served,
    partner_id: i64,
    entry_id: &str,
    read: impl FnOnce(&StoredEntry, &super::store::Tenant) -> T,
) -> Option<T> {
    let tenants = served.backend.store.lock();
    let tenant = tenants.get(&partner_id)?;
    let entry = tenant
        .entries
        .get(entry_id)
        .filter(|e| e.status != EntryStatus::Deleted)?;
    Some(read(entry, tenant))
}

fn file(served: &Served, media: &MediaPath<'_>, entry_id: &str, request: &Request) -> Response {
    let flavor_id = media.get(&["flavorId", "flavor"]);
    let params_id = media
        .get(&["flavorParamIds", "flavorParamId", "flavorParamsId"])
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse::<i64>().ok());
    let found = with_entry(served, media.partner_id, entry_id, |entry, tenant| {
        if entry.status != EntryStatus::Ready {
            return Err("entry is not ready");
        }
        let flavor = entry.flavors.iter().find(|f| match (flavor_id, params_id) {
            (Some(id), _) => f.id == id,
            (None, Some(params)) => f.flavor_params_id == params,
            (None, None) => f.is_original,
        });
        let flavor_ok = flavor.is_some_and(|f| f.status == flavor_status::READY);
        if (flavor_id.is_some() || params_id.is_some() || !entry.flavors.is_empty()) && !flavor_ok {
            return Err("flavor not found or not ready");
        }
        let ext = flavor.map_or("mp4", |f| f.file_ext.as_str()).to_owned();
        let file = entry
            .upload_token_id
            .as_ref()
            .and_then(|id| tenant.tokens.get(id))
            .and_then(|t| t.file.clone());
        Ok((file, ext))
    });
    let (file, ext) = match found {
        None => return text(StatusCode::NOT_FOUND, "entry not found"),
        Some(Err(why)) => return text(StatusCode::NOT_FOUND, why),
        Some(Ok(found)) => found,
    };
    // Read outside the partner's lock, a block at a time.
    let Some(reader) = file.and_then(|f| f.reader()) else {
        return text(
            StatusCode::NOT_FOUND,
            "the server keeps no bytes of this file",
        );
    };
    let content_type = match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    };
    let asked = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let head = request.method() == http::Method::HEAD;
    let mut response =
        crate::upload::ranged::ranged(reader, asked, head, HeaderValue::from_static(content_type));
    if media.action != "playManifest" || media.get(&["format"]) == Some("download") {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{}.{}\"",
            entry_id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>(),
            ext
        )) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}

fn thumbnail(served: &Served, media: &MediaPath<'_>, entry_id: &str) -> Response {
    let side = |keys: &[&str]| {
        media
            .get(keys)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|v| *v > 0)
            .map(|v| v.min(MAX_THUMBNAIL_SIDE))
    };
    let found = with_entry(served, media.partner_id, entry_id, |entry, _| {
        entry.media.map(|m| (m.width, m.height))
    });
    let Some(size) = found else {
        return text(StatusCode::NOT_FOUND, "entry not found");
    };
    // Without a size asked, the default size; with one side, the other keeps the picture's
    // aspect when it is known.
    let (width, height) = match (side(&["width", "w"]), side(&["height", "h"])) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => match size {
            Some((Some(pw), Some(ph))) if pw > 0 => (w, (w * ph / pw).clamp(1, MAX_THUMBNAIL_SIDE)),
            _ => (w, DEFAULT_THUMBNAIL.1),
        },
        (None, Some(h)) => match size {
            Some((Some(pw), Some(ph))) if ph > 0 => ((h * pw / ph).clamp(1, MAX_THUMBNAIL_SIDE), h),
            _ => (DEFAULT_THUMBNAIL.0, h),
        },
        (None, None) => DEFAULT_THUMBNAIL,
    };
    let mut response = Response::new(Body::from(png(width, height, [0x2b, 0x4f, 0x7a])));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    response
}

/// A `width`×`height` PNG of one colour: 8-bit RGB, its pixels in stored (uncompressed)
/// deflate blocks, so that no image or compression library is needed.
pub(crate) fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    // Each row: filter type 0 (none), then its pixels.
    let mut row = vec![0u8];
    for _ in 0..width {
        row.extend_from_slice(&rgb);
    }
    let raw = row.repeat(height as usize);
    // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (n, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(n + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xffff_ffffu32;
    for byte in kind.iter().chain(data) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_png_has_its_signature_size_and_end() {
        let image = png(3, 2, [1, 2, 3]);
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&image[16..24], &[0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(&image[image.len() - 8..image.len() - 4], b"IEND");
    }

    #[test]
    fn media_paths_are_read_with_and_without_the_sub_partner() {
        let play = MediaPath::read(
            "/p/101/sp/10100/playManifest/entryId/0_ab/format/url/protocol/http/a.mp4",
        );
        let play = play.map(|p| (p.partner_id, p.action, p.get(&["entryId"])));
        assert_eq!(play, Some((101, "playManifest", Some("0_ab"))));
        let thumb = MediaPath::read("/p/7/thumbnail/entry_id/0_cd/width/50");
        assert_eq!(thumb.map(|t| t.get(&["width"])), Some(Some("50")));
        assert!(MediaPath::read("/p/x/sp/1/playManifest").is_none());
        assert!(MediaPath::read("/p/1/sp/100/nothing/entryId/0_x").is_none());
    }
}
