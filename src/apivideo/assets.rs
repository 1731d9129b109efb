//! A video's assets, served by vidmock itself: the MP4, the HLS playlist and its segment, the
//! thumbnail, the player page the `player` and `iframe` assets embed, and the WebVTT files a
//! caption's or a chapter's `src` names.
//!
//! At the vendor these live on its CDN and embed hosts; an integration follows the URLs the
//! `Video` object gives, so the mock answers them, and a browser test can play what it
//! uploaded. Each answers 202 with no body while its rendition is not encoded yet, as the HLS
//! playlist always has for the browser uploader's `onPlayable` (../shared/specs/apivideo.md
//! §11.4). Assets are public, like the vendor's CDN: no credentials, no rate limit.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::captions::{find_track, TextTrack};
use super::lifecycle::Format;
use super::videos::StoredVideo;
use super::{Backend, Problem};
use crate::engine::body::{Body, IntoResponse, Response};
use crate::media::MediaInfo;
use crate::upload::kept::KeptFile;

/// The largest thumbnail accepted (`POST /videos/{id}/thumbnail`); the vendor documents none.
pub(crate) const MAX_THUMBNAIL_BYTES: usize = 8 << 20;

/// A video's own thumbnail. Saved with the video; the admin state shows an uploaded one as a
/// reference (content type, size, sha256), and the state file keeps its bytes beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub(crate) enum Thumbnail {
    /// A JPEG uploaded with `POST /videos/{id}/thumbnail`.
    Uploaded(KeptFile),
    /// The frame at `timecode` picked with `PATCH /videos/{id}/thumbnail`; vidmock decodes no
    /// frames, so it is drawn as the placeholder, marked by the timecode's seconds.
    Picked { timecode: String, seconds: f64 },
}

/// Parses a `timecode` as the document's pattern gives it (`hh:mm:ss`, `hh:mm:ss.ms`,
/// `hh:mm:ss:frame`), into seconds; `None` when it does not match.
pub(crate) fn timecode_seconds(timecode: &str, framerate: f64) -> Option<f64> {
    let mut fields = timecode.splitn(4, ':');
    let two = |field: Option<&str>| -> Option<u32> {
        let field = field?;
        (field.len() == 2 && field.bytes().all(|b| b.is_ascii_digit()))
            .then(|| field.parse().ok())
            .flatten()
    };
    let hours = two(fields.next())?;
    let minutes = two(fields.next())?;
    let rest = fields.next()?;
    let frame = fields.next();
    let (whole, fraction) = match rest.split_once('.') {
        Some((whole, fraction)) if frame.is_none() => (whole, Some(fraction)),
        Some(_) => return None,
        None => (rest, None),
    };
    let seconds = two(Some(whole))?;
    if minutes > 59 || seconds > 59 {
        return None;
    }
    let mut total = f64::from(hours * 3600 + minutes * 60 + seconds);
    if let Some(fraction) = fraction {
        if fraction.is_empty()
            || fraction.len() > 3
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        total += format!("0.{fraction}").parse::<f64>().ok()?;
    }
    if let Some(frame) = frame {
        if frame.is_empty() || frame.len() > 3 || !frame.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frame: u32 = frame.parse().ok()?;
        if framerate > 0.0 {
            total += f64::from(frame) / framerate;
        }
    }
    Some(total)
}

/// Which asset a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Asset {
    Mp4,
    HlsManifest,
    HlsSegment,
    Thumbnail,
    Player,
    /// The caption in this language (as the URL names it).
    Caption(String),
    /// The chapters file in this language.
    Chapter(String),
}

impl Asset {
    /// The asset a route asks for, with its video's id.
    pub(crate) fn of(route: &super::routes::Route) -> Option<(Asset, &str)> {
        use super::routes::Route;
        Some(match route {
            Route::HlsManifest(id) => (Asset::HlsManifest, id),
            Route::HlsSegment(id) => (Asset::HlsSegment, id),
            Route::Mp4Asset(id) => (Asset::Mp4, id),
            Route::ThumbnailAsset(id) => (Asset::Thumbnail, id),
            Route::PlayerPage(id) => (Asset::Player, id),
            Route::CaptionFile(id, language) => (Asset::Caption(language.clone()), id),
            Route::ChapterFile(id, language) => (Asset::Chapter(language.clone()), id),
            _ => return None,
        })
    }
}

/// What an asset needs of its video, taken under the lock.
struct Found {
    mp4: bool,
    hls: bool,
    media: Option<MediaInfo>,
    thumbnail: Option<Thumbnail>,
    file: Option<Arc<crate::upload::Assembly>>,
    /// The `<track>`s of the player page: kind, language, label, default.
    tracks: Vec<(&'static str, String, &'static str, bool)>,
}

