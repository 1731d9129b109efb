//! Upload tokens and media entries: the state the `uploadToken`, `media` and `baseEntry`
//! services share, per partner, and the read-only views tests get from `server.kaltura()`.
//!
//! Why one lock for all of it: a call that completes a token may close it and make its entry
//! ready in the same breath (../shared/specs/kaltura.md §4.8), so tokens and entries change
//! together. The lock is a `std::sync::Mutex` held only for bookkeeping, never across an
//! `.await`: a token's bytes live in its [`Assembly`], which orders and hashes them outside this
//! lock, and a final chunk waiting for the chunks before it waits on the assembly, not here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::engine::tracked::Tracked;
use bytes::Bytes;
use time::OffsetDateTime;

use super::Kaltura;
use crate::upload::{Assembly, Digest256, Retention};

/// How long a verified final chunk waits, by default, for the chunks before it to arrive (the
/// real server waits about 45 s; the official Python client gives up on an upload after 10 s).
/// Change it with [`crate::MockServerBuilder::kaltura_final_chunk_wait`].
///
/// # Example
///
/// ```
/// assert_eq!(vidmock::kaltura::DEFAULT_FINAL_CHUNK_WAIT.as_secs(), 5);
/// ```
pub const DEFAULT_FINAL_CHUNK_WAIT: Duration = Duration::from_secs(5);

/// `KalturaUploadTokenStatus`.
///
/// # Example
///
/// ```
/// use vidmock::kaltura::UploadTokenStatus;
/// assert_eq!(UploadTokenStatus::Closed.code(), 3);
/// assert_eq!(UploadTokenStatus::FullUpload.name(), "FULL_UPLOAD");
/// ```
///
/// In the state and seed files it is its number; a seed may give its name instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UploadTokenStatus {
    /// 0: created, nothing uploaded yet.
    #[default]
    Pending,
    /// 1: some chunks received, not finished.
    PartialUpload,
    /// 2: the file is complete.
    FullUpload,
    /// 3: the file was consumed by an entry.
    Closed,
    /// 4: defined by the API, never set by the server (nor by vidmock).
    TimedOut,
    /// 5: deleted; invisible to every action.
    Deleted,
}

impl UploadTokenStatus {
    /// The number on the wire.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::kaltura::UploadTokenStatus::Pending.code(), 0);
    /// ```
    pub fn code(self) -> i64 {
        match self {
            UploadTokenStatus::Pending => 0,
            UploadTokenStatus::PartialUpload => 1,
            UploadTokenStatus::FullUpload => 2,
            UploadTokenStatus::Closed => 3,
            UploadTokenStatus::TimedOut => 4,
            UploadTokenStatus::Deleted => 5,
        }
    }

    /// The constant's name in the clients (`PARTIAL_UPLOAD`, …).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::kaltura::UploadTokenStatus::PartialUpload.name(), "PARTIAL_UPLOAD");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            UploadTokenStatus::Pending => "PENDING",
            UploadTokenStatus::PartialUpload => "PARTIAL_UPLOAD",
            UploadTokenStatus::FullUpload => "FULL_UPLOAD",
            UploadTokenStatus::Closed => "CLOSED",
            UploadTokenStatus::TimedOut => "TIMED_OUT",
            UploadTokenStatus::Deleted => "DELETED",
        }
    }

    /// The status a wire number names.
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::kaltura::UploadTokenStatus;
    /// assert_eq!(UploadTokenStatus::from_code(2), Some(UploadTokenStatus::FullUpload));
    /// assert_eq!(UploadTokenStatus::from_code(6), None);
    /// ```
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => UploadTokenStatus::Pending,
            1 => UploadTokenStatus::PartialUpload,
            2 => UploadTokenStatus::FullUpload,
            3 => UploadTokenStatus::Closed,
            4 => UploadTokenStatus::TimedOut,
            5 => UploadTokenStatus::Deleted,
            _ => return None,
        })
    }
}

impl serde::Serialize for UploadTokenStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for UploadTokenStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Given {
            Code(i64),
            Name(String),
        }
        let found = match Given::deserialize(deserializer)? {
            Given::Code(code) => UploadTokenStatus::from_code(code),
            Given::Name(name) => (0..=5)
                .filter_map(UploadTokenStatus::from_code)
                .find(|s| s.name().eq_ignore_ascii_case(&name)),
        };
        found.ok_or_else(|| {
            serde::de::Error::custom(
                "not a KalturaUploadTokenStatus (PENDING, PARTIAL_UPLOAD, FULL_UPLOAD, CLOSED, \
                 TIMED_OUT, DELETED or 0–5)",
            )
        })
    }
}

