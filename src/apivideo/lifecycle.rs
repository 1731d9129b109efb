//! A video's life after its upload: ingest, then encoding quality by quality, on the clock.
//!
//! api.video reports a completed upload as `uploaded`, then `ingesting` and `ingested`, and
//! then encodes it into HLS and MP4 renditions, one quality after another, each `waiting`,
//! `encoding`, then `encoded` (OpenAPI `video-status`, `quality`). Integrations poll
//! `GET /videos/{id}/status` or wait for `video.encoding.quality.completed` webhooks, and the
//! video is `playable` from its first encoded quality.
//!
//! Nothing here runs on a timer. Every instant is computed from when the upload completed, the
//! [`EncodingSchedule`] and what a test did (finish now, fail): the status at any instant is a
//! pure function of those, so moving the clock is all it takes, and restoring a state file
//! restores the lifecycle with it. [`encoded_between`] is the one place that says which
//! renditions became encoded in a span of time; events hook there.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::media::MediaInfo;

/// The qualities api.video encodes, with their heights: those the OpenAPI `quality` schema
/// lists (`240p` … `2160p`).
pub(crate) const LADDER: [(&str, u32); 6] = [
    ("240p", 240),
    ("360p", 360),
    ("480p", 480),
    ("720p", 720),
    ("1080p", 1080),
    ("2160p", 2160),
];

/// The quality a source whose size is unknown (bytes not kept) is encoded to: the one the
/// status reported before the lifecycle was modelled.
const UNKNOWN_SOURCE_QUALITY: &str = "720p";

/// How long each step of a video's life takes on the server's clock.
///
/// The upload completes at `t0`; the ingest is `uploaded` until `t0 + ingest_wait`, then
/// `ingesting` for `ingest`; the qualities, lowest first, then encode one after another for
/// `per_quality` each, HLS and MP4 side by side. The first quality is encoded (the video is
/// playable) at `t0 + ingest_wait + ingest + per_quality`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vidmock::apivideo::EncodingSchedule;
///
/// let schedule = EncodingSchedule::default();
/// assert_eq!(schedule.first_playable(), Duration::from_secs(3));
/// let quick = EncodingSchedule::spread(Duration::ZERO);
/// assert_eq!(quick.first_playable(), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingSchedule {
    /// From the last byte to `ingesting`.
    pub ingest_wait: Duration,
    /// From `ingesting` to `ingested`.
    pub ingest: Duration,
    /// The time each quality spends `encoding`.
    pub per_quality: Duration,
    /// Whether a source that is not a media file vidmock reads fails to encode (every
    /// quality `failed`, never playable), as at the vendor. Off by default: tests commonly
    /// upload a few placeholder bytes and expect a playable video, so such a source is
    /// encoded to one quality (`720p`), without metadata, like a source whose bytes were not
    /// kept.
    pub not_media_fails: bool,
}

impl Default for EncodingSchedule {
    /// One second per step: playable 3 s after the upload, as before qualities were modelled.
    fn default() -> Self {
        Self::spread(Duration::from_secs(3))
    }
}

impl EncodingSchedule {
    /// A schedule whose first quality is encoded `first_playable` after the upload, the time
    /// split evenly between the three steps (each later quality takes a third of it too).
    ///
    /// # Example
    ///
    /// ```
    /// let schedule = vidmock::apivideo::EncodingSchedule::spread(std::time::Duration::from_secs(30));
    /// assert_eq!(schedule.per_quality, std::time::Duration::from_secs(10));
    /// ```
    pub fn spread(first_playable: Duration) -> Self {
        let third = first_playable / 3;
        Self {
            ingest_wait: third,
            ingest: third,
            per_quality: first_playable.saturating_sub(third * 2),
            not_media_fails: false,
        }
    }

    /// How long after its upload a video is first playable.
    ///
    /// # Example
    ///
    /// ```
    /// let schedule = vidmock::apivideo::EncodingSchedule::default();
    /// assert_eq!(schedule.first_playable(), std::time::Duration::from_secs(3));
    /// ```
    pub fn first_playable(&self) -> Duration {
        self.ingest_wait + self.ingest + self.per_quality
    }
}

/// What the probe found in a video's source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Probe {
    /// A media file, with its figures.
    Media(MediaInfo),
    /// Bytes that are not a media file vidmock reads: every quality fails.
    NotMedia,
    /// No bytes were kept to read (digest-only retention): encoded to one quality, without
    /// metadata.
    Unread,
}

