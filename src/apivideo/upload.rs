//! Uploads: `POST /upload?token=` (delegated) and `POST /videos/{id}/source` (authenticated).
//!
//! The request body is read once, as it streams in: multer parses it, and the file part's
//! bytes are gathered into blocks (or, with [`Retention::Spill`], written to a file of their own
//! a batch at a time, so a part never sits in memory) and handed to the shared assembly, which
//! orders and hashes them off the async threads. The vendor's rules for which video a request fills and how chunks fit
//! together (../shared/specs/apivideo.md §5) are checked under the state lock, which is never
//! held across an `.await`.

use std::sync::Arc;

use http::{header, HeaderMap, StatusCode};
use serde_json::json;
use time::OffsetDateTime;

use super::videos::{ReceivedChunk, Scheme, Source, StoredVideo};
use super::{wire, Backend, Problem};
use crate::engine::body::{Body, Response};
use crate::upload::{Assembly, Keying, PartWriter, Piece, Retention, SpillDir};

/// Every part or range but the last must have at least this many bytes.
pub(crate) const MIN_CHUNK: u64 = 5 * 1024 * 1024;
/// No part, range or whole-file request may carry more than this (the default file limit).
pub(crate) const MAX_CHUNK: u64 = 200 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
const MAX_TO_BYTE: u64 = 52_428_799_999;
const MAX_TOTAL_BYTES: u64 = 52_428_800_000;

/// A parsed `Content-Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentRange {
    /// `part n/N` or `part n/*`.
    Part { part: u64, total: Option<u64> },
    /// `bytes from-to/T` or `bytes from-to/*` (inclusive).
    Bytes {
        from: u64,
        to: u64,
        total: Option<u64>,
    },
}

impl ContentRange {
    /// `None` when the value is malformed. Numbers too large for 64 bits saturate, so they
    /// fail the vendor's range checks rather than the syntax check.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        fn number(s: &str) -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().unwrap_or(u64::MAX))
        }
        fn total(s: &str) -> Option<Option<u64>> {
            if s == "*" {
                Some(None)
            } else {
                number(s).map(Some)
            }
        }
        let (unit, rest) = value.trim().split_once(' ')?;
        let (range, whole) = rest.trim().split_once('/')?;
        match unit {
            "part" => Some(ContentRange::Part {
                part: number(range)?,
                total: total(whole)?,
            }),
            "bytes" => {
                let (from, to) = range.split_once('-')?;
                Some(ContentRange::Bytes {
                    from: number(from)?,
                    to: number(to)?,
                    total: total(whole)?,
                })
            }
            _ => None,
        }
    }
}

fn problem(slug: &str, title: &'static str) -> Problem {
    Problem::new(400, slug, title)
}