/// One `uploadToken.upload` call as the token received it (every call that got past the
/// token's status checks, in arrival order).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::kaltura::SessionType;
///
/// let server = vidmock::MockServer::start().await;
/// let ks = server.kaltura().ks("", SessionType::Admin);
/// let api = format!("{}/api_v3/service/uploadtoken/action", server.uri());
/// let client = reqwest::Client::new();
/// let token: serde_json::Value = client
///     .post(format!("{api}/add?format=1"))
///     .form(&[("ks", &ks)])
///     .send().await.unwrap().json().await.unwrap();
/// let id = token["id"].as_str().unwrap();
/// let form = reqwest::multipart::Form::new()
///     .text("ks", ks.clone())
///     .text("uploadTokenId", id.to_owned())
///     .text("finalChunk", "false")
///     .part("fileData", reqwest::multipart::Part::bytes(b"abc".to_vec()).file_name("blob"));
/// client.post(format!("{api}/upload")).multipart(form).send().await.unwrap();
///
/// let chunk = &server.kaltura().upload_token(id).unwrap().chunks[0];
/// assert_eq!((chunk.resume, chunk.final_chunk, chunk.resume_at), (false, false, -1.0));
/// assert_eq!(chunk.data.as_deref(), Some(&b"abc"[..]));
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceivedChunk {
    /// `resume` as the server read it.
    pub resume: bool,
    /// `resumeAt` as the server read it (`-1` means "append").
    pub resume_at: f64,
    /// `finalChunk` as the server read it.
    pub final_chunk: bool,
    /// The file part's name, directories removed.
    pub file_name: String,
    /// Bytes in the part.
    pub size: u64,
    /// The part's bytes with [`crate::Retention::Memory`]; `None` when only digests are kept
    /// (and in the state file, which keeps no chunk's bytes).
    #[serde(skip)]
    pub data: Option<Bytes>,
}

/// The autoFinalize bookkeeping the server keeps in its cache (../shared/specs/kaltura.md §4.5).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AutoFinalize {
    /// Bytes received by offset uploads, retries counted again.
    #[serde(default)]
    pub received: u64,
    /// While set and in the future, another request is the finaliser.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub lock_until: Option<OffsetDateTime>,
    /// Finaliser attempts made so far; the fifth fails.
    #[serde(default)]
    pub attempts: u32,
}

/// An upload token as the server stores it, and (through serde) as the state file, the seed
/// file and the admin API hold it. A field added here is saved, seeded and shown.
///
/// A seed may leave out the id and the dates: [`StoredToken::fill`] supplies them. The file's
/// bytes are not in a document; [`StoredToken::reattach`] gives a finished file back.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredToken {
    /// `0_` + 32 lower-case hex.
    #[serde(default)]
    pub id: String,
    /// The partner's id, which a document gives once for all its tokens.
    #[serde(skip)]
    pub partner_id: i64,
    /// The KS user that created it (empty for an anonymous session); USER sessions see only
    /// their own tokens.
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub status: UploadTokenStatus,
    /// Given on `add`, or taken from the first uploaded part while empty.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Declared on `add`; informational except for autoFinalize.
    #[serde(default)]
    pub file_size: Option<i64>,
    #[serde(default)]
    pub auto_finalize: bool,
    /// The assembled length after the last successful upload; `None` before the first.
    #[serde(default)]
    pub uploaded_file_size: Option<u64>,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Bumped on every save.
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// What waits for this token's file: its class as the server names it (`flavorAsset` for
    /// the source flavor of a media entry, `entry` for an image entry); null when the token
    /// was consumed complete…
    #[serde(default)]
    pub attached_object_type: Option<String>,
    /// …and its id.
    #[serde(default)]
    pub attached_object_id: Option<String>,
    /// The assembled file: created by a `resume=false` upload, replaced by each later one.
    #[serde(skip)]
    pub file: Option<Arc<Assembly>>,
    /// Size and sha256 of the completed file, once hashed.
    #[serde(default, with = "crate::upload::digest_doc")]
    pub digest: Option<Digest256>,
    /// What the shared probe read of the completed file, read once when it was finished (off
    /// the store's lock), so an entry that takes the token later does not read it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<super::lifecycle::MediaInfo>,
    /// Every upload call that reached the file, in arrival order.
    #[serde(default, rename = "receivedChunks")]
    pub chunks: Vec<ReceivedChunk>,
    /// The autoFinalize bookkeeping.
    #[serde(default)]
    pub auto: AutoFinalize,
}

impl StoredToken {
    /// Records what waits for this token's file.
    pub(crate) fn attach(&mut self, object_type: &str, object_id: &str) {
        self.attached_object_type = Some(object_type.to_owned());
        self.attached_object_id = Some(object_id.to_owned());
    }

    /// Supplies what a seed may leave out: an id, and dates (the creation defaults to `now`,
    /// the last change to the creation).
    pub(crate) fn fill(&mut self, ids: &crate::engine::ids::Ids, now: OffsetDateTime) {
        if self.id.is_empty() {
            self.id = ids.hex("0_", 32);
        }
        fill_dates(&mut self.created_at, &mut self.updated_at, now);
    }