fn find(backend: &Backend, id: &str, now: OffsetDateTime) -> Option<Found> {
    let schedule = backend.config.schedule;
    let state = backend.lock();
    let video: &StoredVideo = state
        .projects
        .values()
        .find_map(|project| project.videos.get(id))?;
    let media = match &video.encoding.probe {
        Some(super::lifecycle::Probe::Media(info)) => Some(info.clone()),
        _ => None,
    };
    Some(Found {
        mp4: video.is_encoded(now, &schedule, Format::Mp4),
        hls: video.is_encoded(now, &schedule, Format::Hls),
        media,
        thumbnail: video.thumbnail.clone(),
        file: video.source.assembly.clone(),
        tracks: video
            .captions
            .iter()
            .map(|c| {
                let label = super::language::parse(&c.language).map_or("", |tag| tag.name);
                ("captions", c.language.clone(), label, c.default)
            })
            .chain(
                video
                    .chapters
                    .iter()
                    .map(|c| ("chapters", c.language.clone(), "", false)),
            )
            .collect(),
    })
}

/// The WebVTT file of a caption (`chapters` false) or a chapters file in `language`, as the
/// object's `src` names it: `text/vtt`, whatever the video's encoding; the vendor's 404 for an
/// unknown video or language.
fn text_track(backend: &Backend, id: &str, language: &str, chapters: bool, head: bool) -> Response {
    // The `src` names the canonical tag; a tag in another case names the same file.
    let canonical =
        super::language::parse(language).map_or_else(|_| language.to_owned(), |t| t.tag);
    let vtt = {
        let state = backend.lock();
        let Some(video) = state
            .projects
            .values()
            .find_map(|project| project.videos.get(id))
        else {
            return Problem::resource_not_found("videoId").into_response();
        };
        let vtt = if chapters {
            find_track(&video.chapters, &canonical).map(|t| t.vtt().to_owned())
        } else {
            find_track(&video.captions, &canonical).map(|t| t.vtt().to_owned())
        };
        match vtt {
            Some(vtt) => vtt,
            None => return super::captions::not_found().into_response(),
        }
    };
    let mut response = with_type((StatusCode::OK, vtt).into_response(), "text/vtt");
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

/// Answers one asset request (`GET` or `HEAD`).
pub(crate) async fn serve(
    backend: &Backend,
    asset: Asset,
    id: &str,
    headers: &HeaderMap,
    head: bool,
    base: &str,
    now: OffsetDateTime,
) -> Response {
    match &asset {
        Asset::Caption(language) => return text_track(backend, id, language, false, head),
        Asset::Chapter(language) => return text_track(backend, id, language, true, head),
        _ => {}
    }
    let Some(found) = find(backend, id, now) else {
        return Problem::resource_not_found("videoId").into_response();
    };
    let ready = match asset {
        Asset::Mp4 => found.mp4,
        Asset::HlsManifest | Asset::HlsSegment | Asset::Thumbnail => found.hls || found.mp4,
        Asset::Player | Asset::Caption(_) | Asset::Chapter(_) => true,
    };
    if !ready {
        return StatusCode::ACCEPTED.into_response();
    }
    let mut response = match asset {
        Asset::Mp4 | Asset::HlsSegment => return ranged(found, headers, head, "video/mp4"),
        Asset::HlsManifest => {
            let duration = found.media.as_ref().map_or(10.0, |m| m.duration);
            let body = format!(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{duration:.3},\nsegment-0.ts\n#EXT-X-ENDLIST\n",
                duration.ceil().max(1.0) as u64
            );
            with_type(
                (StatusCode::OK, body).into_response(),
                "application/vnd.apple.mpegurl",
            )
        }
        Asset::Thumbnail => {
            if let Some(Thumbnail::Uploaded(image)) = &found.thumbnail {
                if let Some(reader) = image.reader() {
                    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
                    return crate::upload::ranged::ranged(
                        reader,
                        asked,
                        head,
                        HeaderValue::from_static("image/jpeg"),
                    );
                }
            }
            // A picked frame, or no thumbnail (or one whose bytes were not restored).
            let seconds = match &found.thumbnail {
                Some(Thumbnail::Picked { seconds, .. }) => *seconds,
                _ => 0.0,
            };
            // Encoding a JPEG is CPU work: off the threads that serve requests.
            let media = found.media.clone();
            let jpeg = tokio::task::spawn_blocking(move || placeholder(media.as_ref(), seconds))
                .await
                .unwrap_or_default();
            with_type((StatusCode::OK, jpeg).into_response(), "image/jpeg")
        }
        Asset::Caption(_) | Asset::Chapter(_) => unreachable!("answered above"),
        Asset::Player => {
            let page = player_page(id, base, &found);
            with_type(
                (StatusCode::OK, page).into_response(),
                "text/html; charset=utf-8",
            )
        }
    };
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

fn with_type(mut response: Response, content_type: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The source's bytes, whole or the range asked, streamed from wherever they are kept.
fn ranged(found: Found, headers: &HeaderMap, head: bool, content_type: &'static str) -> Response {
    let Some(reader) = found.file.as_ref().and_then(|file| file.reader()) else {
        // Only digests kept: there are no bytes to serve.
        return Problem::resource_not_found("videoId").into_response();
    };
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    crate::upload::ranged::ranged(reader, asked, head, HeaderValue::from_static(content_type))
}

/// A JPEG placeholder of the video's aspect ratio (16:9 when unknown), 640 pixels on its
/// longer side: a gradient, with a bar marking `seconds` into the video.
pub(crate) fn placeholder(media: Option<&MediaInfo>, seconds: f64) -> Bytes {
    let (width, height) = match media {
        Some(info) if info.width > 0 && info.height > 0 => (info.width, info.height),
        _ => (16, 9),
    };
    let (w, h) = if width >= height {
        (640, (640 * height / width).max(1))
    } else {
        ((640 * width / height).max(1), 640)
    };
    let duration = media.map_or(0.0, |m| m.duration);
    let mark = if duration > 0.0 {
        ((seconds / duration).clamp(0.0, 1.0) * f64::from(w - 1)) as u32
    } else {
        0
    };
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        if x.abs_diff(mark) <= 2 && y >= h - h / 10 {
            return image::Rgb([255, 255, 255]);
        }
        let r = (x * 255 / w) as u8;
        let g = (y * 255 / h) as u8;
        image::Rgb([r / 2 + 32, g / 2 + 32, 160])
    });
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80);
    if let Err(error) = image.write_with_encoder(encoder) {
        tracing::error!(%error, "drawing a placeholder thumbnail failed");
    }
    Bytes::from(jpeg)
}

