//! `POST /videos/{videoId}/thumbnail` (upload a JPEG) and `PATCH /videos/{videoId}/thumbnail`
//! (pick a frame by timecode): both set what `assets.thumbnail` serves, and answer the `Video`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use super::assets::{timecode_seconds, Thumbnail, MAX_THUMBNAIL_BYTES};
use super::lifecycle::Probe;
use super::{wire, Backend, Problem};
use crate::engine::body::{Body, Response};
use crate::upload::kept::KeptFile;
use crate::upload::Segment;

/// The document's only example for this call (OpenAPI, `POST_videos-videoId-thumbnail`, 400).
fn not_jpeg() -> Problem {
    Problem::new(
        400,
        "uploaded-file-extension-invalid",
        "Only [jpeg, jpg, JPG, JPEG] extensions are supported.",
    )
    .name("file")
}

/// Uploads a JPEG thumbnail.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload(
    backend: &Backend,
    spill: Option<&std::sync::Arc<crate::upload::SpillDir>>,
    key: &str,
    id: &str,
    parts: &http::request::Parts,
    body: Body,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    // An unknown video is refused before its body is read.
    backend.with_video(key, id, |_| ())?;
    let received =
        super::upload::read_multipart(&parts.headers, body, MAX_THUMBNAIL_BYTES as u64, None)
            .await?;
    let Some((filename, piece)) = received.file else {
        return Err(not_jpeg());
    };
    // A name with an extension is judged by it; a name without one (the Node client names a
    // stream or a Buffer `file`) by the bytes below, as the vendor takes such uploads.
    match filename.rsplit_once('.').map(|(_, e)| e) {
        None | Some("jpeg" | "jpg" | "JPG" | "JPEG") => {}
        Some(_) => return Err(not_jpeg()),
    }
    let mut jpeg = Vec::with_capacity(usize::try_from(piece.len()).unwrap_or(0));
    for segment in &piece.segments {
        // Read without a spill directory: every segment is in memory.
        if let Segment::Memory(bytes) = segment {
            jpeg.extend_from_slice(bytes);
        }
    }
    // A JPEG starts with its SOI marker; anything else would not show as an image.
    if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(not_jpeg());
    }
    let image = KeptFile::keep(Bytes::from(jpeg), "image/jpeg", backend.retention, spill).await;
    set(backend, key, id, Thumbnail::Uploaded(image), base, now)
}

/// Picks the frame at `timecode` as the thumbnail.
pub(crate) fn pick(
    backend: &Backend,
    key: &str,
    id: &str,
    body: Option<Value>,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let framerate = backend.with_video(key, id, |video| match &video.encoding.probe {
        Some(Probe::Media(info)) => info.framerate,
        _ => 0.0,
    })?;
    let timecode = match body.as_ref().and_then(|b| b.get("timecode")) {
        None | Some(Value::Null) => return Err(Problem::attribute_required("timecode")),
        Some(Value::String(timecode)) => timecode.clone(),
        Some(_) => {
            return Err(Problem::invalid_attribute(
                "timecode",
                "This value should be of type string.",
            ))
        }
    };
    let seconds = timecode_seconds(&timecode, framerate).ok_or_else(|| {
        Problem::invalid_attribute("timecode", "This value is not a valid timecode.")
    })?;
    set(
        backend,
        key,
        id,
        Thumbnail::Picked { timecode, seconds },
        base,
        now,
    )
}

fn set(
    backend: &Backend,
    key: &str,
    id: &str,
    thumbnail: Thumbnail,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let mut state = backend.lock();
    let video = state
        .projects
        .get_mut(key)
        .and_then(|p| p.videos.get_mut(id))
        .ok_or_else(|| Problem::resource_not_found("videoId"))?;
    video.thumbnail = Some(thumbnail);
    video.updated_at = now;
    Ok(wire::json(StatusCode::OK, &video.to_json(base)))
}