    /// Gives a token read from a document its finished file back (with its bytes, read by
    /// `blob` from sha256 and size, when the server keeps bytes): whether it had one.
    pub(crate) fn reattach(
        &mut self,
        retention: crate::upload::Retention,
        blob: &dyn Fn(&str, u64) -> Option<Bytes>,
    ) -> bool {
        let Some(digest) = self.digest.as_ref().filter(|_| self.is_complete()) else {
            self.digest = None;
            return false;
        };
        let size = digest.size;
        let content = (retention == crate::upload::Retention::Memory)
            .then(|| blob(digest.sha256(), size))
            .flatten();
        let keying = crate::upload::Keying::Offset;
        self.file = Some(Assembly::restored(keying, retention, size, size, content));
        true
    }

    pub(crate) fn view(&self) -> UploadToken {
        UploadToken {
            id: self.id.clone(),
            partner_id: self.partner_id,
            user_id: self.user_id.clone(),
            status: self.status,
            file_name: self.file_name.clone(),
            file_size: self.file_size,
            uploaded_file_size: self.uploaded_file_size,
            auto_finalize: self.auto_finalize,
            created_at: self.created_at,
            updated_at: self.updated_at,
            attached_object_type: self.attached_object_type.clone(),
            attached_object_id: self.attached_object_id.clone(),
            chunks: self.chunks.clone(),
            waiting_chunks: self.file.as_ref().map(|f| f.waiting()).unwrap_or_default(),
            file: self.file.clone(),
            digest: self.digest.clone(),
        }
    }

    /// Whether the file is complete (FULL_UPLOAD, or consumed since).
    pub(crate) fn is_complete(&self) -> bool {
        matches!(
            self.status,
            UploadTokenStatus::FullUpload | UploadTokenStatus::Closed
        )
    }
}

/// An upload token as a test sees it: what `uploadToken.get` would answer, plus the bytes.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::kaltura::{SessionType, UploadTokenStatus};
///
/// let server = vidmock::MockServer::start().await;
/// let ks = server.kaltura().ks("alice", SessionType::Admin);
/// let api = format!("{}/api_v3/service/uploadtoken/action", server.uri());
/// let client = reqwest::Client::new();
/// let token: serde_json::Value = client
///     .post(format!("{api}/add?format=1"))
///     .form(&[("ks", &ks)])
///     .send().await.unwrap().json().await.unwrap();
/// let id = token["id"].as_str().unwrap();
/// let file = reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.mp4");
/// let form = reqwest::multipart::Form::new()
///     .text("ks", ks.clone())
///     .text("uploadTokenId", id.to_owned())
///     .part("fileData", file);
/// client.post(format!("{api}/upload")).multipart(form).send().await.unwrap();
///
/// let token = server.kaltura().upload_token(id).unwrap();
/// assert_eq!(token.status, UploadTokenStatus::FullUpload);
/// assert_eq!(token.file_name.as_deref(), Some("a.mp4"));
/// assert_eq!(token.content().unwrap(), b"hello");
/// assert_eq!(token.size(), Some(5));
/// assert_eq!(token.sha256().unwrap().len(), 64);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct UploadToken {
    /// `0_` + 32 lower-case hex.
    pub id: String,
    /// The partner that owns it.
    pub partner_id: i64,
    /// The KS user that created it (empty for an anonymous session).
    pub user_id: String,
    /// Where it is in its life.
    pub status: UploadTokenStatus,
    /// The declared file name, or the first uploaded part's.
    pub file_name: Option<String>,
    /// The declared size (`fileSize` on `add`).
    pub file_size: Option<i64>,
    /// The assembled length the last successful upload reported.
    pub uploaded_file_size: Option<u64>,
    /// Whether `autoFinalize` was set on `add`.
    pub auto_finalize: bool,
    /// When `add` ran, on the server's clock.
    pub created_at: OffsetDateTime,
    /// The last change, on the server's clock.
    pub updated_at: OffsetDateTime,
    /// What waits for this token's file: `flavorAsset` (the source flavor of a media entry)
    /// or `entry` (an image entry); `None` for a token consumed complete.
    pub attached_object_type: Option<String>,
    /// The id of the flavor asset or entry that waits.
    pub attached_object_id: Option<String>,
    /// Every upload call that reached the file, in arrival order.
    pub chunks: Vec<ReceivedChunk>,
    /// Chunks received past a gap, not yet part of the file, as `(offset, size)`.
    pub waiting_chunks: Vec<(u64, u64)>,
    pub(crate) file: Option<Arc<Assembly>>,
    digest: Option<Digest256>,
}

impl UploadToken {
    /// The bytes assembled so far (the whole file once complete); `None` before the first
    /// upload, or when the server keeps only digests ([`crate::Retention::DigestOnly`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().upload_token("0_nope").is_none());
    /// # }
    /// ```
    pub fn content(&self) -> Option<Vec<u8>> {
        self.file.as_ref().and_then(|file| file.content())
    }

    /// The lower-case hex sha256 of the completed file; `None` until the upload is complete.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().upload_tokens().is_empty());
    /// # }
    /// ```
    pub fn sha256(&self) -> Option<&str> {
        self.digest.as_ref().map(|d| d.sha256())
    }

