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

use bytes::Bytes;
use indexmap::IndexMap;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UploadTokenStatus {
    /// 0: created, nothing uploaded yet.
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
#[derive(Clone, Debug, PartialEq)]
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
    /// The part's bytes with [`crate::Retention::Memory`]; `None` when only digests are kept.
    pub data: Option<Bytes>,
}

/// What an upload token is attached to (an entry waiting for the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attachment {
    /// The consumer's class as the server names it (`entry`).
    pub object_type: String,
    pub object_id: String,
}

/// The autoFinalize bookkeeping the server keeps in its cache (../shared/specs/kaltura.md §4.5).
#[derive(Clone, Debug, Default)]
pub(crate) struct AutoFinalize {
    /// Bytes received by offset uploads, retries counted again.
    pub received: u64,
    /// While set and in the future, another request is the finaliser.
    pub lock_until: Option<OffsetDateTime>,
    /// Finaliser attempts made so far; the fifth fails.
    pub attempts: u32,
}

/// An upload token as the server stores it.
#[derive(Debug)]
pub(crate) struct StoredToken {
    /// `0_` + 32 lower-case hex.
    pub id: String,
    pub partner_id: i64,
    /// The KS user that created it (empty for an anonymous session); USER sessions see only
    /// their own tokens.
    pub user_id: String,
    pub status: UploadTokenStatus,
    /// Given on `add`, or taken from the first uploaded part while empty.
    pub file_name: Option<String>,
    /// Declared on `add`; informational except for autoFinalize.
    pub file_size: Option<i64>,
    pub auto_finalize: bool,
    /// The assembled length after the last successful upload; `None` before the first.
    pub uploaded_file_size: Option<u64>,
    pub created_at: OffsetDateTime,
    /// Bumped on every save.
    pub updated_at: OffsetDateTime,
    /// Set while an entry waits for this token's file.
    pub attached: Option<Attachment>,
    /// The assembled file: created by a `resume=false` upload, replaced by each later one.
    pub file: Option<Arc<Assembly>>,
    /// Size and sha256 of the completed file, once hashed.
    pub digest: Option<Digest256>,
    /// Every upload call that reached the file, in arrival order.
    pub chunks: Vec<ReceivedChunk>,
    pub auto: AutoFinalize,
}

