//! An entry's life after its file arrives, on the server's clock: IMPORT, then PRECONVERT while
//! its flavors convert, then READY (or ERROR_CONVERTING when a test scripts it).
//!
//! Why on the clock rather than on timers: a test moves time forward instead of sleeping, and a
//! state file restored later finds every entry where the clock says it is. Nothing runs in the
//! background: [`Tenant::advance`] applies the transitions that are due whenever the partner's
//! state is read (every Kaltura call, the admin state, the Rust API), and a partner remembers
//! its next deadline so that a call with nothing due costs one comparison.
//!
//! Every status change of an entry goes through [`set_status`], the one place to hook what must
//! follow one (a notification that an entry is ready, say). Flavors follow their entry there
//! too: the source flavor is IMPORTING (7) while the entry imports and READY once it is
//! validated; converted flavors WAIT_FOR_CONVERT (6) while the source imports, CONVERTING (1)
//! during PRECONVERT, and READY (2) — or ERROR (-1) — with the entry
//! (`KalturaEntryService::attachLocalFileResource`, `asset::ASSET_STATUS_*`).
//!
//! vidmock does not transcode: every flavor serves the uploaded bytes; a converted flavor's
//! width, height and bitrate are its flavor params' targets, capped by the source.

use std::time::Duration;

use time::OffsetDateTime;

use super::store::{EntryStatus, StoredEntry, Tenant, ENTRY_TYPE_MEDIA_CLIP};
use crate::engine::ids::Ids;

/// How long an entry spends in IMPORT and in PRECONVERT once its file has arrived. Zero (the
/// default) makes an entry READY in the very call that gives it its file, as vidmock always
/// did; set them with [`crate::MockServerBuilder::kaltura_conversion_delays`].
///
/// # Example
///
/// ```
/// let delays = vidmock::kaltura::ConversionDelays::default();
/// assert!(delays.import.is_zero() && delays.convert.is_zero());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConversionDelays {
    /// IMPORT: from the file's arrival until the source flavor is READY.
    pub import: Duration,
    /// PRECONVERT: from then until the converted flavors (and the entry) are READY.
    pub convert: Duration,
}

/// `KalturaFlavorAssetStatus` values.
pub(crate) mod flavor_status {
    pub const ERROR: i64 = -1;
    pub const CONVERTING: i64 = 1;
    pub const READY: i64 = 2;
    pub const WAIT_FOR_CONVERT: i64 = 6;
    pub const IMPORTING: i64 = 7;
}

/// `KalturaEntryReplacementStatus` values.
pub(crate) mod replacement_status {
    pub const NONE: i64 = 0;
    pub const APPROVED_BUT_NOT_READY: i64 = 1;
    pub const FAILED: i64 = 4;
}

/// A flavor params of the default conversion profile: id, target height, bitrate (kbps).
pub(crate) struct FlavorParams {
    pub id: i64,
    pub height: i64,
    pub bitrate: i64,
}

/// The id of every partner's default conversion profile (`conversionProfile.get`), whose
/// flavors every video entry gets.
///
/// # Example
///
/// ```
/// assert_eq!(vidmock::kaltura::DEFAULT_CONVERSION_PROFILE_ID, 1001);
/// ```
pub const DEFAULT_CONVERSION_PROFILE_ID: i64 = 1001;

/// The flavor params of the default conversion profile, source first (id 0 is the source, as
/// on every Kaltura server; the others are the SaaS defaults' web flavors).
pub(crate) const DEFAULT_FLAVOR_PARAMS: &[FlavorParams] = &[
    FlavorParams {
        id: 0,
        height: 0,
        bitrate: 0,
    },
    // "Basic/Small - WEB/MBL (H264/400)"
    FlavorParams {
        id: 487041,
        height: 360,
        bitrate: 400,
    },
    // "Basic/Small - WEB/MBL (H264/600)"
    FlavorParams {
        id: 487051,
        height: 360,
        bitrate: 600,
    },
    // "SD/Small - WEB/MBL (H264/900)"
    FlavorParams {
        id: 487061,
        height: 480,
        bitrate: 900,
    },
];

/// What was read of the uploaded file: duration and picture size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MediaInfo {
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub bitrate_kbps: Option<u64>,
}