    /// The size of the completed file; `None` until the upload is complete.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().upload_tokens().iter().all(|t| t.size().is_none()));
    /// # }
    /// ```
    pub fn size(&self) -> Option<u64> {
        self.digest.as_ref().map(|d| d.size)
    }
}

/// `KalturaEntryStatus` (a string enum on the wire: `"7"`).
///
/// # Example
///
/// ```
/// use vidmock::kaltura::EntryStatus;
/// assert_eq!(EntryStatus::NoContent.code(), "7");
/// ```
///
/// In the state and seed files it is its value on the wire (`"7"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// `-1` (ERROR_CONVERTING): its conversion failed (scripted: vidmock does not transcode).
    ErrorConverting,
    /// `0` (IMPORT): waiting for the file of an attached upload token, or importing it.
    Import,
    /// `1` (PRECONVERT): its flavors are converting.
    Preconvert,
    /// `2` (READY): has its content and its flavors.
    Ready,
    /// `3` (DELETED): deleted; invisible to every action.
    Deleted,
    /// `7` (NO_CONTENT): created without content.
    #[default]
    NoContent,
}

impl serde::Serialize for EntryStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for EntryStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const CODES: [&str; 6] = ["-1", "0", "1", "2", "3", "7"];
        let code = std::borrow::Cow::<str>::deserialize(deserializer)?;
        [
            EntryStatus::ErrorConverting,
            EntryStatus::Import,
            EntryStatus::Preconvert,
            EntryStatus::Ready,
            EntryStatus::Deleted,
            EntryStatus::NoContent,
        ]
        .into_iter()
        .find(|status| status.code() == code)
        .ok_or_else(|| serde::de::Error::unknown_variant(&code, &CODES))
    }
}

impl EntryStatus {
    /// The value on the wire.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::kaltura::EntryStatus::Ready.code(), "2");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            EntryStatus::ErrorConverting => "-1",
            EntryStatus::Import => "0",
            EntryStatus::Preconvert => "1",
            EntryStatus::Ready => "2",
            EntryStatus::Deleted => "3",
            EntryStatus::NoContent => "7",
        }
    }
}

/// `KalturaEntryType` values vidmock creates.
pub(crate) const ENTRY_TYPE_MEDIA_CLIP: i64 = 1;
pub(crate) const ENTRY_TYPE_DATA: i64 = 6;
pub(crate) const ENTRY_TYPE_DOCUMENT: i64 = 10;

/// An entry as the server stores it, and (through serde) as the state file, the seed file and
/// the admin API hold it. A field added here is saved, seeded and shown.
///
/// A seed may leave out the id, the dates and the class (a video media entry by default):
/// [`StoredEntry::fill`] supplies them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredEntry {
    /// `0_` + 8 lower-case hex.
    #[serde(default)]
    pub id: String,
    /// The partner's id, which a document gives once for all its entries.
    #[serde(skip)]
    pub partner_id: i64,
    /// The owner (the KS user, or `userId` given by an admin).
    #[serde(default)]
    pub user_id: String,
    /// The KS user that created it (the owner, when a seed leaves it out).
    #[serde(default)]
    pub creator_id: String,
    /// The API class: `KalturaMediaEntry`, `KalturaDataEntry`, `KalturaDocumentEntry` or
    /// `KalturaBaseEntry`.
    #[serde(rename = "objectType", default = "media_entry", with = "entry_class")]
    pub class: ClassName,
    /// `KalturaEntryType`.
    #[serde(rename = "type", default = "media_clip")]
    pub entry_type: i64,
    /// `KalturaMediaType`, for media entries.
    #[serde(default = "video")]
    pub media_type: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub partner_data: Option<String>,
    #[serde(default)]
    pub conversion_profile_id: Option<i64>,
    #[serde(default)]
    pub access_control_id: Option<i64>,
    #[serde(default)]
    pub status: EntryStatus,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The upload token whose file is this entry's content (set when attached or consumed).
    #[serde(default)]
    pub upload_token_id: Option<String>,
    /// The id of the entry's source (original) flavor asset: `0_` + 8 lower-case hex from the
    /// server's id generator, made when a token still uploading is attached to a non-image
    /// media entry (the server creates the source flavor asset then and attaches the token to
    /// it); kept for the entry's life so that a later flavor feature reuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_flavor_id: Option<String>,
    /// Its flavor assets, source first, once its file has arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flavors: Vec<super::lifecycle::StoredFlavor>,
    /// `flavorParamsIds`: the flavor params of its flavors, comma-separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flavor_params_ids: String,
    /// Its conversion while it runs (IMPORT, PRECONVERT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<super::lifecycle::Conversion>,
    /// What was read of its file (duration, picture size), once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<super::lifecycle::MediaInfo>,
    /// The temporary entry converting its replacement content (`media.updateContent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacing_entry_id: Option<String>,
    /// On a temporary replacement entry: the entry it replaces the content of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_entry_id: Option<String>,
    /// `KalturaEntryReplacementStatus`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replacement_status: i64,
    /// Bumped when replaced content takes the place of the old.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i64,
    /// Status changes not yet turned into event notifications (never saved: taken at the end
    /// of the call that made them, see `notifications::flush`).
    #[serde(skip)]
    pub changes: Vec<super::lifecycle::StatusChange>,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// An API class's name. Named so that serde does not take the field for text borrowed from
