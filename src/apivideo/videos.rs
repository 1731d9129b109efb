//! Videos: the containers uploads fill, their wire form, and the calls around them
//! (../shared/specs/apivideo.md §5.4, §6, §7).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::lifecycle::{EncodingSchedule, EncodingState, Facts};
use super::paging::{ListQuery, Pagination};
use super::{wire, Problem};
use crate::engine::body::Response;
use crate::upload::{Assembly, Keying, Retention};

/// How the source of a video is being uploaded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub(crate) enum Scheme {
    /// Nothing received yet.
    #[default]
    Fresh,
    /// One request without Content-Range.
    Whole,
    /// `Content-Range: part n/N`: total parts once known, and each part's size.
    Parts {
        total: Option<u32>,
        /// Saved as `[part number, size]` pairs.
        #[serde(with = "pairs")]
        received: BTreeMap<u32, u64>,
    },
    /// `Content-Range: bytes a-b/T`: total once known, and the ranges received (from → to).
    Bytes {
        total: Option<u64>,
        /// Saved as `[from, to]` pairs (inclusive).
        #[serde(with = "pairs")]
        ranges: BTreeMap<u64, u64>,
    },
}

/// A map saved as a list of `[key, value]` pairs (JSON keys are strings only).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K, V, S>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        serializer.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// One upload request as it was accepted.
///
/// # Example
///
/// ```
/// let chunk = vidmock::apivideo::ReceivedChunk { content_range: Some("part 1/2".into()), size: 5_242_880 };
/// assert_eq!(chunk.size, 5_242_880);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceivedChunk {
    /// The `Content-Range` header as sent, `None` for a whole-file upload.
    pub content_range: Option<String>,
    /// Bytes in the file part.
    pub size: u64,
}

/// The source of a video. Saved without its bytes: see [`Source::restore`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Source {
    #[serde(default)]
    pub scheme: Scheme,
    /// Created with the first accepted chunk.
    #[serde(skip)]
    pub assembly: Option<Arc<Assembly>>,
    /// Every accepted chunk, in arrival order.
    #[serde(default)]
    pub chunks: Vec<ReceivedChunk>,
    /// Set when the last missing chunk arrives: no more chunks are accepted after this.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Size and sha256, once the completed file has been hashed.
    #[serde(default, with = "crate::upload::digest_doc")]
    pub digest: Option<crate::upload::Digest256>,
}

impl Source {
    /// Gives a source read from a document its file back. Only a source that was complete and
    /// hashed comes back (with its bytes, read by `blob` from sha256 and size, when the server
    /// keeps bytes); anything else starts afresh, because its bytes were not saved.
    pub(crate) fn restore(
        &mut self,
        retention: Retention,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        let (Some(_), Some(digest)) = (self.completed_at, &self.digest) else {
            *self = Source::default();
            return;
        };
        let size = digest.size;
        let content = (retention == Retention::Memory)
            .then(|| blob(digest.sha256(), size))
            .flatten();
        let (keying, next) = match &mut self.scheme {
            Scheme::Parts { received, .. } => (
                Keying::Ordinal,
                u64::from(received.keys().next_back().copied().unwrap_or(0)) + 1,
            ),
            Scheme::Bytes { .. } => (Keying::Offset, size),
            scheme @ (Scheme::Whole | Scheme::Fresh) => {
                *scheme = Scheme::Whole;
                (Keying::Offset, size)
            }
        };
        self.assembly = Some(Assembly::restored(keying, retention, next, size, content));
    }
}

/// One `{key, value}` pair of a video's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    pub key: String,
    pub value: String,
}

/// A video: what vidmock keeps, and (through serde) what the state file, the seed file and the
/// admin API hold of it. A field added here is saved, seeded and shown.
///
/// A seed may leave out `videoId` and the dates: [`StoredVideo::fill`] supplies them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredVideo {
    #[serde(rename = "videoId", default)]
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default)]
    pub panoramic: bool,
    #[serde(default = "yes")]
    pub mp4_support: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: Vec<Metadata>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub player_id: Option<String>,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The upload token whose upload created or first filled this video.
    #[serde(default)]
    pub upload_token: Option<String>,
    #[serde(default)]
    pub source: Source,
    /// Its encoding: what its source holds, and what a test did to it.
    #[serde(default, skip_serializing_if = "EncodingState::is_empty")]
    pub encoding: EncodingState,
    /// An uploaded thumbnail, or the instant of the video picked as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<super::assets::Thumbnail>,
    /// Captions by language, in upload order (captions.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captions: Vec<super::captions::StoredCaption>,
    /// Chapters by language, in upload order (chapters.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chapters: Vec<super::chapters::StoredChapter>,
    /// The watermark named at creation (watermarks.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<super::watermarks::VideoWatermark>,
}