fn range_problem(slug: &str) -> Problem {
    let title: &'static str = match slug {
        "video-content-range-malformed" => "The value of the \"Content-Range\" header is malformed, the expected format is \"bytes <from_byte>-<to_byte>/<total_bytes>\" or \"part <part>/<total_parts>\".",
        "video-content-range-already-initiated" => "This video source has already been initiated with a \"Content-Range\" upload.",
        "video-content-range-started-with-part" => "This \"Content-Range\" upload has been started with \"part\", you cannot continue it with \"bytes\".",
        "video-content-range-started-with-bytes" => "This \"Content-Range\" upload has been started with \"bytes\", you cannot continue it with \"part\".",
        "video-content-range-by-part-part-zero" => "The \"part\" value in the \"Content-Range\" header must be greater than 0.",
        "video-content-range-by-part-total-parts-zero" => "The \"total_parts\" value in the \"Content-Range\" header must be greater than 0.",
        "video-content-range-by-part-part-too-high-allowed" => "The \"part\" value in the \"Content-Range\" header is higher than the maximum number of parts allowed for a video.",
        "video-content-range-by-part-total-parts-too-high" => "The \"total_parts\" value in the \"Content-Range\" header is higher than the maximum number of parts allowed for a video.",
        "video-content-range-by-part-part-too-high-total" => "The \"part\" value in the \"Content-Range\" header is higher than the \"total_parts\" value you set for this video.",
        "video-content-range-by-part-different-total-parts" => "The \"total_parts\" value in the \"Content-Range\" header must be the same than the one you already set for this video.",
        "video-content-range-by-part-total-parts-too-low" => "The \"total_parts\" value in the \"Content-Range\" header is lower than or equal to a part number you already sent for this video.",
        "video-content-range-by-part-part-already-sent" => "The \"part\" value in the \"Content-Range\" header collides with a previous one you already sent for this video.",
        "video-content-range-by-part-uploaded-file-too-small" => "The uploaded file is too small.",
        "video-content-range-by-bytes-from-byte-too-high" => "The \"from_byte\" value in the \"Content-Range\" header is higher than the \"to_byte\" value.",
        "video-content-range-by-bytes-range-mismatch" => "The size of the file you sent is different than the range length you set in the \"Content-Range\" header.",
        "video-content-range-by-bytes-range-overlap" => "The range in the \"Content-Range\" header overlaps with a previous one you already sent for this video.",
        "video-content-range-by-bytes-range-too-small" => "The range in the \"Content-Range\" header is too small.",
        "video-content-range-by-bytes-range-too-large" => "The range in the \"Content-Range\" header is too large.",
        "video-content-range-by-bytes-to-byte-too-high-allowed" => "The \"to_byte\" value in the \"Content-Range\" header is higher than the maximum upper bound allowed for a video.",
        "video-content-range-by-bytes-to-byte-too-high-total" => "The \"to_byte\" value in the \"Content-Range\" header is higher than the \"total_bytes\" value you set for this video.",
        "video-content-range-by-bytes-total-bytes-too-high" => "The \"total_bytes\" value in the \"Content-Range\" header is higher than the maximum allowed limit.",
        "video-content-range-by-bytes-total-bytes-too-low" => "The \"total_bytes\" value in the \"Content-Range\" header is lower than or equal to the upper bound of a range you already sent for this video.",
        "video-content-range-by-bytes-total-bytes-zero" => "The \"total_bytes\" value in the \"Content-Range\" header must be greater than 0.",
        "video-content-range-by-bytes-different-total-bytes" => "The \"total_bytes\" value in the \"Content-Range\" header must be the same than the one you already set for this video.",
        _ => "The uploaded file is invalid.",
    };
    problem(slug, title)
}

fn file_too_large() -> Problem {
    problem("uploaded-file-too-large", "The uploaded file is too large.")
}

/// What one multipart body carried.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// The file part's filename and bytes.
    pub file: Option<(String, Piece)>,
    /// The optional `videoId` field.
    pub video_id: Option<String>,
}

/// Reads a multipart body: exactly one file part under any field name (the Node client names
/// it after the file), an optional `videoId` field, in any order. With `spill`, the file part
/// is written to a file in that directory as it arrives.
pub(crate) async fn read_multipart(
    headers: &HeaderMap,
    body: Body,
    max_file: u64,
    spill: Option<&Arc<SpillDir>>,
) -> Result<Received, Problem> {
    let no_file = || {
        problem(
            "uploaded-file-no-file",
            "There is no uploaded file in the request.",
        )
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(no_file)?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_file.saturating_add(1024 * 1024))
            .per_field(max_file),
    );
    let mut parts =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut received = Received::default();
    let invalid = |error: multer::Error| match error {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            file_too_large()
        }
        _ => problem(
            "uploaded-file-invalid-file",
            "The uploaded file is invalid.",
        )
        .detail("The multipart body could not be read."),
    };
    while let Some(mut field) = parts.next_field().await.map_err(invalid)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .file_name()
            .map(str::to_owned)
            .or_else(|| (name == "file").then(String::new));
        let Some(filename) = filename else {
            let text = field.text().await.map_err(invalid)?;
            if name == "videoId" && !text.is_empty() {
                received.video_id = Some(text);
            }
            continue;
        };
        if received.file.is_some() {
            return Err(problem(
                "uploaded-file-multiple-files",
                "There is more than one uploaded file in the request.",
            ));
        }
        let mut piece = PartWriter::new(spill);
        while let Some(chunk) = field.chunk().await.map_err(invalid)? {
            piece.push(&chunk).await;
        }
        received.file = Some((basename(&filename), piece.finish().await));
    }
    let Some((_, piece)) = &received.file else {
        return Err(no_file());
    };
    if piece.len() == 0 {
        return Err(problem(
            "uploaded-file-empty",
            "The uploaded file is empty.",
        ));
    }
    Ok(received)
}