impl StoredToken {
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
            attached_object_type: self.attached.as_ref().map(|a| a.object_type.clone()),
            attached_object_id: self.attached.as_ref().map(|a| a.object_id.clone()),
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
    /// `entry` while an entry waits for this token's file.
    pub attached_object_type: Option<String>,
    /// The waiting entry's id.
    pub attached_object_id: Option<String>,
    /// Every upload call that reached the file, in arrival order.
    pub chunks: Vec<ReceivedChunk>,
    /// Chunks received past a gap, not yet part of the file, as `(offset, size)`.
    pub waiting_chunks: Vec<(u64, u64)>,
    file: Option<Arc<Assembly>>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// `0` (IMPORT): waiting for the file of an attached upload token.
    Import,
    /// `2` (READY): has its content (vidmock does not transcode).
    Ready,
    /// `3` (DELETED): deleted; invisible to every action.
    Deleted,
    /// `7` (NO_CONTENT): created without content.
    NoContent,
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
            EntryStatus::Import => "0",
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

/// An entry as the server stores it.
#[derive(Clone, Debug)]
pub(crate) struct StoredEntry {
    /// `0_` + 8 lower-case hex.
    pub id: String,
    pub partner_id: i64,
    /// The owner (the KS user, or `userId` given by an admin).
    pub user_id: String,
    /// The KS user that created it.
    pub creator_id: String,
    /// The API class: `KalturaMediaEntry`, `KalturaDataEntry`, `KalturaDocumentEntry` or
    /// `KalturaBaseEntry`.
    pub class: &'static str,
    /// `KalturaEntryType`.
    pub entry_type: i64,
    /// `KalturaMediaType`, for media entries.
    pub media_type: Option<i64>,
    pub name: String,
    pub description: String,
    pub tags: String,
    pub reference_id: Option<String>,
    pub partner_data: Option<String>,
    pub conversion_profile_id: Option<i64>,
    pub access_control_id: Option<i64>,
    pub status: EntryStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The upload token whose file is this entry's content (set when attached or consumed).
    pub upload_token_id: Option<String>,
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
    file: Option<Arc<Assembly>>,
    digest: Option<Digest256>,
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

/// One partner's tokens and entries, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub tokens: IndexMap<String, StoredToken>,
    pub entries: IndexMap<String, StoredEntry>,
}

impl Tenant {
    /// If token `id` is complete and an entry waits for it, the entry takes the file: the
    /// token is CLOSED and the entry READY (../shared/specs/kaltura.md §4.8).
    pub(crate) fn consume_if_attached(&mut self, id: &str, now: OffsetDateTime) {
        let Some(token) = self.tokens.get_mut(id) else {
            return;
        };
        if token.status != UploadTokenStatus::FullUpload {
            return;
        }
        let Some(attachment) = token.attached.clone() else {
            return;
        };
        let Some(entry) = self
            .entries
            .get_mut(&attachment.object_id)
            .filter(|e| e.status != EntryStatus::Deleted)
        else {
            return;
        };
        entry.status = EntryStatus::Ready;
        entry.upload_token_id = Some(token.id.clone());
        entry.updated_at = now;
        token.status = UploadTokenStatus::Closed;
        token.updated_at = now;
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
}

impl Store {
    pub(crate) fn new(retention: Retention, final_chunk_wait: Duration) -> Self {
        Self {
            tenants: Mutex::new(HashMap::new()),
            retention,
            final_chunk_wait,
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
        self.lock().clear();
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
        let tokens: Vec<serde_json::Value> = tenant
            .tokens
            .values()
            .map(|t| {
                let waiting: Vec<serde_json::Value> = t
                    .file
                    .as_ref()
                    .map(|f| f.waiting())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(offset, size)| serde_json::json!({ "offset": offset, "size": size }))
                    .collect();
                serde_json::json!({
                    "id": t.id,
                    "userId": t.user_id,
                    "status": t.status.code(),
                    "statusName": t.status.name(),
                    "fileName": t.file_name,
                    "fileSize": t.file_size,
                    "uploadedFileSize": t.uploaded_file_size,
                    "autoFinalize": t.auto_finalize,
                    "attachedObjectType": t.attached.as_ref().map(|a| a.object_type.clone()),
                    "attachedObjectId": t.attached.as_ref().map(|a| a.object_id.clone()),
                    "chunks": t.chunks.len(),
                    "receivedBytes": t.chunks.iter().map(|c| c.size).sum::<u64>(),
                    "assembledBytes": t.file.as_ref().map_or(0, |f| f.received()),
                    "waitingChunks": waiting,
                    "complete": t.is_complete() && t.digest.is_some(),
                    "size": t.digest.as_ref().map(|d| d.size),
                    "sha256": t.digest.as_ref().map(|d| d.sha256()),
                })
            })
            .collect();
        let entries: Vec<serde_json::Value> = tenant
            .entries
            .values()
            .map(|e| {
                let view = tenant.entry_view(e);
                serde_json::json!({
                    "id": e.id,
                    "name": e.name,
                    "userId": e.user_id,
                    "objectType": e.class,
                    "type": e.entry_type,
                    "mediaType": e.media_type,
                    "status": e.status.code(),
                    "uploadTokenId": e.upload_token_id,
                    "size": view.size(),
                    "sha256": view.sha256(),
                })
            })
            .collect();
        (serde_json::json!(tokens), serde_json::json!(entries))
    }
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
        let tenants = self.store().lock();
        let tenant = tenants.get(&self.partner_id)?;
        tenant.entries.get(id).map(|e| tenant.entry_view(e))
    }
}