/// What a test did to, and the probe found of, one video's encoding. Saved with the video.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EncodingState {
    /// `None` until the completed source has been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// Set by "finish encoding now": every quality not failed by then is encoded from here on.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<OffsetDateTime>,
    /// Set by "fail encoding": every quality not encoded by then is `failed` from here on.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub failed_at: Option<OffsetDateTime>,
    /// Scripted to fail when its upload completed (a `failProcessing` fault): once ingested,
    /// every quality is `failed`, as for a file that is not media.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fails: bool,
}

impl EncodingState {
    pub(crate) fn is_empty(&self) -> bool {
        self == &EncodingState::default()
    }
}

/// The two kinds of rendition.
///
/// # Example
///
/// ```
/// assert_eq!(vidmock::apivideo::Format::Hls.as_str(), "hls");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// HTTP Live Streaming.
    Hls,
    /// A progressive MP4 download.
    Mp4,
}

impl Format {
    /// The name on the wire (`hls`, `mp4`).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::apivideo::Format::Mp4.as_str(), "mp4");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Hls => "hls",
            Format::Mp4 => "mp4",
        }
    }
}

/// Where one rendition is in its life.
///
/// # Example
///
/// ```
/// assert_eq!(vidmock::apivideo::QualityStatus::Encoded.as_str(), "encoded");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityStatus {
    /// Not started.
    Waiting,
    /// Being encoded.
    Encoding,
    /// Done: this rendition plays.
    Encoded,
    /// Will never be encoded.
    Failed,
}

impl QualityStatus {
    /// The name on the wire.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::apivideo::QualityStatus::Waiting.as_str(), "waiting");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            QualityStatus::Waiting => "waiting",
            QualityStatus::Encoding => "encoding",
            QualityStatus::Encoded => "encoded",
            QualityStatus::Failed => "failed",
        }
    }
}

/// One rendition of a video and where it is.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let video = server.apivideo().create_video("empty");
/// assert!(video.encoding.qualities.is_empty());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rendition {
    /// HLS or MP4.
    #[serde(rename = "type")]
    pub format: Format,
    /// `240p` … `2160p`.
    pub quality: &'static str,
    /// Where it is.
    pub status: QualityStatus,
}

/// The ingest's status, as `video-status-ingest` names them.
///
/// # Example
///
/// ```
/// assert_eq!(vidmock::apivideo::IngestStatus::Ingested.as_str(), "ingested");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// Bytes are still expected.
    Uploading,
    /// Every byte arrived.
    Uploaded,
    /// The source is being stored.
    Ingesting,
    /// The source is stored; encoding can start.
    Ingested,
}

impl IngestStatus {
    /// The name on the wire.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::apivideo::IngestStatus::Uploading.as_str(), "uploading");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            IngestStatus::Uploading => "uploading",
            IngestStatus::Uploaded => "uploaded",
            IngestStatus::Ingesting => "ingesting",
            IngestStatus::Ingested => "ingested",
        }
    }
}

/// A video's encoding at one instant.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let video = server.apivideo().create_video("empty");
/// assert_eq!(video.encoding.ingest, vidmock::apivideo::IngestStatus::Uploading);
/// assert!(!video.encoding.playable);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Encoding {
    /// The ingest's status.
    pub ingest: IngestStatus,
    /// Every rendition: HLS qualities lowest first, then MP4 ones.
    pub qualities: Vec<Rendition>,
    /// Whether some rendition is encoded.
    pub playable: bool,
    /// What the source holds, once ingested (`None` before, and for files that are not media).
    pub metadata: Option<MediaInfo>,
}

/// "Quality `quality` of `format` for video `video_id` became encoded at `at`": the event
/// api.video announces with a `video.encoding.quality.completed` webhook.
///
/// # Example
///
/// ```
/// let event = vidmock::apivideo::QualityEncoded {
///     video_id: "vi4blUQJFrYWbaG44NChkH27".into(),
///     format: vidmock::apivideo::Format::Hls,
///     quality: "720p",
///     at: time::OffsetDateTime::UNIX_EPOCH,
/// };
/// assert_eq!(event.format.as_str(), "hls");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualityEncoded {
    /// The video.
    pub video_id: String,
    /// HLS or MP4.
    pub format: Format,
    /// `240p` … `2160p`.
    pub quality: &'static str,
    /// When it became encoded, on the server's clock.
    pub at: OffsetDateTime,
}