/// the document: a class is one of the names `entry_class` knows.
pub(crate) type ClassName = &'static str;

fn media_entry() -> &'static str {
    "KalturaMediaEntry"
}

fn media_clip() -> i64 {
    ENTRY_TYPE_MEDIA_CLIP
}

fn video() -> Option<i64> {
    Some(1)
}

/// Sets unset dates: the creation to `now`, the last change to the creation.
fn fill_dates(
    created_at: &mut OffsetDateTime,
    updated_at: &mut OffsetDateTime,
    now: OffsetDateTime,
) {
    if crate::engine::clock::is_unset(*created_at) {
        *created_at = now;
    }
    if crate::engine::clock::is_unset(*updated_at) {
        *updated_at = *created_at;
    }
}

impl StoredEntry {
    /// Supplies what a seed may leave out: an id, the creator, and dates.
    pub(crate) fn fill(&mut self, ids: &crate::engine::ids::Ids, now: OffsetDateTime) {
        if self.id.is_empty() {
            self.id = ids.hex("0_", 8);
        }
        if self.creator_id.is_empty() {
            self.creator_id = self.user_id.clone();
        }
        fill_dates(&mut self.created_at, &mut self.updated_at, now);
    }
}

/// An entry's API class in a document, by its name on the wire.
mod entry_class {
    use serde::{Deserialize, Deserializer, Serializer};

    const CLASSES: [&str; 4] = [
        "KalturaMediaEntry",
        "KalturaDataEntry",
        "KalturaDocumentEntry",
        "KalturaBaseEntry",
    ];

    pub(super) fn serialize<S: Serializer>(class: &&str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(class)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<&'static str, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        CLASSES
            .into_iter()
            .find(|class| *class == name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &CLASSES))
    }
}

/// A media entry as a test sees it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::kaltura::{EntryStatus, SessionType};
///
/// let server = vidmock::MockServer::start().await;
/// let ks = server.kaltura().ks("alice", SessionType::Admin);
/// let url = format!("{}/api_v3/service/media/action/add?format=1", server.uri());
/// let entry: serde_json::Value = reqwest::Client::new()
///     .post(url)
///     .form(&[("ks", ks.as_str()), ("entry:name", "clip"), ("entry:mediaType", "1")])
///     .send().await.unwrap().json().await.unwrap();
///
/// let stored = server.kaltura().entry(entry["id"].as_str().unwrap()).unwrap();
/// assert_eq!(stored.name, "clip");
/// assert_eq!(stored.status, EntryStatus::NoContent);
/// assert!(stored.sha256().is_none());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Entry {
    /// `0_` + 8 lower-case hex.
    pub id: String,
    /// The partner that owns it.
    pub partner_id: i64,
    /// The owner.
    pub user_id: String,
    /// The API class it is answered as (`KalturaMediaEntry`, `KalturaDataEntry`, …).
    pub class: &'static str,
    /// `KalturaEntryType` (1 media clip, 6 data, 10 document).
    pub entry_type: i64,
    /// `KalturaMediaType` for media entries (1 video, 2 image, 5 audio).
    pub media_type: Option<i64>,
    /// Its name.
    pub name: String,
    /// Where it is in its life.
    pub status: EntryStatus,
    /// When it was created, on the server's clock.
    pub created_at: OffsetDateTime,
    /// The upload token attached to it or consumed by it.
    pub upload_token_id: Option<String>,
    /// Its duration in milliseconds, read from its file (`None` when unknown).
    pub duration_ms: Option<u64>,
    /// Its picture's width, read from its file.
    pub width: Option<u32>,
    /// Its picture's height, read from its file.
    pub height: Option<u32>,
    /// Its flavor assets, source first.
    pub flavors: Vec<Flavor>,
    /// The temporary entry converting its replacement content, while there is one.
    pub replacing_entry_id: Option<String>,
    pub(crate) file: Option<Arc<Assembly>>,
    digest: Option<Digest256>,
}

/// A flavor asset of an entry, as a test sees it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let flavors: Vec<vidmock::kaltura::Flavor> =
///     server.kaltura().entries().into_iter().flat_map(|e| e.flavors).collect();
/// assert!(flavors.is_empty());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// `0_` + 8 lower-case hex.
    pub id: String,
    /// Its flavor params (0 for the source).
    pub flavor_params_id: i64,
    /// `KalturaFlavorAssetStatus` (2 READY, 1 CONVERTING, -1 ERROR, …).
    pub status: i64,
    /// Whether it is the source (original) flavor.
    pub is_original: bool,
}

impl Entry {
    /// The content's bytes (the consumed token's file) when the server keeps bytes.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().entries().iter().all(|e| e.content().is_none()));
    /// # }
    /// ```
    pub fn content(&self) -> Option<Vec<u8>> {
        if self.status != EntryStatus::Ready {
            return None;
        }
        self.file.as_ref().and_then(|file| file.content())
    }