/// The last path component of a client-supplied filename.
fn basename(filename: &str) -> String {
    filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(filename)
        .to_owned()
}

/// Fits one chunk into a video's source; returns the chunk's key in the assembly, the key just
/// after it, and the key just past the file's last piece once this chunk completes it.
pub(crate) fn accept(
    source: &mut Source,
    range: Option<ContentRange>,
    header: Option<&str>,
    piece: Piece,
    retention: Retention,
    max_file: u64,
    now: OffsetDateTime,
) -> Result<(u64, u64, Option<u64>), Problem> {
    let fresh = source.scheme == Scheme::Fresh;
    let fitted = fit(source, range, header, piece, retention, max_file, now);
    if fitted.is_err() && fresh {
        // A refused first chunk starts nothing: the next one may use any scheme.
        source.scheme = Scheme::Fresh;
    }
    fitted
}

/// Where an accepted chunk lands in its video's assembly.
struct Placement {
    /// How the assembly keys its pieces: by part number or by byte offset.
    keying: Keying,
    /// The key of the file's first piece.
    first: u64,
    /// This chunk's key.
    key: u64,
    /// The key just past the file's last piece, once this chunk completes the file.
    end: Option<u64>,
}

/// The vendor's checks for one chunk, in the vendor's order: the one scheme-independent check
/// first, then the scheme's own (whose order decides which problem a client sees), then the
/// bookkeeping every accepted chunk gets.
fn fit(
    source: &mut Source,
    range: Option<ContentRange>,
    header: Option<&str>,
    piece: Piece,
    retention: Retention,
    max_file: u64,
    now: OffsetDateTime,
) -> Result<(u64, u64, Option<u64>), Problem> {
    if source.completed_at.is_some() {
        return Err(problem(
            "video-source-already-uploaded",
            "The source of the video is already uploaded.",
        )
        .name("file"));
    }
    let size = piece.len();
    let Placement {
        keying,
        first,
        key,
        end,
    } = match range {
        None => fit_whole(&mut source.scheme, size, max_file)?,
        Some(ContentRange::Part { part, total }) => {
            fit_part(&mut source.scheme, part, total, size)?
        }
        Some(ContentRange::Bytes { from, to, total }) => {
            fit_bytes(&mut source.scheme, from, to, total, size)?
        }
    };
    let assembly = source
        .assembly
        .get_or_insert_with(|| Assembly::new(keying, retention, first));
    assembly.insert(key, piece);
    source.chunks.push(ReceivedChunk {
        content_range: header.map(str::to_owned),
        size,
    });
    if end.is_some() {
        source.completed_at = Some(now);
    }
    let after = match keying {
        Keying::Ordinal => key + 1,
        Keying::Offset => key + size,
    };
    Ok((key, after, end))
}

/// A request without `Content-Range`: the whole file at once, only as the first request.
fn fit_whole(scheme: &mut Scheme, size: u64, max_file: u64) -> Result<Placement, Problem> {
    if *scheme != Scheme::Fresh {
        return Err(range_problem("video-content-range-already-initiated"));
    }
    if size > max_file {
        return Err(file_too_large());
    }
    *scheme = Scheme::Whole;
    Ok(Placement {
        keying: Keying::Offset,
        first: 0,
        key: 0,
        end: Some(size),
    })
}