/// The facts a video's lifecycle is computed from.
pub(crate) struct Facts<'a> {
    /// When the last byte arrived and was hashed; `None` while uploading.
    pub completed_at: Option<OffsetDateTime>,
    pub state: &'a EncodingState,
    /// Whether MP4 renditions are made.
    pub mp4: bool,
}

impl Facts<'_> {
    fn ingesting_at(&self, schedule: &EncodingSchedule) -> Option<OffsetDateTime> {
        Some(self.completed_at? + schedule.ingest_wait)
    }

    fn ingested_at(&self, schedule: &EncodingSchedule) -> Option<OffsetDateTime> {
        Some(self.completed_at? + schedule.ingest_wait + schedule.ingest)
    }

    /// The qualities to encode, lowest first: those up to the source's shorter side (a
    /// portrait 1080×1920 is a 1080p video), at least the lowest.
    fn qualities(&self, schedule: &EncodingSchedule) -> Vec<&'static str> {
        match &self.state.probe {
            Some(Probe::Media(info)) => {
                let short = info.width.min(info.height);
                let mut up_to: Vec<&'static str> = LADDER
                    .iter()
                    .filter(|(_, height)| *height <= short)
                    .map(|(name, _)| *name)
                    .collect();
                if up_to.is_empty() {
                    up_to.push(LADDER[0].0);
                }
                up_to
            }
            Some(Probe::NotMedia) if schedule.not_media_fails => vec![LADDER[0].0],
            Some(Probe::NotMedia | Probe::Unread) | None => vec![UNKNOWN_SOURCE_QUALITY],
        }
    }

    fn formats(&self) -> &'static [Format] {
        if self.mp4 {
            &[Format::Hls, Format::Mp4]
        } else {
            &[Format::Hls]
        }
    }

    /// When the `index`th quality (lowest first) starts encoding and would be encoded, on the
    /// schedule alone.
    fn window(
        &self,
        schedule: &EncodingSchedule,
        index: u32,
    ) -> Option<(OffsetDateTime, OffsetDateTime)> {
        let start = self.ingested_at(schedule)? + schedule.per_quality * index;
        Some((start, start + schedule.per_quality))
    }

    /// When the `index`th quality is encoded, if it ever is: on the schedule, or when encoding
    /// was finished early, unless it failed first (a file that is not media always fails).
    fn encoded_at(&self, schedule: &EncodingSchedule, index: u32) -> Option<OffsetDateTime> {
        if self.fails_once_ingested(schedule) {
            return None;
        }
        let (_, natural) = self.window(schedule, index)?;
        let at = match self.state.finished_at {
            Some(finished) => natural.min(finished),
            None => natural,
        };
        match self.state.failed_at {
            Some(failed) if failed < at => None,
            _ => Some(at),
        }
    }

    /// When the `index`th quality fails, if it does.
    fn failed_at(&self, schedule: &EncodingSchedule, index: u32) -> Option<OffsetDateTime> {
        if self.encoded_at(schedule, index).is_some() {
            return None;
        }
        if self.fails_once_ingested(schedule) {
            return self.ingested_at(schedule);
        }
        self.state.failed_at
    }

    /// Whether every quality fails once ingested: a scripted failure, or a file that is not
    /// media when the schedule says such files fail.
    fn fails_once_ingested(&self, schedule: &EncodingSchedule) -> bool {
        self.state.fails
            || (schedule.not_media_fails && matches!(self.state.probe, Some(Probe::NotMedia)))
    }

    /// The encoding at `now`.
    pub(crate) fn at(&self, schedule: &EncodingSchedule, now: OffsetDateTime) -> Encoding {
        let Some(_) = self.completed_at else {
            return Encoding {
                ingest: IngestStatus::Uploading,
                qualities: Vec::new(),
                playable: false,
                metadata: None,
            };
        };
        // Finishing early finishes the ingest too.
        let finished = self.state.finished_at.is_some_and(|at| at <= now);
        let ingest = if finished || self.ingested_at(schedule).is_some_and(|at| at <= now) {
            IngestStatus::Ingested
        } else if self.ingesting_at(schedule).is_some_and(|at| at <= now) {
            IngestStatus::Ingesting
        } else {
            IngestStatus::Uploaded
        };
        let mut qualities = Vec::new();
        for &format in self.formats() {
            for (index, quality) in (0u32..).zip(self.qualities(schedule)) {
                let status = if self.encoded_at(schedule, index).is_some_and(|at| at <= now) {
                    QualityStatus::Encoded
                } else if self.failed_at(schedule, index).is_some_and(|at| at <= now) {
                    QualityStatus::Failed
                } else if self
                    .window(schedule, index)
                    .is_some_and(|(start, _)| start <= now)
                {
                    QualityStatus::Encoding
                } else {
                    QualityStatus::Waiting
                };
                qualities.push(Rendition {
                    format,
                    quality,
                    status,
                });
            }
        }
        let playable = qualities.iter().any(|r| r.status == QualityStatus::Encoded);
        let metadata = match &self.state.probe {
            Some(Probe::Media(info)) if ingest == IngestStatus::Ingested => Some(info.clone()),
            _ => None,
        };
        Encoding {
            ingest,
            qualities,
            playable,
            metadata,
        }
    }

    /// The renditions that became encoded after `from` and at or before `to`, in the order
    /// they did.
    pub(crate) fn encoded_between(
        &self,
        video_id: &str,
        schedule: &EncodingSchedule,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Vec<QualityEncoded> {
        let mut events = Vec::new();
        for (index, quality) in (0u32..).zip(self.qualities(schedule)) {
            let Some(at) = self.encoded_at(schedule, index) else {
                continue;
            };
            if from < at && at <= to {
                for &format in self.formats() {
                    events.push(QualityEncoded {
                        video_id: video_id.to_owned(),
                        format,
                        quality,
                        at,
                    });
                }
            }
        }
        events.sort_by_key(|event| event.at);
        events
    }
}