/// A flavor asset of an entry, as the state file, the seed and the admin state hold it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredFlavor {
    pub id: String,
    pub flavor_params_id: i64,
    /// `KalturaFlavorAssetStatus`.
    pub status: i64,
    #[serde(default)]
    pub is_original: bool,
    #[serde(default)]
    pub width: i64,
    #[serde(default)]
    pub height: i64,
    #[serde(default)]
    pub bitrate: i64,
    #[serde(default)]
    pub size_bytes: u64,
    #[serde(default)]
    pub file_ext: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An entry's conversion in progress: when each stage ends, and whether it fails.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Conversion {
    /// When IMPORT ends and PRECONVERT starts.
    #[serde(with = "time::serde::rfc3339")]
    pub preconvert_at: OffsetDateTime,
    /// When PRECONVERT ends (READY, or ERROR_CONVERTING).
    #[serde(with = "time::serde::rfc3339")]
    pub done_at: OffsetDateTime,
    /// Scripted: the conversion ends in ERROR_CONVERTING.
    #[serde(default)]
    pub fails: bool,
}

/// What starting a conversion needs of the server.
pub(crate) struct Starter<'a> {
    pub delays: ConversionDelays,
    pub ids: &'a Ids,
}

/// A change of an entry's status, kept on the entry until the call that made it ends and
/// `notifications::flush` turns it into the event notifications its partner's templates ask
/// for.
#[derive(Clone, Debug)]
pub(crate) struct StatusChange {
    /// The entry as it is just after the change (its own `changes` empty).
    pub entry: Box<StoredEntry>,
    /// The status it had before.
    pub from: EntryStatus,
    /// When the change happens, on the clock (in the future for a conversion step queued when
    /// the conversion starts).
    pub at: OffsetDateTime,
}

/// Sets an entry's status: THE one place where an entry's status changes after `media.add`
/// created it (attached, importing, converting, ready, failed, deleted, restored), and so where
/// a notification of "entry ready" or "entry status changed" starts: a change is recorded on
/// the entry (`StoredEntry::changes`). Its flavors follow it.
pub(crate) fn set_status(entry: &mut StoredEntry, status: EntryStatus, now: OffsetDateTime) {
    let from = entry.status;
    apply_status(entry, status, now);
    if from != status {
        let mut after = entry.clone();
        after.changes.clear();
        entry.changes.push(StatusChange {
            entry: Box::new(after),
            from,
            at: now,
        });
    }
}

fn apply_status(entry: &mut StoredEntry, status: EntryStatus, now: OffsetDateTime) {
    let (source, converted) = match status {
        EntryStatus::Import => (flavor_status::IMPORTING, flavor_status::WAIT_FOR_CONVERT),
        EntryStatus::Preconvert => (flavor_status::READY, flavor_status::CONVERTING),
        EntryStatus::Ready => (flavor_status::READY, flavor_status::READY),
        EntryStatus::ErrorConverting => (flavor_status::READY, flavor_status::ERROR),
        _ => {
            entry.status = status;
            entry.updated_at = now;
            return;
        }
    };
    for flavor in &mut entry.flavors {
        let wanted = if flavor.is_original {
            source
        } else {
            converted
        };
        if flavor.status != wanted {
            flavor.status = wanted;
            flavor.updated_at = now;
        }
    }
    entry.updated_at = now;
    entry.status = status;
    if matches!(status, EntryStatus::Ready | EntryStatus::ErrorConverting) {
        entry.conversion = None;
    }
}