/// `Content-Range: part n/N` or `part n/*`: parts keyed by number from 1, complete once every
/// part up to a known total has arrived.
fn fit_part(
    scheme: &mut Scheme,
    part: u64,
    total: Option<u64>,
    size: u64,
) -> Result<Placement, Problem> {
    if *scheme == Scheme::Fresh {
        *scheme = Scheme::Parts {
            total: None,
            received: Default::default(),
        };
    }
    let (known, received) = match scheme {
        Scheme::Parts { total, received } => (total, received),
        Scheme::Bytes { .. } => {
            return Err(range_problem("video-content-range-started-with-bytes"))
        }
        _ => return Err(range_problem("video-content-range-already-initiated")),
    };
    let fail = |slug: &str| Err(range_problem(slug));
    if part == 0 {
        return fail("video-content-range-by-part-part-zero");
    }
    if total == Some(0) {
        return fail("video-content-range-by-part-total-parts-zero");
    }
    if part > MAX_PARTS {
        return fail("video-content-range-by-part-part-too-high-allowed");
    }
    if total.is_some_and(|t| t > MAX_PARTS) {
        return fail("video-content-range-by-part-total-parts-too-high");
    }
    if let (Some(known), Some(total)) = (*known, total) {
        if u64::from(known) != total {
            return Err(
                range_problem("video-content-range-by-part-different-total-parts").detail(format!(
                    "The \"total_parts\" you already set for this video is {known}."
                )),
            );
        }
    }
    let effective = total.or(known.map(u64::from));
    if let Some(t) = effective {
        if part > t {
            return Err(
                range_problem("video-content-range-by-part-part-too-high-total").detail(format!(
                    "The \"total_parts\" you set for this video is {t}."
                )),
            );
        }
    }
    let highest = received.keys().next_back().copied().map(u64::from);
    if let (Some(total), Some(highest)) = (total, highest) {
        if total < highest {
            return fail("video-content-range-by-part-total-parts-too-low");
        }
    }
    // `part` ≤ MAX_PARTS here, so it fits in u32.
    let part32 = part as u32;
    if received.contains_key(&part32) {
        return Err(
            range_problem("video-content-range-by-part-part-already-sent")
                .detail(format!("The part number {part} has already been sent.")),
        );
    }
    if effective != Some(part) && size < MIN_CHUNK {
        return Err(
            range_problem("video-content-range-by-part-uploaded-file-too-small").detail(format!(
                "Every part except the last must be at least {MIN_CHUNK} bytes."
            )),
        );
    }
    if size > MAX_CHUNK {
        return Err(file_too_large());
    }
    if let Some(total) = total {
        *known = Some(total as u32);
    }
    received.insert(part32, size);
    let complete = known.is_some_and(|t| received.len() as u64 == u64::from(t));
    Ok(Placement {
        keying: Keying::Ordinal,
        first: 1,
        key: part,
        end: complete.then(|| u64::from(known.unwrap_or(0)) + 1),
    })
}

/// `Content-Range: bytes a-b/T` or `bytes a-b/*` (inclusive): ranges keyed by offset, complete
/// once they cover a known total.
fn fit_bytes(
    scheme: &mut Scheme,
    from: u64,
    to: u64,
    total: Option<u64>,
    size: u64,
) -> Result<Placement, Problem> {
    if *scheme == Scheme::Fresh {
        *scheme = Scheme::Bytes {
            total: None,
            ranges: Default::default(),
        };
    }
    let (known, ranges) = match scheme {
        Scheme::Bytes { total, ranges } => (total, ranges),
        Scheme::Parts { .. } => return Err(range_problem("video-content-range-started-with-part")),
        _ => return Err(range_problem("video-content-range-already-initiated")),
    };
    let fail = |slug: &str| Err(range_problem(slug));
    if from > to {
        return fail("video-content-range-by-bytes-from-byte-too-high");
    }
    if to > MAX_TO_BYTE {
        return fail("video-content-range-by-bytes-to-byte-too-high-allowed");
    }
    if total.is_some_and(|t| t > MAX_TOTAL_BYTES) {
        return fail("video-content-range-by-bytes-total-bytes-too-high");
    }
    if total == Some(0) {
        return fail("video-content-range-by-bytes-total-bytes-zero");
    }
    if let (Some(known), Some(total)) = (*known, total) {
        if known != total {
            return fail("video-content-range-by-bytes-different-total-bytes");
        }
    }
    let effective = total.or(*known);
    if effective.is_some_and(|t| to >= t) {
        return fail("video-content-range-by-bytes-to-byte-too-high-total");
    }
    let highest_to = ranges.values().max().copied();
    if let (Some(total), Some(highest_to)) = (total, highest_to) {
        if total <= highest_to {
            return fail("video-content-range-by-bytes-total-bytes-too-low");
        }
    }
    let length = to - from + 1;
    if size != length {
        return fail("video-content-range-by-bytes-range-mismatch");
    }
    let overlaps = ranges
        .range(..=to)
        .next_back()
        .is_some_and(|(_, prev_to)| *prev_to >= from);
    if overlaps {
        return fail("video-content-range-by-bytes-range-overlap");
    }
    if effective != Some(to + 1) && length < MIN_CHUNK {
        return fail("video-content-range-by-bytes-range-too-small");
    }
    if length > MAX_CHUNK {
        return fail("video-content-range-by-bytes-range-too-large");
    }
    if total.is_some() {
        *known = total;
    }
    ranges.insert(from, to);
    let covered: u64 = ranges.iter().map(|(f, t)| t - f + 1).sum();
    let complete = known.is_some_and(|t| covered == t);
    Ok(Placement {
        keying: Keying::Offset,
        first: 0,
        key: from,
        end: complete.then_some(covered),
    })
}