fn yes() -> bool {
    true
}

/// A video in the admin API's state and the dashboard: the video, and its upload's progress.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VideoView<'a> {
    #[serde(flatten)]
    video: &'a StoredVideo,
    complete: bool,
    /// How many chunks were accepted.
    chunks: usize,
    received_bytes: u64,
    assembled_bytes: u64,
    received_parts: Vec<u32>,
    total_parts: Option<u32>,
    size: Option<u64>,
    sha256: Option<&'a str>,
}

impl<'a> VideoView<'a> {
    /// The view of `video`; its sha256 is computed here if it was not yet.
    pub(crate) fn of(video: &'a StoredVideo) -> Self {
        let source = &video.source;
        let (received_parts, total_parts) = match &source.scheme {
            Scheme::Parts { total, received } => (received.keys().copied().collect(), *total),
            _ => (Vec::new(), None),
        };
        VideoView {
            video,
            complete: source.completed_at.is_some(),
            chunks: source.chunks.len(),
            received_bytes: source.chunks.iter().map(|c| c.size).sum(),
            assembled_bytes: source.assembly.as_ref().map_or(0, |a| a.consumed()),
            received_parts,
            total_parts,
            size: source.digest.as_ref().map(|d| d.size),
            sha256: source.digest.as_ref().map(|d| d.sha256()),
        }
    }
}

impl StoredVideo {
    pub(crate) fn new(id: String, title: String, now: OffsetDateTime) -> Self {
        Self {
            id,
            title,
            description: String::new(),
            public: true,
            panoramic: false,
            mp4_support: true,
            tags: Vec::new(),
            metadata: Vec::new(),
            language: None,
            player_id: None,
            created_at: now,
            updated_at: now,
            upload_token: None,
            source: Source::default(),
            encoding: EncodingState::default(),
            thumbnail: None,
            captions: Vec::new(),
            chapters: Vec::new(),
            watermark: None,
        }
    }

    /// Supplies what a seed may leave out: an id, and dates (the creation defaults to `now`,
    /// the last change to the creation).
    pub(crate) fn fill(&mut self, ids: &crate::engine::ids::Ids, now: OffsetDateTime) {
        if self.id.is_empty() {
            self.id = ids.base62("vi", 22);
        }
        if crate::engine::clock::is_unset(self.created_at) {
            self.created_at = now;
        }
        if crate::engine::clock::is_unset(self.updated_at) {
            self.updated_at = self.created_at;
        }
    }

    /// The `Video` object of the API; asset URLs point at this server (`base`).
    pub(crate) fn to_json(&self, base: &str) -> Value {
        let id = &self.id;
        let player = format!("{base}/vod/{id}");
        let mut video = json!({
            "videoId": id,
            "createdAt": wire::atom(self.created_at),
            "title": self.title,
            "description": self.description,
            "publishedAt": wire::atom(self.created_at),
            "updatedAt": wire::atom(self.updated_at),
            "discarded": false,
            "discardedAt": null,
            "deletesAt": null,
            "language": self.language,
            "languageOrigin": self.language.as_ref().map(|_| "api"),
            "tags": self.tags,
            "metadata": self.metadata,
            "source": { "uri": format!("/videos/{id}/source") },
            "assets": {
                "iframe": format!("<iframe src=\"{player}\" width=\"100%\" height=\"100%\" frameborder=\"0\" scrolling=\"no\" allowfullscreen=\"\"></iframe>"),
                "player": player,
                "hls": format!("{base}/vod/{id}/hls/manifest.m3u8"),
                "thumbnail": format!("{base}/vod/{id}/thumbnail.jpg"),
                "mp4": format!("{base}/vod/{id}/mp4/source.mp4"),
            },
            "public": self.public,
            "panoramic": self.panoramic,
            "mp4Support": self.mp4_support,
        });
        if let (Some(player_id), Some(object)) = (&self.player_id, video.as_object_mut()) {
            object.insert("playerId".into(), Value::String(player_id.clone()));
        }
        video
    }