    /// The lower-case hex sha256 of its content, once it has one.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().entry("0_nope").is_none());
    /// # }
    /// ```
    pub fn sha256(&self) -> Option<&str> {
        self.digest.as_ref().map(|d| d.sha256())
    }

    /// The size of its content, once it has one.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().entries().iter().all(|e| e.size().is_none()));
    /// # }
    /// ```
    pub fn size(&self) -> Option<u64> {
        self.digest.as_ref().map(|d| d.size)
    }
}

/// `attachedObjectType` of a token an entry waits for (`get_class` of the object).
pub(crate) const ATTACHED_ENTRY: &str = "entry";
/// `attachedObjectType` of a token the source flavor asset of a media entry waits for.
pub(crate) const ATTACHED_FLAVOR: &str = "flavorAsset";

/// One partner's upload tokens, entries, app tokens and event notification templates, in
/// creation order.
#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub tokens: Tracked<String, StoredToken>,
    pub entries: Tracked<String, StoredEntry>,
    /// App tokens, deleted ones included (kept across resets, like the partners' secrets).
    pub app_tokens: Tracked<String, super::apptoken::StoredAppToken>,
    /// Event notification templates by id, deleted ones included (at most
    /// `notifications::MAX_KEPT`).
    pub templates: Tracked<i64, super::notifications::StoredTemplate>,
    /// When the next conversion step is due (`None`: look at every entry on the next read).
    pub due: Option<OffsetDateTime>,
    /// How many of the next conversions to start end in ERROR_CONVERTING (scripted).
    pub fail_next: u32,
}

impl Tenant {
    /// The entry a token's attachment names: the entry itself (`entry`), or the entry whose
    /// source flavor asset it is (`flavorAsset`), as `kUploadTokenMgr::getAttachedEntry` finds it.
    pub(crate) fn attached_entry_id(&self, token: &StoredToken) -> Option<String> {
        let object_id = token.attached_object_id.as_deref()?;
        match token.attached_object_type.as_deref()? {
            ATTACHED_ENTRY => Some(object_id.to_owned()),
            ATTACHED_FLAVOR => self
                .entries
                .values()
                .find(|e| e.source_flavor_id.as_deref() == Some(object_id))
                .map(|e| e.id.clone()),
            _ => None,
        }
    }

    /// If token `id` is complete and an entry waits for it, the entry takes the file: the
    /// token is CLOSED and the entry READY (../shared/specs/kaltura.md §4.8).
    pub(crate) fn consume_if_attached(
        &mut self,
        id: &str,
        now: OffsetDateTime,
        starter: &super::lifecycle::Starter<'_>,
    ) {
        let Some(entry_id) = self.tokens.get(id).and_then(|t| self.attached_entry_id(t)) else {
            return;
        };
        self.consume(id, &entry_id, now, starter);
    }

    /// Entry `entry_id` takes the file of token `id` when the token is complete: the token is
    /// CLOSED and the entry's conversion starts (`lifecycle::begin`). A deleted entry takes
    /// nothing.
    pub(crate) fn consume(
        &mut self,
        id: &str,
        entry_id: &str,
        now: OffsetDateTime,
        starter: &super::lifecycle::Starter<'_>,
    ) {
        let Some(token) = self.tokens.get_mut(id) else {
            return;
        };
        if token.status != UploadTokenStatus::FullUpload {
            return;
        }
        let Some(entry) = self
            .entries
            .get_mut(entry_id)
            .filter(|e| e.status != EntryStatus::Deleted)
        else {
            return;
        };
        let size = token.uploaded_file_size.unwrap_or(0);
        // Read when its upload ended; a file still being finished is read then (`media_read`).
        let media = token.media.unwrap_or_default();
        let ext = token
            .file_name
            .as_deref()
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .filter(|ext| {
                !ext.is_empty() && ext.len() <= 8 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .unwrap_or_else(|| "mp4".to_owned());
        entry.upload_token_id = Some(token.id.clone());
        token.status = UploadTokenStatus::Closed;
        token.updated_at = now;
        let fails = self.fail_next > 0;
        self.fail_next = self.fail_next.saturating_sub(1);
        let mut replaced_at_once = false;
        if let Some(entry) = self.entries.get_mut(entry_id) {
            super::lifecycle::begin(entry, size, media, &ext, fails, starter, now);
            replaced_at_once = entry.replaced_entry_id.is_some() && entry.conversion.is_none();
        }
        if replaced_at_once {
            self.finish_replacement(entry_id, now);
        }
        self.wake();
    }

    pub(crate) fn entry_view(&self, entry: &StoredEntry) -> Entry {
        let source = entry
            .upload_token_id
            .as_ref()
            .and_then(|id| self.tokens.get(id))
            .filter(|_| entry.status == EntryStatus::Ready);
        Entry {
            id: entry.id.clone(),
            partner_id: entry.partner_id,
            user_id: entry.user_id.clone(),
            class: entry.class,
            entry_type: entry.entry_type,
            media_type: entry.media_type,
            name: entry.name.clone(),
            status: entry.status,
            created_at: entry.created_at,
            upload_token_id: entry.upload_token_id.clone(),
            duration_ms: entry.media.and_then(|m| m.duration_ms),
            width: entry.media.and_then(|m| m.width),
            height: entry.media.and_then(|m| m.height),
            flavors: entry
                .flavors
                .iter()
                .map(|f| Flavor {
                    id: f.id.clone(),
                    flavor_params_id: f.flavor_params_id,
                    status: f.status,
                    is_original: f.is_original,
                })
                .collect(),
            replacing_entry_id: entry.replacing_entry_id.clone(),
            file: source.and_then(|t| t.file.clone()),
            digest: source.and_then(|t| t.digest.clone()),
        }
    }
}

/// Every partner's tokens and entries.
#[derive(Debug)]
pub(crate) struct Store {
    /// Held only for bookkeeping, never across an `.await`.
    tenants: Mutex<HashMap<i64, Tenant>>,
    /// What is kept of uploaded bytes.
    pub retention: Retention,
    /// How long a verified final chunk waits for the chunks before it.
    pub final_chunk_wait: Duration,
    /// How long an entry imports and converts.
    pub delays: super::lifecycle::ConversionDelays,
    /// The next `eventNotificationJobId` a notification carries.
    pub notification_jobs: std::sync::atomic::AtomicI64,
}

impl Store {
    pub(crate) fn new(
        retention: Retention,
        final_chunk_wait: Duration,
        delays: super::lifecycle::ConversionDelays,
    ) -> Self {
        Self {
            tenants: Mutex::new(HashMap::new()),
            retention,
            final_chunk_wait,
            delays,
            notification_jobs: std::sync::atomic::AtomicI64::new(1),
        }
    }

    /// What starting a conversion needs.
    pub(crate) fn starter<'a>(
        &self,
        ids: &'a crate::engine::ids::Ids,
    ) -> super::lifecycle::Starter<'a> {
        super::lifecycle::Starter {
            delays: self.delays,
            ids,
        }
    }