/// Where a chunk goes.
pub(crate) enum Target {
    /// A new video titled after the file.
    New,
    /// An existing video of the project.
    Existing(String),
}

/// One upload request, read: where it goes, what it carried and how it said so.
pub(crate) struct Chunk<'a> {
    /// The video it fills.
    pub target: Target,
    /// The upload token it came with, for a delegated upload.
    pub token: Option<&'a str>,
    /// Its `Content-Range`, parsed.
    pub range: Option<ContentRange>,
    /// Its `Content-Range` as sent, kept with the received chunk.
    pub header: Option<&'a str>,
    /// Its multipart body.
    pub received: Received,
    /// When it arrived.
    pub now: OffsetDateTime,
}

/// Applies one received chunk to its video in project `key` and answers: 201 `{"videoId"}`
/// while incomplete, 201 with the whole video once complete (after the file has been hashed).
pub(crate) async fn receive(
    backend: &Backend,
    cx: &crate::engine::vendor::Context,
    key: &str,
    chunk: Chunk<'_>,
) -> Result<Response, Problem> {
    let (ids, base) = (&cx.ids, cx.base_url.as_str());
    let Chunk {
        target,
        token,
        range,
        header,
        received,
        now,
    } = chunk;
    let Some((filename, piece)) = received.file else {
        return Err(problem(
            "uploaded-file-no-file",
            "There is no uploaded file in the request.",
        ));
    };
    let retention = backend.retention;
    let max_file = backend.config.max_file_size;
    let (video_id, assembly, piece_key, after_piece, end) = {
        let mut state = backend.lock();
        let project = state
            .projects
            .get_mut(key)
            .ok_or_else(|| Problem::resource_not_found("videoId"))?;
        match target {
            Target::Existing(id) => {
                let video = project
                    .videos
                    .get_mut(&id)
                    .ok_or_else(|| Problem::resource_not_found("videoId"))?;
                let (piece_key, after_piece, end) = accept(
                    &mut video.source,
                    range,
                    header,
                    piece,
                    retention,
                    max_file,
                    now,
                )?;
                if video.upload_token.is_none() {
                    video.upload_token = token.map(str::to_owned);
                }
                video.updated_at = now;
                (
                    id,
                    video.source.assembly.clone(),
                    piece_key,
                    after_piece,
                    end,
                )
            }
            Target::New => {
                let mut video = StoredVideo::new(ids.base62("vi", 22), filename, now);
                let (piece_key, after_piece, end) = accept(
                    &mut video.source,
                    range,
                    header,
                    piece,
                    retention,
                    max_file,
                    now,
                )?;
                video.upload_token = token.map(str::to_owned);
                let id = video.id.clone();
                let assembly = video.source.assembly.clone();
                project.videos.insert(id.clone(), video);
                (id, assembly, piece_key, after_piece, end)
            }
        }
    };
    let Some(assembly) = assembly else {
        return Err(problem(
            "uploaded-file-no-file",
            "There is no uploaded file in the request.",
        ));
    };
    // Consume in the background; with only digests kept, that hashes this piece while the
    // client sends the next one, and answering waits only for the pieces before this one, which
    // bounds memory to about two pieces per upload. Kept bytes are hashed once the file is
    // complete.
    tokio::spawn({
        let assembly = assembly.clone();
        async move { assembly.drain().await }
    });
    let target = crate::engine::journal::Target(video_id.clone());
    let Some(end) = end else {
        // With only digests kept, memory must stay flat: answer once this piece is hashed
        // too. Otherwise answer once the pieces before it are, so hashing overlaps the next.
        let wait_until = match retention {
            Retention::DigestOnly | Retention::Spill => after_piece,
            Retention::Memory => piece_key,
        };
        assembly.wait_for_predecessors(wait_until).await;
        let mut response = wire::json(StatusCode::CREATED, &json!({ "videoId": video_id }));
        response.extensions_mut().insert(target);
        return Ok(response);
    };
    let digest = assembly.finish(end).await;
    let probe = probe(assembly.clone()).await;
    let (body, encoded) = {
        let mut state = backend.lock();
        let video = state.projects.get_mut(key).and_then(|project| {
            let super::Project {
                videos, fail_next, ..
            } = project;
            videos.get_mut(&video_id).map(|video| (video, fail_next))
        });
        match video {
            Some((video, fail_next)) => {
                video.source.digest = Some(digest);
                video.encoding.probe = Some(probe);
                // A scripted failure (`failProcessing`) takes the next upload to complete.
                if *fail_next > 0 {
                    *fail_next -= 1;
                    video.encoding.fails = true;
                }
                // Every rendition the lifecycle will encode, and when: each one's event is
                // due then.
                let schedule = backend.config.schedule;
                let encoded = super::lifecycle::encoded_between(
                    video,
                    &schedule,
                    OffsetDateTime::UNIX_EPOCH,
                    now + time::Duration::days(36_500),
                );
                (video.to_json(base), encoded)
            }
            // Deleted while its last chunk was being hashed: the upload itself succeeded.
            None => (json!({ "videoId": video_id }), Vec::new()),
        }
    };
    for event in encoded {
        super::webhooks::quality_encoded(
            backend,
            cx,
            key,
            &video_id,
            event.format.as_str(),
            event.quality,
            event.at,
        );
    }
    let mut response = wire::json(StatusCode::CREATED, &body);
    response.extensions_mut().insert(target);
    Ok(response)
}