/// The entry's file has arrived (`size` bytes, read as `media`): its flavors are made from
/// the default conversion profile and its conversion starts (IMPORT). `fails` scripts an
/// ERROR_CONVERTING end.
pub(crate) fn begin(
    entry: &mut StoredEntry,
    size: u64,
    media: MediaInfo,
    file_ext: &str,
    fails: bool,
    starter: &Starter<'_>,
    now: OffsetDateTime,
) {
    if entry.entry_type != ENTRY_TYPE_MEDIA_CLIP || entry.media_type == Some(2) {
        // Images, data and documents are not converted here: ready once the file is in.
        entry.media = Some(media);
        set_status(entry, EntryStatus::Ready, now);
        return;
    }
    let source_id = entry
        .source_flavor_id
        .get_or_insert_with(|| starter.ids.hex("0_", 8))
        .clone();
    let mut flavors = Vec::new();
    for params in DEFAULT_FLAVOR_PARAMS {
        let original = params.id == 0;
        if !original && entry.media_type != Some(1) {
            // Audio keeps only its source here.
            continue;
        }
        let id = if original {
            source_id.clone()
        } else {
            starter.ids.hex("0_", 8)
        };
        let (w, h, bitrate) = (0, 0, params.bitrate);
        flavors.push(StoredFlavor {
            id,
            flavor_params_id: params.id,
            status: flavor_status::IMPORTING,
            is_original: original,
            width: w,
            height: h,
            bitrate,
            size_bytes: size,
            file_ext: file_ext.to_owned(),
            created_at: now,
            updated_at: now,
        });
    }
    entry.flavors = flavors;
    apply_media(entry, media);
    entry.flavor_params_ids = entry
        .flavors
        .iter()
        .map(|f| f.flavor_params_id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let preconvert_at = now + starter.delays.import;
    entry.conversion = Some(Conversion {
        preconvert_at,
        done_at: preconvert_at + starter.delays.convert,
        fails,
    });
    set_status(entry, EntryStatus::Import, now);
    step(entry, now);
    // The steps still to come are due on the clock, when no call may be there to apply them:
    // their changes are recorded now, each at the instant it will happen, so that their
    // notifications are queued for then (as api.video's events are queued at upload).
    if let Some(done_at) = entry.conversion.as_ref().map(|c| c.done_at) {
        let mut future = entry.clone();
        future.changes.clear();
        step(&mut future, done_at);
        entry.changes.append(&mut future.changes);
    }
}

/// Applies the transitions of `entry` that are due at `now`.
pub(crate) fn step(entry: &mut StoredEntry, now: OffsetDateTime) {
    let Some(conversion) = entry.conversion.clone() else {
        return;
    };
    if entry.status == EntryStatus::Deleted {
        entry.conversion = None;
        return;
    }
    if now >= conversion.preconvert_at && entry.status == EntryStatus::Import {
        set_status(entry, EntryStatus::Preconvert, conversion.preconvert_at);
    }
    if now >= conversion.done_at {
        let end = if conversion.fails {
            EntryStatus::ErrorConverting
        } else {
            EntryStatus::Ready
        };
        set_status(entry, end, conversion.done_at);
    }
}

/// The next instant something is due for `entry`, if any.
fn next_due(entry: &StoredEntry) -> Option<OffsetDateTime> {
    let conversion = entry.conversion.as_ref()?;
    Some(if entry.status == EntryStatus::Import {
        conversion.preconvert_at
    } else {
        conversion.done_at
    })
}

impl Tenant {
    /// Applies every transition due at `now`, then replacements whose new content is done.
    pub(crate) fn advance(&mut self, now: OffsetDateTime) {
        if self.due.is_some_and(|due| now < due) {
            return;
        }
        let mut finished: Vec<String> = Vec::new();
        let mut due: Option<OffsetDateTime> = None;
        let converting: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.conversion.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in converting {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            // These steps' changes were recorded when the conversion started (`begin`).
            let recorded = entry.changes.len();
            step(entry, now);
            entry.changes.truncate(recorded);
            if entry.conversion.is_none() && entry.replaced_entry_id.is_some() {
                finished.push(entry.id.clone());
            }
            if let Some(at) = next_due(entry) {
                due = Some(due.map_or(at, |d| d.min(at)));
            }
        }
        self.due = Some(due.unwrap_or(OffsetDateTime::new_utc(
            time::Date::MAX,
            time::Time::MIDNIGHT,
        )));
        for temp in finished {
            self.finish_replacement(&temp, now);
        }
    }

    /// Notes that something may be due at once (a new conversion, a restored state).
    pub(crate) fn wake(&mut self) {
        self.due = None;
    }

    /// The replacement entry `temp_id` is done converting: on READY its content and flavors
    /// become the original's and it is deleted; on ERROR_CONVERTING the original's replacement
    /// FAILED (`kFlowHelper::handleEntryReplacement`, auto-approved as a partner without
    /// `FEATURE_ENTRY_REPLACEMENT_APPROVAL` is).
    pub(crate) fn finish_replacement(&mut self, temp_id: &str, now: OffsetDateTime) {
        let Some(temp) = self.entries.get(temp_id).cloned() else {
            return;
        };
        let Some(original_id) = temp.replaced_entry_id.clone() else {
            return;
        };
        let Some(original) = self.entries.get_mut(&original_id) else {
            return;
        };
        if original.replacing_entry_id.as_deref() != Some(temp_id) {
            return;
        }
        match temp.status {
            EntryStatus::Ready => {
                original.flavors = temp.flavors.clone();
                original.source_flavor_id = temp.source_flavor_id.clone();
                original.flavor_params_ids = temp.flavor_params_ids.clone();
                original.media = temp.media;
                original.upload_token_id = temp.upload_token_id.clone();
                original.replacing_entry_id = None;
                original.replacement_status = replacement_status::NONE;
                original.version += 1;
                original.updated_at = now;
                for flavor in &mut original.flavors {
                    flavor.updated_at = now;
                }
                if let Some(temp) = self.entries.get_mut(temp_id) {
                    temp.flavors.clear();
                    set_status(temp, EntryStatus::Deleted, now);
                }
            }
            EntryStatus::ErrorConverting => {
                original.replacement_status = replacement_status::FAILED;
                original.updated_at = now;
            }
            _ => {}
        }
    }

    /// Ends the conversion of entry `id` now, READY or (`fails`) ERROR_CONVERTING; `false` when
    /// the partner has no such entry or it has no file yet.
    pub(crate) fn end_conversion(&mut self, id: &str, fails: bool, now: OffsetDateTime) -> bool {
        let Some(entry) = self
            .entries
            .get_mut(id)
            .filter(|e| e.status != EntryStatus::Deleted && e.media.is_some())
        else {
            return false;
        };
        entry.conversion = Some(Conversion {
            preconvert_at: now,
            done_at: now,
            fails,
        });
        step(entry, now);
        let replaced = entry.replaced_entry_id.is_some();
        if replaced {
            self.finish_replacement(id, now);
        }
        true
    }
}

/// What the shared media probe (`crate::media`) reads of a finished upload: its duration,
/// picture size and bitrate; `None` when its bytes are not kept or it is not an MP4/MOV file
/// (its entry then answers zeros, as the server does without media info).
pub(crate) fn probe_file(file: &crate::upload::Assembly) -> Option<MediaInfo> {
    let info = crate::media::probe_upload(file)?.ok()?;
    let has_picture = info.width > 0 && info.height > 0;
    Some(MediaInfo {
        duration_ms: Some((info.duration * 1000.0).round() as u64),
        width: has_picture.then_some(info.width),
        height: has_picture.then_some(info.height),
        bitrate_kbps: Some(info.bitrate / 1000),
    })
}

/// Gives `entry` what was read of its file: its duration and size, and its flavors' sizes.
pub(crate) fn apply_media(entry: &mut StoredEntry, media: MediaInfo) {
    entry.media = Some(media);
    let (width, height) = (
        media.width.map_or(0, i64::from),
        media.height.map_or(0, i64::from),
    );
    for flavor in &mut entry.flavors {
        if flavor.is_original {
            flavor.width = width;
            flavor.height = height;
            flavor.bitrate = media
                .bitrate_kbps
                .map_or(0, |b| i64::try_from(b).unwrap_or(0));
        } else if let Some(params) = DEFAULT_FLAVOR_PARAMS
            .iter()
            .find(|p| p.id == flavor.flavor_params_id)
        {
            let (w, h) = scaled(width, height, params.height);
            flavor.width = w;
            flavor.height = h;
        }
    }
}

/// A converted flavor's picture: the params' height, capped by the source's, at the source's
/// aspect (even width, as H.264 wants).
fn scaled(width: i64, height: i64, target: i64) -> (i64, i64) {
    if height <= 0 {
        return (0, target);
    }
    let h = target.min(height);
    let w = width * h / height;
    (w + w % 2, h)
}

impl Tenant {
    /// The file of token `token_id` has been read: the entry that took it gets what was read.
    pub(crate) fn media_read(&mut self, token_id: &str, media: Option<MediaInfo>) {
        let Some(media) = media else {
            return;
        };
        let id = self
            .entries
            .iter()
            .find(|(_, e)| e.upload_token_id.as_deref() == Some(token_id) && e.media.is_some())
            .map(|(id, _)| id.clone());
        if let Some(entry) = id.and_then(|id| self.entries.get_mut(&id)) {
            apply_media(entry, media);
            // The notifications of its status changes not yet queued show it too.
            for change in &mut entry.changes {
                apply_media(&mut change.entry, media);
            }
        }
    }
}