    /// The images it keeps: an uploaded thumbnail.
    pub(crate) fn kept_files(&self) -> Option<&crate::upload::kept::KeptFile> {
        match &self.thumbnail {
            Some(super::assets::Thumbnail::Uploaded(image)) => Some(image),
            _ => None,
        }
    }

    /// Gives an uploaded thumbnail read from a document its bytes back.
    pub(crate) fn restore_thumbnail(&mut self, blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>) {
        if let Some(super::assets::Thumbnail::Uploaded(image)) = &mut self.thumbnail {
            image.restore(blob);
        }
    }

    /// What its lifecycle is computed from: the upload's completion (once hashed, so the
    /// probe has run), what the probe found and what a test did.
    pub(crate) fn facts(&self) -> Facts<'_> {
        Facts {
            completed_at: self
                .source
                .completed_at
                .filter(|_| self.source.digest.is_some()),
            state: &self.encoding,
            mp4: self.mp4_support,
        }
    }

    /// The `VideoStatus` object at `now` (OpenAPI `video-status`).
    pub(crate) fn status_json(&self, now: OffsetDateTime, schedule: &EncodingSchedule) -> Value {
        let source = &self.source;
        let received_bytes: Vec<Value> = match &source.scheme {
            Scheme::Bytes { total, ranges } => ranges
                .iter()
                .map(|(from, to)| json!({"from": from, "to": to, "total": total}))
                .collect(),
            Scheme::Whole => source
                .digest
                .iter()
                .map(|d| json!({"from": 0, "to": d.size.saturating_sub(1), "total": d.size}))
                .collect(),
            _ => Vec::new(),
        };
        let (parts, total) = match &source.scheme {
            Scheme::Parts { total, received } => (received.keys().copied().collect(), *total),
            _ => (Vec::new(), None),
        };
        let encoding = self.facts().at(schedule, now);
        let metadata = match &encoding.metadata {
            Some(info) => json!({
                "width": info.width,
                "height": info.height,
                // Kilobits per second, as the document's example (411.218 for a 424x240 film).
                "bitrate": info.bitrate as f64 / 1000.0,
                "duration": info.duration.round() as u64,
                "framerate": info.framerate.round() as u64,
                "samplerate": info.samplerate,
                "videoCodec": info.video_codec,
                "audioCodec": info.audio_codec,
                "aspectRatio": info.aspect_ratio(),
            }),
            None => json!({
                "width": null, "height": null, "bitrate": null, "duration": null,
                "framerate": null, "samplerate": null, "videoCodec": null,
                "audioCodec": null, "aspectRatio": null,
            }),
        };
        json!({
            "ingest": {
                "status": encoding.ingest.as_str(),
                "filesize": source.digest.as_ref().map(|d| d.size),
                "receivedBytes": received_bytes,
                "receivedParts": { "parts": parts, "total": total },
            },
            "encoding": {
                "playable": encoding.playable,
                "qualities": encoding.qualities,
                "metadata": metadata,
            },
        })
    }

    /// Whether some rendition of `format` is encoded at `now`.
    pub(crate) fn is_encoded(
        &self,
        now: OffsetDateTime,
        schedule: &EncodingSchedule,
        format: super::lifecycle::Format,
    ) -> bool {
        self.facts()
            .at(schedule, now)
            .qualities
            .iter()
            .any(|r| r.format == format && r.status == super::lifecycle::QualityStatus::Encoded)
    }
}

/// The attributes of `POST /videos` and `PATCH /videos/{id}`.
#[derive(Debug, Default)]
pub(crate) struct Attributes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
    pub panoramic: Option<bool>,
    pub mp4_support: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Vec<Metadata>>,
    pub language: Option<String>,
    pub player_id: Option<String>,
    /// The `watermark` of a creation, checked against the project's watermarks by the caller.
    pub watermark: Option<Value>,
}