/// What a completed upload holds, read on the blocking pool (a spilled file is read from disk).
async fn probe(assembly: Arc<crate::upload::Assembly>) -> super::lifecycle::Probe {
    use super::lifecycle::Probe;
    let read = tokio::task::spawn_blocking(move || crate::media::probe_upload(&assembly)).await;
    match read {
        Ok(Some(Ok(info))) => Probe::Media(info),
        Ok(Some(Err(crate::media::ProbeError::NotMedia(reason)))) => {
            tracing::debug!(%reason, "an upload is not media");
            Probe::NotMedia
        }
        Ok(Some(Err(crate::media::ProbeError::Io(error)))) => {
            tracing::error!(%error, "reading an upload back failed");
            Probe::Unread
        }
        Ok(None) | Err(_) => Probe::Unread,
    }
}

/// `POST /upload?token=…`: no Authorization (any sent is ignored); the token says which project.
pub(crate) async fn with_token(
    backend: &super::Backend,
    cx: &crate::engine::vendor::Context,
    parts: http::request::Parts,
    body: Body,
    now: OffsetDateTime,
) -> Response {
    use super::ratelimit::RateInfo;
    use super::routes::Class;
    use crate::engine::body::IntoResponse;

    let limits = backend.config.rate_limits;
    let untouched = RateInfo::untouched(&limits, Class::Upload, now);
    let token = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(name, _)| name == "token")
        .last()
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return super::with_rate(
            Problem::new(
                401,
                "authentication-missing-upload-token",
                "The upload token is missing.",
            )
            .into_response(),
            untouched,
        );
    };
    let invalid_token = || {
        Problem::new(
            401,
            "authentication-invalid-upload-token",
            "The upload token is invalid or expired.",
        )
    };
    let key = backend.lock().token_projects.get(&token).cloned();
    let Some(key) = key else {
        return super::with_rate(invalid_token().into_response(), untouched);
    };
    let rate = match backend.take_budget(&key, Class::Upload, now) {
        Ok(rate) => rate,
        Err(spent) => return super::with_rate(Problem::too_many_requests().into_response(), spent),
    };
    let result = async {
        let (range, header) = content_range(&parts.headers)?;
        let received = read_multipart(
            &parts.headers,
            body,
            backend.config.max_file_size,
            cx.spill.as_ref(),
        )
        .await?;
        let target = {
            let state = backend.lock();
            let project = state.projects.get(&key).ok_or_else(invalid_token)?;
            let active = project.tokens.get(&token).is_some_and(|t| t.is_active(now));
            match &received.video_id {
                // An upload started with this token may finish after it expired or was deleted.
                Some(id) => {
                    let started_here = project.videos.get(id).is_some_and(|v| {
                        v.upload_token.as_deref() == Some(token.as_str())
                            && !v.source.chunks.is_empty()
                    });
                    if !active && !started_here {
                        return Err(invalid_token());
                    }
                    Target::Existing(id.clone())
                }
                None if active => Target::New,
                None => return Err(invalid_token()),
            }
        };
        let chunk = Chunk {
            target,
            token: Some(&token),
            range,
            header: header.as_deref(),
            received,
            now,
        };
        receive(backend, cx, &key, chunk).await
    }
    .await;
    super::with_rate(result.unwrap_or_else(IntoResponse::into_response), rate)
}