    /// Applies every entry transition due at `now`, for every partner.
    pub(crate) fn advance(&self, now: OffsetDateTime) {
        for tenant in self.lock().values_mut() {
            tenant.advance(now);
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<i64, Tenant>> {
        // Every critical section leaves tokens and entries consistent before anything in it can
        // panic, so a poisoned lock still guards consistent data.
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The digest of every completed upload.
    pub(crate) fn digests(&self) -> Vec<Digest256> {
        self.lock()
            .values()
            .flat_map(|t| t.tokens.values().filter_map(|t| t.digest.clone()))
            .collect()
    }

    /// Forgets every token and entry.
    pub(crate) fn reset(&self) {
        for tenant in self.lock().values_mut() {
            tenant.tokens.clear();
            tenant.entries.clear();
            tenant.templates.clear();
        }
    }

    /// The admin API's view of one partner: its tokens with their upload progress, and its
    /// entries; completed uploads show their size and sha256.
    pub(crate) fn state_json(&self, partner_id: i64) -> (serde_json::Value, serde_json::Value) {
        // Spilled uploads are hashed after their last chunk: finish that outside the lock.
        self.digests().iter().for_each(Digest256::compute);
        let tenants = self.lock();
        let Some(tenant) = tenants.get(&partner_id) else {
            return (serde_json::json!([]), serde_json::json!([]));
        };
        let tokens: Vec<TokenView> = tenant.tokens.values().map(TokenView::of).collect();
        let entries: Vec<EntryView> = tenant
            .entries
            .values()
            .map(|entry| {
                let view = tenant.entry_view(entry);
                EntryView {
                    entry,
                    size: view.size(),
                    sha256: view.sha256().map(str::to_owned),
                }
            })
            .collect();
        (serde_json::json!(tokens), serde_json::json!(entries))
    }
}

impl Store {
    /// The admin API's view of one partner's event notification templates (deleted ones
    /// included), as the state file saves them.
    pub(crate) fn templates_json(&self, partner_id: i64) -> serde_json::Value {
        let tenants = self.lock();
        let templates: Vec<&super::notifications::StoredTemplate> = tenants
            .get(&partner_id)
            .map(|t| t.templates.values().collect())
            .unwrap_or_default();
        serde_json::json!(templates)
    }
}

/// An upload token in the admin API's state and the dashboard: the token, and its upload's
/// progress.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView<'a> {
    #[serde(flatten)]
    token: &'a StoredToken,
    status_name: &'static str,
    /// How many upload calls reached the file.
    chunks: usize,
    received_bytes: u64,
    assembled_bytes: u64,
    /// Chunks that arrived ahead of the file's end: `{offset, size}`.
    waiting_chunks: Vec<serde_json::Value>,
    complete: bool,
    size: Option<u64>,
    sha256: Option<&'a str>,
}

impl<'a> TokenView<'a> {
    fn of(token: &'a StoredToken) -> Self {
        let waiting = token.file.as_ref().map(|f| f.waiting()).unwrap_or_default();
        TokenView {
            token,
            status_name: token.status.name(),
            chunks: token.chunks.len(),
            received_bytes: token.chunks.iter().map(|c| c.size).sum(),
            assembled_bytes: token.file.as_ref().map_or(0, |f| f.received()),
            waiting_chunks: waiting
                .into_iter()
                .map(|(offset, size)| serde_json::json!({ "offset": offset, "size": size }))
                .collect(),
            complete: token.is_complete() && token.digest.is_some(),
            size: token.digest.as_ref().map(|d| d.size),
            sha256: token.digest.as_ref().map(|d| d.sha256()),
        }
    }
}

/// An entry in the admin API's state and the dashboard: the entry, and its content's size and
/// sha256.
#[derive(serde::Serialize)]
struct EntryView<'a> {
    #[serde(flatten)]
    entry: &'a StoredEntry,
    size: Option<u64>,
    sha256: Option<String>,
}

impl Kaltura<'_> {
    fn store(&self) -> &Store {
        &self.backend.store
    }