impl Attributes {
    /// Validates a JSON payload; `creating` requires `title`.
    pub(crate) fn parse(body: Option<Value>, creating: bool) -> Result<Self, Problem> {
        let object = match body {
            None => Map::new(),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(Problem::invalid_payload()),
        };
        let text = |name: &str| -> Result<Option<String>, Problem> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Problem::invalid_attribute(
                    name,
                    "This value should be of type string.",
                )),
            }
        };
        let flag = |name: &str| -> Result<Option<bool>, Problem> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(Problem::invalid_attribute(
                    name,
                    "This value should be of type bool.",
                )),
            }
        };
        let tags = match object.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Problem::invalid_attribute("tags", "This value should be of type string.")
                    })?,
            ),
            Some(_) => {
                return Err(Problem::invalid_attribute(
                    "tags",
                    "This value should be of type array.",
                ))
            }
        };
        let metadata = match object.get("metadata") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|m| {
                        match (
                            m.get("key").and_then(Value::as_str),
                            m.get("value").and_then(Value::as_str),
                        ) {
                            (Some(key), Some(value)) => Some(Metadata {
                                key: key.to_owned(),
                                value: value.to_owned(),
                            }),
                            _ => None,
                        }
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Problem::invalid_attribute(
                            "metadata",
                            "Each metadata item needs a string key and a string value.",
                        )
                    })?,
            ),
            Some(_) => {
                return Err(Problem::invalid_attribute(
                    "metadata",
                    "This value should be of type array.",
                ))
            }
        };
        let attributes = Attributes {
            title: text("title")?,
            description: text("description")?,
            public: flag("public")?,
            panoramic: flag("panoramic")?,
            mp4_support: flag("mp4Support")?,
            tags,
            metadata,
            language: text("language")?,
            player_id: text("playerId")?,
            watermark: object
                .get("watermark")
                .filter(|w| creating && !w.is_null())
                .cloned(),
        };
        if creating && attributes.title.as_deref().is_none_or(str::is_empty) {
            return Err(Problem::attribute_required("title"));
        }
        Ok(attributes)
    }

    pub(crate) fn apply(self, video: &mut StoredVideo, now: OffsetDateTime) {
        if let Some(title) = self.title {
            video.title = title;
        }
        if let Some(description) = self.description {
            video.description = description;
        }
        if let Some(public) = self.public {
            video.public = public;
        }
        if let Some(panoramic) = self.panoramic {
            video.panoramic = panoramic;
        }
        if let Some(mp4_support) = self.mp4_support {
            video.mp4_support = mp4_support;
        }
        if let Some(tags) = self.tags {
            video.tags = tags;
        }
        if let Some(metadata) = self.metadata {
            video.metadata = metadata;
        }
        if let Some(language) = self.language {
            video.language = Some(language);
        }
        if let Some(player_id) = self.player_id {
            video.player_id = Some(player_id);
        }
        video.updated_at = now;
    }
}

#[derive(Serialize)]
struct ListBody {
    data: Vec<Value>,
    pagination: Pagination,
}

/// The largest `GET /videos` page vidmock builds, as [`StoredVideo::weight`] measures it. The
/// vendor documents no length for a video's texts, so each is bounded only by the 1 MiB
/// payload that sets it, and a page of 100 videos could otherwise grow to hundreds of MiB.
pub(crate) const MAX_PAGE_BYTES: usize = 32 << 20;