/// `POST /videos/{id}/source`: the same engine, for an authenticated project.
pub(crate) async fn to_video(
    backend: &super::Backend,
    cx: &crate::engine::vendor::Context,
    key: &str,
    id: String,
    parts: &http::request::Parts,
    body: Body,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    backend.with_video(key, &id, |_| ())?;
    let (range, header) = content_range(&parts.headers)?;
    let received = read_multipart(
        &parts.headers,
        body,
        backend.config.max_file_size,
        cx.spill.as_ref(),
    )
    .await?;
    let chunk = Chunk {
        target: Target::Existing(id),
        token: None,
        range,
        header: header.as_deref(),
        received,
        now,
    };
    receive(backend, cx, key, chunk).await
}

/// The request's `Content-Range`, parsed, with its raw value.
fn content_range(headers: &HeaderMap) -> Result<(Option<ContentRange>, Option<String>), Problem> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok((None, None));
    };
    let text = value
        .to_str()
        .map_err(|_| range_problem("video-content-range-malformed"))?;
    let range =
        ContentRange::parse(text).ok_or_else(|| range_problem("video-content-range-malformed"))?;
    Ok((Some(range), Some(text.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn content_ranges_parse_both_schemes_and_star_totals() {
        assert_eq!(
            ContentRange::parse("part 2/*"),
            Some(ContentRange::Part {
                part: 2,
                total: None
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 0-9/10"),
            Some(ContentRange::Bytes {
                from: 0,
                to: 9,
                total: Some(10)
            })
        );
        assert_eq!(
            ContentRange::parse("part 99999999999999999999999/1"),
            Some(ContentRange::Part {
                part: u64::MAX,
                total: Some(1)
            })
        );
        for bad in [
            "",
            "part",
            "part 1",
            "part -1/2",
            "bytes 1/2",
            "bytes a-b/c",
            "chunk 1/2",
            "part 1/2/3",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }

    /// What `read_multipart` made of a body: the file's name and bytes and the `videoId`, or
    /// the problem's slug.
    type Outcome = Result<(String, Vec<u8>, Option<String>), String>;

    fn read(body: &[u8], cuts: &[usize], boundary: &str, spill: bool, max_file: u64) -> Outcome {
        let mut chunks = Vec::new();
        let mut at = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([body.len()]) {
            chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(
                &body[at..cut],
            )));
            at = cut;
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(async {
                let dir = spill.then(SpillDir::new);
                read_multipart(&headers, body, max_file, dir.as_ref()).await
            })
            .map(|received| {
                let (name, piece) = received.file.unwrap();
                (name, piece.bytes(), received.video_id)
            })
            .map_err(|problem| {
                let json = problem.to_json();
                let url = json["type"].as_str().unwrap_or_default();
                url.rsplit('/').next().unwrap_or_default().to_owned()
            })
    }

    /// The same, by multer alone, with the file read whole.
    fn read_by_multer(body: &[u8], boundary: &str) -> Outcome {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stream =
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(body))]);
            let mut multipart = multer::Multipart::new(stream, boundary);
            let invalid = |_| "uploaded-file-invalid-file".to_owned();
            let mut file = None;
            let mut video_id = None;
            while let Some(field) = multipart.next_field().await.map_err(invalid)? {
                let name = field.name().unwrap_or_default().to_owned();
                match field
                    .file_name()
                    .map(str::to_owned)
                    .or_else(|| (name == "file").then(String::new))
                {
                    Some(filename) => {
                        if file.is_some() {
                            return Err("uploaded-file-multiple-files".to_owned());
                        }
                        file = Some((
                            basename(&filename),
                            field.bytes().await.map_err(invalid)?.to_vec(),
                        ));
                    }
                    None => {
                        let text = field.text().await.map_err(invalid)?;
                        if name == "videoId" && !text.is_empty() {
                            video_id = Some(text);
                        }
                    }
                }
            }
            match file {
                None => Err("uploaded-file-no-file".to_owned()),
                Some((_, bytes)) if bytes.is_empty() => Err("uploaded-file-empty".to_owned()),
                Some((name, bytes)) => Ok((name, bytes, video_id)),
            }
        })
    }

    /// Bytes that look like pieces of the body's framing.
    fn tricky(boundary: &str) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let boundary = boundary.to_owned();
        proptest::collection::vec((0usize..9, any::<u8>(), 0usize..40), 0..40).prop_map(
            move |tokens| {
                let mut out = Vec::new();
                for (kind, byte, cut) in tokens {
                    let delimiter = format!("\r\n--{boundary}");
                    match kind {
                        0 | 1 => out.push(byte),
                        2 => out.extend_from_slice(b"\r\n"),
                        3 => out.extend_from_slice(
                            &delimiter.as_bytes()[..cut.min(delimiter.len() - 1)],
                        ),
                        4 => out.extend_from_slice(format!("--{boundary}").as_bytes()),
                        5 => out.extend_from_slice(b"\r\n\r\n"),
                        6 => out.push(b'\r'),
                        7 => out.push(b'-'),
                        _ => out.extend(std::iter::repeat_n(byte, cut * 50)),
                    }
                }
                out
            },
        )
    }

    proptest::proptest! {
        /// Bodies cut anywhere, with files full of near-boundaries, read as multer reads them
        /// whole, in memory or spilled.
        #[test]
        fn files_read_as_multer_reads_them_whole_in_memory_or_spilled(
            file in tricky("XyZ"),
            text in tricky("XyZ"),
            video_first in proptest::prelude::any::<bool>(),
            preamble in proptest::prelude::any::<bool>(),
            padding in 0usize..3,
            cuts in proptest::collection::vec(0usize..100_000, 0..12),
            truncate in proptest::option::of(0usize..100_000),
            spill in proptest::prelude::any::<bool>(),
        ) {
            let boundary = "XyZ";
            let mut body = Vec::new();
            if preamble {
                body.extend_from_slice(b"preamble\r\n");
            }
            let video = |body: &mut Vec<u8>| {
                body.extend_from_slice(format!("--{boundary}{}\r\nContent-Disposition: form-data; name=\"videoId\"\r\n\r\n", " ".repeat(padding)).as_bytes());
                body.extend_from_slice(&text);
                body.extend_from_slice(b"\r\n");
            };
            if video_first {
                video(&mut body);
            }
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a/b.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").as_bytes());
            body.extend_from_slice(&file);
            body.extend_from_slice(b"\r\n");
            if !video_first {
                video(&mut body);
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            if let Some(at) = truncate {
                body.truncate(at % (body.len() + 1));
            }
            let expected = read_by_multer(&body, boundary);
            proptest::prop_assert_eq!(read(&body, &cuts, boundary, spill, 1 << 30), expected);
        }

        /// Any bytes at all, cut anywhere.
        #[test]
        fn any_body_reads_as_multer_reads_it(
            body in tricky("b"),
            cuts in proptest::collection::vec(0usize..100_000, 0..12),
        ) {
            let expected = read_by_multer(&body, "b");
            proptest::prop_assert_eq!(read(&body, &cuts, "b", false, 1 << 30), expected);
        }
    }

    #[test]
    fn a_file_over_the_limit_is_too_large_in_memory_or_spilled() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n0123456789\r\n--b--\r\n";
        for (cuts, spill) in [(&[][..], true), (&[50, 60, 70], true), (&[55], false)] {
            assert_eq!(read(body, cuts, "b", spill, 10).unwrap().1, b"0123456789");
            assert_eq!(
                read(body, cuts, "b", spill, 9),
                Err("uploaded-file-too-large".to_owned())
            );
        }
    }

    #[test]
    fn basenames_drop_directories() {
        assert_eq!(basename("a/b/c.mp4"), "c.mp4");
        assert_eq!(basename("C:\\x\\y.mp4"), "y.mp4");
        assert_eq!(basename("plain.mp4"), "plain.mp4");
    }
}
