//! The `uploadToken` service: `add`, `get`, `list`, `delete` and `upload`, and the chunk engine
//! behind `upload` (../shared/specs/kaltura.md §3–§4).
//!
//! The real server keeps one assembled file per token and parks chunks that arrive past its end
//! until the file reaches them; a verified final chunk waits for the chunks before it, which is
//! what lets clients send every chunk at once. vidmock keeps the same picture in an
//! [`Assembly`] keyed by byte offset. Each decision about a chunk (visibility, status, resume
//! window, where its bytes go) is taken under the store's lock in one short critical section;
//! the wait of a final chunk happens on the assembly with no lock held, so the chunks it waits
//! for go through meanwhile. A completing upload is answered once its digest is settled, so the
//! sha256 is available from `server.kaltura()` and `GET /__vidmock/state` by the time the client
//! has its answer: with only digests kept, bytes are hashed off the async threads as they become
//! contiguous; kept bytes are hashed on the blocking pool from the answer on, and asking for the
//! sha256 before that is done waits for it.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::limits;
use super::pager::Pager;
use super::params::{Args, Prop, UploadedFile};
use super::store::{AutoFinalize, ReceivedChunk, StoredToken, Tenant, UploadTokenStatus};
use super::wire::{self, Out};
use crate::upload::{Assembly, Keying, Retention};

/// `upload_token_max_resume_time`: a PARTIAL_UPLOAD token untouched for this long cannot be
/// resumed.
const MAX_RESUME_SECONDS: i64 = 604_800;
/// The autoFinalize finaliser lock.
const FINALISER_LOCK: Duration = Duration::from_secs(30);
/// The finaliser attempt that fails (`MAX_AUTO_FINALIZE_RETIRES`).
const FINALISER_ATTEMPTS: u32 = 5;
/// `idIn` reads at most this many ids.
const MAX_IN_VALUES: usize = 500;

/// Statuses a token may be in to receive a chunk.
fn accepts_uploads(status: UploadTokenStatus) -> bool {
    matches!(
        status,
        UploadTokenStatus::Pending | UploadTokenStatus::PartialUpload
    )
}

/// Whether `session` may see `token`: same partner, not deleted, and its own unless ADMIN.
pub(crate) fn visible(token: &StoredToken, session: &Session) -> bool {
    token.partner_id == session.partner_id
        && token.status != UploadTokenStatus::Deleted
        && (session.is_admin() || token.user_id == session.user_id)
}

fn not_found() -> ApiError {
    ApiError::new("UPLOAD_TOKEN_NOT_FOUND", &[])
}

/// The session of an action that requires one (the dispatcher never runs it without).
fn required(session: Option<Session>) -> Result<Session, ApiError> {
    session.ok_or_else(|| ApiError::new("MISSING_KS", &[]))
}

// ---------------------------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------------------------

/// The properties of `KalturaUploadToken` in declared order, with whether each is readonly.
const TOKEN_PROPERTIES: &[(&str, bool)] = &[
    ("id", true),
    ("partnerId", true),
    ("userId", true),
    ("status", true),
    ("fileName", false),
    ("fileSize", false),
    ("uploadedFileSize", true),
    ("createdAt", true),
    ("updatedAt", true),
    ("uploadUrl", true),
    ("autoFinalize", false),
    ("attachedObjectType", true),
    ("attachedObjectId", true),
];

/// `uploadToken.add(uploadToken = null)`.
pub(crate) struct Add {
    /// The first readonly property sent with a value, in declared order.
    readonly: Option<&'static str>,
    file_name: Option<String>,
    file_size: Option<f64>,
    auto_finalize: bool,
}