/// Which renditions of `video` became encoded in the span `(from, to]` of the server's clock,
/// under `schedule`: the one place that says "quality Q of format F for video V became
/// encoded". Whatever announces encodings (webhooks) calls this with the span the clock moved
/// through, and gets each rendition exactly once across consecutive spans.
pub(crate) fn encoded_between(
    video: &super::videos::StoredVideo,
    schedule: &EncodingSchedule,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Vec<QualityEncoded> {
    video.facts().encoded_between(&video.id, schedule, from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: u32, height: u32) -> MediaInfo {
        MediaInfo {
            width,
            height,
            duration: 2.0,
            bitrate: 100_000,
            framerate: 25.0,
            samplerate: None,
            video_codec: Some("h264".into()),
            audio_codec: None,
        }
    }

    fn at(seconds: u64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn statuses(encoding: &Encoding) -> Vec<String> {
        encoding
            .qualities
            .iter()
            .map(|r| format!("{} {} {}", r.format.as_str(), r.quality, r.status.as_str()))
            .collect()
    }

    #[test]
    fn a_720p_source_walks_through_ingest_then_four_qualities_one_after_another() {
        let state = EncodingState {
            probe: Some(Probe::Media(info(1280, 720))),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(100)),
            state: &state,
            mp4: false,
        };
        let schedule = EncodingSchedule::default();

        assert_eq!(facts.at(&schedule, at(100)).ingest, IngestStatus::Uploaded);
        assert_eq!(facts.at(&schedule, at(101)).ingest, IngestStatus::Ingesting);
        let ingested = facts.at(&schedule, at(102));
        assert_eq!(ingested.ingest, IngestStatus::Ingested);
        assert!(!ingested.playable);
        assert_eq!(
            statuses(&ingested),
            [
                "hls 240p encoding",
                "hls 360p waiting",
                "hls 480p waiting",
                "hls 720p waiting"
            ]
        );
        let playable = facts.at(&schedule, at(103));
        assert!(playable.playable);
        assert_eq!(
            statuses(&playable)[..2],
            ["hls 240p encoded", "hls 360p encoding"]
        );
        assert!(facts
            .at(&schedule, at(106))
            .qualities
            .iter()
            .all(|r| r.status == QualityStatus::Encoded));
    }

    #[test]
    fn each_rendition_is_announced_once_across_consecutive_spans() {
        let state = EncodingState {
            probe: Some(Probe::Media(info(640, 360))),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: true,
        };
        let schedule = EncodingSchedule::default();

        let first = facts.encoded_between("vi1", &schedule, at(0), at(3));
        let second = facts.encoded_between("vi1", &schedule, at(3), at(100));

        let names = |events: &[QualityEncoded]| -> Vec<String> {
            events
                .iter()
                .map(|e| format!("{} {}", e.format.as_str(), e.quality))
                .collect()
        };
        assert_eq!(names(&first), ["hls 240p", "mp4 240p"]);
        assert_eq!(names(&second), ["hls 360p", "mp4 360p"]);
    }

    #[test]
    fn failing_keeps_what_was_encoded_and_fails_the_rest() {
        let state = EncodingState {
            probe: Some(Probe::Media(info(854, 480))),
            failed_at: Some(at(3)),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: false,
        };

        let encoding = facts.at(&EncodingSchedule::default(), at(60));

        assert_eq!(
            statuses(&encoding),
            ["hls 240p encoded", "hls 360p failed", "hls 480p failed"]
        );
        assert!(encoding.playable);
    }

    #[test]
    fn a_file_that_is_not_media_is_encoded_to_one_quality_unless_told_to_fail() {
        let state = EncodingState {
            probe: Some(Probe::NotMedia),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: false,
        };

        let later = facts.at(&EncodingSchedule::default(), at(60));

        assert_eq!(statuses(&later), ["hls 720p encoded"]);
        assert_eq!(later.metadata, None);
    }

    #[test]
    fn a_file_that_is_not_media_fails_once_ingested() {
        let state = EncodingState {
            probe: Some(Probe::NotMedia),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: true,
        };
        let schedule = EncodingSchedule {
            not_media_fails: true,
            ..EncodingSchedule::default()
        };

        assert_eq!(
            statuses(&facts.at(&schedule, at(1))),
            ["hls 240p waiting", "mp4 240p waiting"]
        );
        let later = facts.at(&schedule, at(60));
        assert_eq!(statuses(&later), ["hls 240p failed", "mp4 240p failed"]);
        assert!(!later.playable);
        assert_eq!(later.metadata, None);
        assert!(facts
            .encoded_between("vi1", &schedule, at(0), at(60))
            .is_empty());
    }

    #[test]
    fn a_scripted_failure_fails_every_quality_once_ingested() {
        let state = EncodingState {
            probe: Some(Probe::Media(info(640, 360))),
            fails: true,
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: true,
        };
        let schedule = EncodingSchedule::spread(Duration::ZERO);

        let encoding = facts.at(&schedule, at(0));

        assert_eq!(encoding.ingest, IngestStatus::Ingested);
        assert_eq!(
            statuses(&encoding),
            [
                "hls 240p failed",
                "hls 360p failed",
                "mp4 240p failed",
                "mp4 360p failed"
            ]
        );
        assert!(!encoding.playable);
        assert!(facts
            .encoded_between("vi1", &schedule, at(0), at(60))
            .is_empty());
    }

    #[test]
    fn finishing_now_encodes_every_quality_at_once() {
        let state = EncodingState {
            probe: Some(Probe::Media(info(1920, 1080))),
            finished_at: Some(at(1)),
            ..EncodingState::default()
        };
        let facts = Facts {
            completed_at: Some(at(0)),
            state: &state,
            mp4: false,
        };

        let encoding = facts.at(&EncodingSchedule::default(), at(1));

        assert_eq!(encoding.ingest, IngestStatus::Ingested);
        assert_eq!(encoding.qualities.len(), 5);
        assert!(encoding
            .qualities
            .iter()
            .all(|r| r.status == QualityStatus::Encoded));
    }

    #[test]
    fn a_tiny_or_portrait_source_is_encoded_by_its_shorter_side() {
        let tiny = EncodingState {
            probe: Some(Probe::Media(info(160, 120))),
            ..EncodingState::default()
        };
        let portrait = EncodingState {
            probe: Some(Probe::Media(info(1080, 1920))),
            ..EncodingState::default()
        };
        let facts = |state| Facts {
            completed_at: Some(at(0)),
            state,
            mp4: false,
        };

        let schedule = EncodingSchedule::default();
        assert_eq!(facts(&tiny).qualities(&schedule), ["240p"]);
        assert_eq!(
            facts(&portrait).qualities(&schedule),
            ["240p", "360p", "480p", "720p", "1080p"]
        );
    }
}