/// The player page: a `<video>` playing the MP4 asset, with the thumbnail as its poster and a
/// `<track>` for each caption and chapters file (the default caption shown).
fn player_page(id: &str, base: &str, found: &Found) -> String {
    let ratio = found
        .media
        .as_ref()
        .map_or_else(|| "16/9".to_owned(), MediaInfo::aspect_ratio);
    let ratio = if ratio.is_empty() {
        "16/9".to_owned()
    } else {
        ratio
    };
    // `id` is a stored video's id (base62 from vidmock or a seed); escape it anyway.
    let id = html_escape(id);
    let tracks: String = found
        .tracks
        .iter()
        .map(|(kind, language, label, default)| {
            let language = html_escape(language);
            format!(
                "<track kind=\"{kind}\" src=\"{base}/vod/{id}/{kind}/{language}.vtt\" srclang=\"{language}\" label=\"{}\"{}>",
                html_escape(label),
                if *default { " default" } else { "" },
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{id}</title>\n\
<style>html,body{{margin:0;height:100%;background:#000}}video{{width:100%;height:100%;aspect-ratio:{ratio};object-fit:contain}}</style>\n\
</head>\n<body>\n<video controls playsinline preload=\"metadata\" poster=\"{base}/vod/{id}/thumbnail.jpg\" src=\"{base}/vod/{id}/mp4/source.mp4\">{tracks}</video>\n</body>\n</html>\n"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_follow_the_documents_patterns() {
        assert_eq!(timecode_seconds("00:01:00", 25.0), Some(60.0));
        assert_eq!(timecode_seconds("00:00:01.50", 25.0), Some(1.5));
        assert_eq!(timecode_seconds("00:00:01:05", 25.0), Some(1.2));
        assert_eq!(timecode_seconds("1:00", 25.0), None);
        assert_eq!(timecode_seconds("00:61:00", 25.0), None);
        assert_eq!(timecode_seconds("00:00:00.", 25.0), None);
    }

    #[test]
    fn a_placeholder_has_the_videos_aspect_ratio() {
        let portrait = MediaInfo {
            width: 180,
            height: 320,
            duration: 1.0,
            bitrate: 0,
            framerate: 24.0,
            samplerate: None,
            video_codec: None,
            audio_codec: None,
        };

        let jpeg = placeholder(Some(&portrait), 0.5);

        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (360, 640));
    }
}