impl StoredVideo {
    /// An upper bound of the bytes of its `Video` JSON: the fixed fields and URLs, and the
    /// texts it holds with every character at its longest escape.
    fn weight(&self, base: &str) -> usize {
        fn text(value: &str) -> usize {
            let escaped = value
                .bytes()
                .filter(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
                .count();
            value.len().saturating_add(escaped.saturating_mul(5)) + 16
        }
        let texts = [&self.title, &self.description]
            .into_iter()
            .chain(&self.tags)
            .chain(self.metadata.iter().flat_map(|m| [&m.key, &m.value]))
            .map(|value| text(value))
            .fold(0usize, usize::saturating_add);
        texts.saturating_add(2048 + 8 * (base.len() + self.id.len()))
    }
}

/// `GET /videos`: filtered (see [`super::filters`]), sorted and paged.
pub(crate) fn list(
    mut videos: Vec<StoredVideo>,
    raw_query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(
        raw_query,
        &["title", "createdAt", "publishedAt", "updatedAt"],
        &[],
    )?;
    let filter = super::filters::VideoFilter::parse(raw_query)?;
    videos.retain(|video| filter.matches(video));
    match query.sort_by {
        Some("title") => videos.sort_by(|a, b| a.title.cmp(&b.title)),
        Some("updatedAt") => videos.sort_by_key(|v| v.updated_at),
        _ => videos.sort_by_key(|v| v.created_at),
    }
    if query.descending == Some(true) {
        videos.reverse();
    }
    // Absolute, as in the document's example for this list (upload tokens' are relative).
    let (page, pagination) = query.page(videos, &format!("{base}/videos"));
    let weight = page
        .iter()
        .map(|video| video.weight(base))
        .fold(0usize, usize::saturating_add);
    if weight > MAX_PAGE_BYTES {
        return Err(Problem::invalid_query_parameter(
            "pageSize",
            format!("The page would be larger than {MAX_PAGE_BYTES} bytes. Ask for fewer items."),
        ));
    }
    let data = page.iter().map(|v| v.to_json(base)).collect();
    Ok(wire::json(StatusCode::OK, &ListBody { data, pagination }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apivideo::assets::Thumbnail;
    use crate::apivideo::lifecycle::Probe;

    #[test]
    fn a_videos_encoding_and_thumbnail_survive_its_saved_form() {
        let mut video = StoredVideo::new("vi1".into(), "talk".into(), OffsetDateTime::UNIX_EPOCH);
        video.encoding = EncodingState {
            probe: Some(Probe::Media(crate::media::MediaInfo {
                width: 640,
                height: 360,
                duration: 1.0,
                bitrate: 212_328,
                framerate: 30.0,
                samplerate: Some(48_000),
                video_codec: Some("h264".into()),
                audio_codec: Some("aac".into()),
            })),
            finished_at: None,
            failed_at: Some(OffsetDateTime::UNIX_EPOCH),
            fails: true,
        };
        video.thumbnail = Some(Thumbnail::Picked {
            timecode: "00:00:01".into(),
            seconds: 1.0,
        });

        let saved = serde_json::to_value(&video).unwrap();
        let back: StoredVideo = serde_json::from_value(saved).unwrap();

        assert_eq!(back.encoding, video.encoding);
        assert_eq!(back.thumbnail, video.thumbnail);
    }

    #[tokio::test]
    async fn an_uploaded_thumbnail_is_saved_as_a_reference_and_restored_from_its_bytes() {
        let jpeg = bytes::Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xE0]);
        let image = crate::upload::kept::KeptFile::keep(
            jpeg.clone(),
            "image/jpeg",
            Retention::Memory,
            None,
        )
        .await;
        let mut video = StoredVideo::new("vi1".into(), "talk".into(), OffsetDateTime::UNIX_EPOCH);
        video.thumbnail = Some(Thumbnail::Uploaded(image));

        let saved = serde_json::to_value(&video).unwrap();
        let mut back: StoredVideo = serde_json::from_value(saved.clone()).unwrap();
        back.restore_thumbnail(&|_, size| (size == 4).then(|| jpeg.clone()));

        assert_eq!(saved["thumbnail"]["kind"], "uploaded");
        assert_eq!(saved["thumbnail"]["contentType"], "image/jpeg");
        assert_eq!(saved["thumbnail"]["size"], 4);
        assert!(saved["thumbnail"].get("jpeg").is_none());
        assert_eq!(back.thumbnail, video.thumbnail);
        assert_eq!(back.kept_files().unwrap().content().unwrap(), &jpeg[..]);
    }

    #[test]
    fn a_video_nothing_happened_to_saves_as_before() {
        let video = StoredVideo::new("vi1".into(), "talk".into(), OffsetDateTime::UNIX_EPOCH);

        let saved = serde_json::to_value(&video).unwrap();

        assert!(saved.get("encoding").is_none());
        assert!(saved.get("thumbnail").is_none());
    }
}