impl Action for Add {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let mut add = Add {
            readonly: None,
            file_name: None,
            file_size: None,
            auto_finalize: false,
        };
        let Some(token) = args.object("uploadToken")? else {
            return Ok(add);
        };
        // Every property sent is cast (and enum-checked) before anything is validated.
        for (name, readonly) in TOKEN_PROPERTIES {
            match *name {
                "status" => {
                    token.int_enum(name, "KalturaUploadTokenStatus", &[0, 1, 2, 3, 4, 5])?;
                }
                "autoFinalize" => {
                    add.auto_finalize = token.nullable_bool(name)? == Some(true);
                }
                "fileName" => {
                    add.file_name = token
                        .string(name)?
                        .map(|file_name| limits::varchar(file_name, limits::FILE_NAME_CHARS));
                }
                "fileSize" => add.file_size = token.float(name),
                "id" | "userId" | "uploadUrl" | "attachedObjectType" | "attachedObjectId" => {
                    token.string(name)?;
                }
                _ => {}
            }
            if *readonly && add.readonly.is_none() && matches!(token.prop(name), Prop::Value(_)) {
                add.readonly = Some(name);
            }
        }
        Ok(add)
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        if let Some(name) = self.readonly {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_NOT_UPDATABLE",
                &[&format!("KalturaUploadToken::{name}")],
            ));
        }
        let file_size = self.file_size.map(|size| size as i64);
        // `!isset($this->fileSize)` (KalturaUploadToken::validateForInsert): only an absent or
        // null size is missing; 0 is a size.
        if self.auto_finalize && file_size.is_none() {
            return Err(ApiError::new("UPLOAD_TOKEN_MISSING_FILE_SIZE", &[]));
        }
        let served = &call.served;
        let now = served.cx.clock.now();
        let token = StoredToken {
            id: served.cx.ids.hex("0_", 32),
            partner_id: session.partner_id,
            user_id: session.user_id.clone(),
            status: UploadTokenStatus::Pending,
            file_name: self.file_name,
            file_size,
            auto_finalize: self.auto_finalize,
            uploaded_file_size: None,
            created_at: now,
            updated_at: now,
            attached_object_type: None,
            attached_object_id: None,
            file: None,
            digest: None,
            media: None,
            chunks: Vec::new(),
            auto: AutoFinalize::default(),
        };
        let out = wire::upload_token(
            &token,
            call.served.backend.upload_url(&call.served.cx).as_deref(),
        );
        let mut tenants = served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        tenant.tokens.insert(token.id.clone(), token);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// get, delete
// ---------------------------------------------------------------------------------------------

/// `uploadToken.get(uploadTokenId)`.
pub(crate) struct Get {
    id: String,
}

impl Action for Get {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("uploadTokenId")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let upload_url = call.served.backend.upload_url(&call.served.cx);
        let url = upload_url.as_deref();
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        tenants
            .get(&session.partner_id)
            .and_then(|tenant| tenant.tokens.get(&self.id))
            .filter(|token| visible(token, &session))
            .map(|t| wire::upload_token(t, url))
            .ok_or_else(not_found)
    }
}

/// `uploadToken.delete(uploadTokenId)`: any visible token becomes DELETED; the result is void.
pub(crate) struct Delete {
    id: String,
}