    /// This partner's upload tokens, deleted ones included, in creation order.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::kaltura::SessionType;
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks("", SessionType::Admin);
    /// let url = format!("{}/api_v3/service/uploadtoken/action/add?ks={ks}", server.uri());
    /// reqwest::get(url).await.unwrap();
    /// assert_eq!(server.kaltura().upload_tokens().len(), 1);
    /// # }
    /// ```
    pub fn upload_tokens(&self) -> Vec<UploadToken> {
        self.store()
            .lock()
            .get(&self.partner_id)
            .map(|t| t.tokens.values().map(StoredToken::view).collect())
            .unwrap_or_default()
    }

    /// One of this partner's upload tokens (deleted ones too).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::kaltura::{SessionType, UploadTokenStatus};
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks("", SessionType::Admin);
    /// let url = format!("{}/api_v3/service/uploadtoken/action/add?format=1&ks={ks}", server.uri());
    /// let token: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    /// let stored = server.kaltura().upload_token(token["id"].as_str().unwrap()).unwrap();
    /// assert_eq!(stored.status, UploadTokenStatus::Pending);
    /// # }
    /// ```
    pub fn upload_token(&self, id: &str) -> Option<UploadToken> {
        self.store()
            .lock()
            .get(&self.partner_id)
            .and_then(|t| t.tokens.get(id))
            .map(StoredToken::view)
    }

    /// This partner's entries, deleted ones included, in creation order.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().entries().is_empty());
    /// # }
    /// ```
    pub fn entries(&self) -> Vec<Entry> {
        self.store().advance(self.cx.clock.now());
        self.store()
            .lock()
            .get(&self.partner_id)
            .map(|t| t.entries.values().map(|e| t.entry_view(e)).collect())
            .unwrap_or_default()
    }

    /// One of this partner's entries (deleted ones too).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().entry("0_abcd1234").is_none());
    /// # }
    /// ```
    pub fn entry(&self, id: &str) -> Option<Entry> {
        self.store().advance(self.cx.clock.now());
        let tenants = self.store().lock();
        let tenant = tenants.get(&self.partner_id)?;
        tenant.entries.get(id).map(|e| tenant.entry_view(e))
    }
}

/// Driving the entry lifecycle from a test.
impl Kaltura<'_> {
    fn end_conversion(&self, id: &str, fails: bool) -> bool {
        let now = self.cx.clock.now();
        self.store().advance(now);
        let mut tenants = self.store().lock();
        let ended = tenants
            .get_mut(&self.partner_id)
            .is_some_and(|t| t.end_conversion(id, fails, now));
        if let Some(tenant) = tenants.get_mut(&self.partner_id) {
            tenant.wake();
        }
        drop(tenants);
        super::notifications::flush(self.backend, self.cx);
        ended
    }

    /// Ends the conversion of entry `id` now: the entry and its flavors are READY, whatever
    /// delays were configured. `false` when the partner has no such entry with a file.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(!server.kaltura().finish_conversion("0_nothere"));
    /// # }
    /// ```
    pub fn finish_conversion(&self, id: &str) -> bool {
        self.end_conversion(id, false)
    }

    /// Fails the conversion of entry `id` now: the entry is ERROR_CONVERTING (-1) and its
    /// converted flavors ERROR (-1); a replacement being converted makes its entry's
    /// replacement FAILED. `false` when the partner has no such entry with a file.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(!server.kaltura().fail_conversion("0_nothere"));
    /// # }
    /// ```
    pub fn fail_conversion(&self, id: &str) -> bool {
        self.end_conversion(id, true)
    }

    /// Makes the next `count` conversions this partner starts end in ERROR_CONVERTING (at the
    /// time they would have been READY), for a test that does not know the entry id yet.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.kaltura().fail_next_conversions(1);
    /// # }
    /// ```
    pub fn fail_next_conversions(&self, count: u32) {
        self.store()
            .lock()
            .entry(self.partner_id)
            .or_default()
            .fail_next = count;
    }
}