impl Action for Delete {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("uploadTokenId")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let token = tenants
            .get_mut(&session.partner_id)
            .and_then(|tenant| tenant.tokens.get_mut(&self.id))
            .filter(|token| visible(token, &session))
            .ok_or_else(not_found)?;
        token.status = UploadTokenStatus::Deleted;
        token.updated_at = now;
        Ok(Out::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

/// `KalturaUploadTokenFilter`, as read.
#[derive(Default)]
struct Filter {
    id_equal: Option<String>,
    id_in: Option<String>,
    user_id_equal: Option<String>,
    status_equal: Option<i64>,
    status_in: Option<String>,
    file_name_equal: Option<String>,
    file_size_equal: Option<f64>,
    order_by: Option<String>,
}

/// `uploadToken.list(filter = null, pager = null)`.
pub(crate) struct List {
    filter: Filter,
    pager: Pager,
}

/// A comma-separated filter value as the server splits it; empty means "not set".
fn split_list(value: &Option<String>) -> Option<Vec<String>> {
    let value = value.as_deref()?;
    if value.is_empty() {
        return None;
    }
    Some(value.split(',').map(|v| v.trim().to_owned()).collect())
}

impl Action for List {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let mut filter = Filter::default();
        if let Some(f) = args.object("filter")? {
            filter.order_by = f.string("orderBy")?;
            filter.id_equal = f.string("idEqual")?;
            filter.id_in = f.string("idIn")?;
            filter.user_id_equal = f.string("userIdEqual")?;
            filter.status_equal = f.int_enum(
                "statusEqual",
                "KalturaUploadTokenStatus",
                &[0, 1, 2, 3, 4, 5],
            )?;
            filter.status_in = f.string("statusIn")?;
            filter.file_name_equal = f.string("fileNameEqual")?;
            filter.file_size_equal = f.float("fileSizeEqual");
        }
        Ok(Self {
            filter,
            pager: Pager::read(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let upload_url = call.served.backend.upload_url(&call.served.cx);
        let url = upload_url.as_deref();
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let f = &self.filter;
        let ids_in: Option<Vec<String>> =
            split_list(&f.id_in).map(|ids| ids.into_iter().take(MAX_IN_VALUES).collect());
        let mut statuses_in: Option<Vec<i64>> = split_list(&f.status_in).map(|items| {
            items
                .iter()
                .map(|s| super::params::to_php_int(&super::params::Value::Str(s.clone())))
                .collect()
        });
        let name_filtered = f.file_name_equal.as_deref().is_some_and(|n| !n.is_empty());
        if name_filtered && f.status_equal.is_none() && statuses_in.is_none() {
            statuses_in = Some(vec![0, 1, 2]);
        }
        let stale_before = now - time::Duration::seconds(MAX_RESUME_SECONDS);
        let tenants = call.served.backend.store.lock();
        let mut matched: Vec<&StoredToken> = tenants
            .get(&session.partner_id)
            .map(|tenant| tenant.tokens.values().collect())
            .unwrap_or_default();
        matched.retain(|t| {
            visible(t, &session)
                && f.id_equal.as_deref().is_none_or(|id| t.id == id)
                && ids_in.as_ref().is_none_or(|ids| ids.contains(&t.id))
                && f.user_id_equal.as_deref().is_none_or(|u| t.user_id == u)
                && f.status_equal.is_none_or(|s| t.status.code() == s)
                && statuses_in
                    .as_ref()
                    .is_none_or(|s| s.contains(&t.status.code()))
                && f.file_name_equal
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .is_none_or(|n| t.file_name.as_deref() == Some(n))
                && f.file_size_equal
                    .is_none_or(|s| t.file_size.is_some_and(|size| size as f64 == s))
                && !(name_filtered && f.status_equal == Some(1) && t.updated_at < stale_before)
        });
        let order = f
            .order_by
            .as_deref()
            .unwrap_or("")
            .split(',')
            .find_map(|o| match o.trim() {
                "+createdAt" => Some(false),
                "-createdAt" => Some(true),
                _ => None,
            });
        match order {
            Some(false) => matched.sort_by_key(|t| t.created_at),
            Some(true) => matched.sort_by_key(|t| std::cmp::Reverse(t.created_at)),
            None => {}
        }
        let total = matched.len();
        let page = self
            .pager
            .page(matched)
            .into_iter()
            .map(|t| wire::upload_token(t, url))
            .collect();
        Ok(wire::list_response(
            "KalturaUploadTokenListResponse",
            page,
            total,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// upload
// ---------------------------------------------------------------------------------------------

/// `uploadToken.upload(uploadTokenId, fileData, resume = false, finalChunk = true, resumeAt = -1)`.
pub(crate) struct Upload {
    id: String,
    file: Arc<UploadedFile>,
    resume: bool,
    final_chunk: bool,
    resume_at: f64,
}

/// What the locked part of an upload leaves to do.
enum Next {
    /// Answered: hash what is contiguous, and the whole file when `complete` gives its length.
    Answer {
        out: Out,
        file: Option<Arc<Assembly>>,
        complete: Option<u64>,
    },
    /// A verified final chunk whose predecessors are still missing: wait for the file to reach
    /// `expected` bytes, then finalise.
    Wait { file: Arc<Assembly>, expected: u64 },
}

impl Action for Upload {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("uploadTokenId")?,
            file: args.required_file("fileData")?,
            resume: args.bool("resume", false),
            final_chunk: args.bool("finalChunk", true),
            resume_at: args.float("resumeAt", -1.0),
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let served = &call.served;
        let store = &served.backend.store;
        let upload_url = served.backend.upload_url(&served.cx);
        let url = upload_url.as_deref();
        let starter = store.starter(&served.cx.ids);
        let next = {
            let now = served.cx.clock.now();
            let mut tenants = store.lock();
            let tenant = tenants.get_mut(&session.partner_id).ok_or_else(not_found)?;
            self.begin(tenant, &session, store.retention, now, url, &starter)?
        };
        let (out, file, complete) = match next {
            Next::Answer {
                out,
                file,
                complete,
            } => (out, file, complete),
            Next::Wait { file, expected } => {
                file.drain().await;
                file.wait_for(expected, store.final_chunk_wait).await;
                let now = served.cx.clock.now();
                let mut tenants = store.lock();
                let tenant = tenants.get_mut(&session.partner_id).ok_or_else(not_found)?;
                let out = finish_verified(
                    tenant,
                    &session,
                    &self.id,
                    &file,
                    expected,
                    now,
                    (url, &starter),
                )?;
                (out, Some(file), Some(expected))
            }
        };
        if let Some(file) = file {
            file.drain().await;
            if let Some(length) = complete {
                let digest = file.finish(length).await;
                // The file is whole now: an entry that took it reads its duration and size.
                let media = {
                    let file = Arc::clone(&file);
                    tokio::task::spawn_blocking(move || super::lifecycle::probe_file(&file))
                        .await
                        .ok()
                        .flatten()
                };
                let mut tenants = store.lock();
                if let Some(tenant) = tenants.get_mut(&session.partner_id) {
                    tenant.media_read(&self.id, media);
                }
                let token = tenants
                    .get_mut(&session.partner_id)
                    .and_then(|tenant| tenant.tokens.get_mut(&self.id))
                    .filter(|token| token.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, &file)));
                if let Some(token) = token {
                    token.digest = Some(digest);
                    token.media = media;
                }
            }
        }
        Ok(out)
    }
}

impl Upload {
    /// Everything an upload decides under the lock: the checks of §4.2 in order, then where the
    /// part goes (§4.3–§4.5).
    fn begin(
        &self,
        tenant: &mut Tenant,
        session: &Session,
        retention: Retention,
        now: OffsetDateTime,
        url: Option<&str>,
        starter: &super::lifecycle::Starter<'_>,
    ) -> Result<Next, ApiError> {
        let token = tenant
            .tokens
            .get_mut(&self.id)
            .filter(|token| visible(token, session))
            .ok_or_else(not_found)?;
        if token.status == UploadTokenStatus::PartialUpload
            && token.updated_at < now - time::Duration::seconds(MAX_RESUME_SECONDS)
        {
            return Err(ApiError::new(
                "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED",
                &[&MAX_RESUME_SECONDS.to_string()],
            ));
        }
        if !accepts_uploads(token.status) {
            return Err(ApiError::new("UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD", &[]));
        }
        // The part's name goes into the same `varchar(256)` column as `add`'s.
        let file_name = limits::varchar(self.file.filename.clone(), limits::FILE_NAME_CHARS);
        if token.file_name.as_deref().is_none_or(php_falsy) {
            token.file_name = Some(file_name.clone());
            token.updated_at = now;
        }
        let size = self.file.len();
        token.chunks.push(ReceivedChunk {
            resume: self.resume,
            resume_at: self.resume_at,
            final_chunk: self.final_chunk,
            file_name,
            size,
            data: (retention == Retention::Memory)
                .then(|| self.file.in_memory())
                .flatten(),
        });
        // The manager's late check of the part (`kUploadTokenMgr::checkIfFileIsValid`): the
        // deserializer already refused a part without a temporary file, so what is left is a
        // name PHP takes as false, `"0"`. A whole upload that fails here deletes its token
        // (`kFlowHelper::handleUploadFailed`).
        if php_falsy(&self.file.filename) {
            if !self.resume && self.final_chunk {
                token.status = UploadTokenStatus::Deleted;
                token.updated_at = now;
            }
            return Err(ApiError::new("UPLOAD_ERROR", &[]));
        }
        let piece = self.file.content.clone();
        // The empty-chunk shortcut: nothing happens.
        if size == 0 && !self.final_chunk && self.resume_at > 0.0 {
            return Ok(Next::Answer {
                out: wire::upload_token(token, url),
                file: None,
                complete: None,
            });
        }
        let mut final_chunk = self.final_chunk;
        let mut expected = None;
        let file = if !self.resume {
            // The part replaces the file; any chunk waiting on the old one is dropped with it.
            let file = Assembly::new(Keying::Offset, retention, 0);
            file.write_at(0, piece);
            token.file = Some(file.clone());
            if token.auto_finalize {
                token.auto.received = size;
                if token.file_size == Some(size_as_i64(size)) {
                    final_chunk = true;
                }
            }
            file
        } else {
            let file = token
                .file
                .clone()
                .ok_or_else(|| ApiError::new("UPLOAD_TOKEN_CANNOT_RESUME", &[]))?;
            if self.resume_at == -1.0 {
                file.write_at(file.received(), piece);
                // As the server reads it: any append that leaves the file at or below the
                // declared size finalises it (see FIDELITY.md).
                if token.auto_finalize
                    && token
                        .file_size
                        .is_some_and(|declared| declared >= size_as_i64(file.received()))
                {
                    final_chunk = true;
                }
            } else {
                if final_chunk && self.resume_at > 0.0 {
                    expected = Some(offset_of(self.resume_at).saturating_add(size));
                }
                if token.auto_finalize && finaliser(token, size, now)? {
                    final_chunk = true;
                    expected = Some(token.file_size.map_or(0, |s| s.max(0).unsigned_abs()));
                }
                if self.resume_at >= 0.0 {
                    file.write_at(offset_of(self.resume_at), piece);
                }
            }
            file
        };
        let length = file.received();
        match expected {
            Some(expected) if length < expected => {
                return Ok(Next::Wait { file, expected });
            }
            Some(expected) if length > expected => {
                return Err(ApiError::new(
                    "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
                    &[],
                ));
            }
            _ => {}
        }
        token.uploaded_file_size = Some(length);
        token.updated_at = now;
        if !final_chunk {
            token.status = UploadTokenStatus::PartialUpload;
            return Ok(Next::Answer {
                out: wire::upload_token(token, url),
                file: Some(file),
                complete: None,
            });
        }
        token.status = UploadTokenStatus::FullUpload;
        tenant.consume_if_attached(&self.id, now, starter);
        let out = tenant
            .tokens
            .get(&self.id)
            .map(|t| wire::upload_token(t, url))
            .ok_or_else(not_found)?;
        Ok(Next::Answer {
            out,
            file: Some(file),
            complete: Some(length),
        })
    }
}

/// After the wait of a verified final chunk: the token must still take uploads and its file
/// must be exactly `expected` bytes long.
fn finish_verified(
    tenant: &mut Tenant,
    session: &Session,
    id: &str,
    file: &Arc<Assembly>,
    expected: u64,
    now: OffsetDateTime,
    (url, starter): (Option<&str>, &super::lifecycle::Starter<'_>),
) -> Result<Out, ApiError> {
    let token = tenant
        .tokens
        .get_mut(id)
        .filter(|token| visible(token, session))
        .ok_or_else(not_found)?;
    if !accepts_uploads(token.status) {
        return Err(ApiError::new("UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD", &[]));
    }
    let same_file = token.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, file));
    if !same_file || file.received() != expected {
        return Err(ApiError::new(
            "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            &[],
        ));
    }
    token.status = UploadTokenStatus::FullUpload;
    token.uploaded_file_size = Some(expected);
    token.updated_at = now;
    tenant.consume_if_attached(id, now, starter);
    tenant
        .tokens
        .get(id)
        .map(|t| wire::upload_token(t, url))
        .ok_or_else(not_found)
}

/// autoFinalize with an offset: counts the chunk, and makes this request the finaliser once the
/// count reaches the declared size and no other request holds the finaliser lock. The fifth
/// attempt fails, as the server's retry budget does.
fn finaliser(token: &mut StoredToken, size: u64, now: OffsetDateTime) -> Result<bool, ApiError> {
    token.auto.received = token.auto.received.saturating_add(size);
    let declared = token.file_size.unwrap_or(0);
    if size_as_i64(token.auto.received) < declared {
        return Ok(false);
    }
    if token.auto.lock_until.is_some_and(|until| until > now) {
        return Ok(false);
    }
    token.auto.lock_until = Some(now + FINALISER_LOCK);
    token.auto.attempts += 1;
    if token.auto.attempts >= FINALISER_ATTEMPTS {
        return Err(ApiError::new("INTERNAL_SERVERL_ERROR", &[]));
    }
    Ok(true)
}

/// Whether PHP takes a string as false: `""` and `"0"`.
fn php_falsy(text: &str) -> bool {
    text.is_empty() || text == "0"
}

/// A byte offset from `resumeAt` (≥ 0): whole bytes, saturating.
fn offset_of(resume_at: f64) -> u64 {
    resume_at as u64
}

fn size_as_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The journal's target for a call: the upload token it named (`uploadTokenId`), or the one
/// it created.
pub(crate) fn journal_target(
    service: &str,
    params: &super::params::Map,
    out: &Out,
) -> Option<String> {
    if let Some(id) = params
        .get("uploadTokenId")
        .map(super::params::to_php_string)
        .filter(|id| !id.is_empty())
    {
        return Some(id);
    }
    match out {
        Out::Object(object) if service == "uploadtoken" && object.class == "KalturaUploadToken" => {
            match object.get("id") {
                Some(Out::Str(id)) => Some(id.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}
