//! Kaltura's section of the state file and of the seed file.
//!
//! The state section holds the partners (with their secrets, so the KSs they signed stay
//! valid), the sessions ended with `session.end`, and every partner's upload tokens and entries.
//! A token whose file was complete and hashed comes back complete (its bytes too, when the
//! server keeps them); a token still receiving chunks comes back PENDING without a file,
//! because its bytes were not saved: a `resume` then fails with `UPLOAD_TOKEN_CANNOT_RESUME`
//! and the upload starts again (FIDELITY.md). Chunks' bytes are not kept in the state.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::store::{
    Attachment, AutoFinalize, EntryStatus, ReceivedChunk, StoredEntry, StoredToken, Tenant,
    UploadTokenStatus, ENTRY_TYPE_MEDIA_CLIP,
};
use super::{Backend, Partner};
use crate::engine::error::Invalid;
use crate::engine::ids::Ids;
use crate::engine::vendor::Blob;
use crate::upload::{Assembly, Digest256, Keying, Retention};

/// The Kaltura section of a state file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Snapshot {
    partners: Vec<PartnerState>,
    /// KS strings revoked by `session.end`.
    #[serde(default)]
    ended_sessions: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PartnerState {
    id: i64,
    admin_secret: String,
    user_secret: String,
    #[serde(default)]
    upload_tokens: Vec<TokenState>,
    #[serde(default)]
    entries: Vec<EntryState>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenState {
    id: String,
    user_id: String,
    /// `KalturaUploadTokenStatus` (0–5).
    status: i64,
    file_name: Option<String>,
    file_size: Option<i64>,
    auto_finalize: bool,
    uploaded_file_size: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    attached_object_type: Option<String>,
    attached_object_id: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    chunks: Vec<ChunkState>,
    auto_received: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    auto_lock_until: Option<OffsetDateTime>,
    auto_attempts: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChunkState {
    resume: bool,
    resume_at: f64,
    final_chunk: bool,
    file_name: String,
    size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryState {
    id: String,
    user_id: String,
    creator_id: String,
    object_type: EntryClass,
    #[serde(rename = "type")]
    entry_type: i64,
    media_type: Option<i64>,
    name: String,
    description: String,
    tags: String,
    reference_id: Option<String>,
    partner_data: Option<String>,
    conversion_profile_id: Option<i64>,
    access_control_id: Option<i64>,
    /// `KalturaEntryStatus` as on the wire (`"7"`).
    status: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    upload_token_id: Option<String>,
}

/// The API classes an entry may be answered as (named as on the wire).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[allow(clippy::enum_variant_names)]
enum EntryClass {
    KalturaMediaEntry,
    KalturaDataEntry,
    KalturaDocumentEntry,
    KalturaBaseEntry,
}

impl EntryClass {
    fn of(class: &str) -> Self {
        match class {
            "KalturaDataEntry" => EntryClass::KalturaDataEntry,
            "KalturaDocumentEntry" => EntryClass::KalturaDocumentEntry,
            "KalturaBaseEntry" => EntryClass::KalturaBaseEntry,
            _ => EntryClass::KalturaMediaEntry,
        }
    }

    fn name(self) -> &'static str {
        match self {
            EntryClass::KalturaMediaEntry => "KalturaMediaEntry",
            EntryClass::KalturaDataEntry => "KalturaDataEntry",
            EntryClass::KalturaDocumentEntry => "KalturaDocumentEntry",
            EntryClass::KalturaBaseEntry => "KalturaBaseEntry",
        }
    }
}

fn entry_status(code: &str) -> Option<EntryStatus> {
    Some(match code {
        "0" => EntryStatus::Import,
        "2" => EntryStatus::Ready,
        "3" => EntryStatus::Deleted,
        "7" => EntryStatus::NoContent,
        _ => return None,
    })
}

impl Backend {
    /// The digest of every completed upload.
    pub(crate) fn digests(&self) -> Vec<crate::upload::Digest256> {
        self.store.digests()
    }

    /// The Kaltura section of the state file, and the completed uploads whose bytes are kept.
    pub(crate) fn snapshot(&self) -> crate::engine::vendor::Snapshot {
        let (partners, ended) = {
            let state = self.lock();
            let partners: Vec<Partner> = state.partners.values().cloned().collect();
            (
                partners,
                state.ended.keys().cloned().collect::<BTreeSet<_>>(),
            )
        };
        let retention = self.store.retention;
        let mut blobs = Vec::new();
        let tenants = self.store.lock();
        // Partners in their configured order, then any tenant of a partner no longer configured.
        let mut ids: Vec<i64> = partners.iter().map(|p| p.id).collect();
        let mut others: Vec<i64> = tenants
            .keys()
            .copied()
            .filter(|id| !ids.contains(id))
            .collect();
        others.sort_unstable();
        ids.extend(others);
        let partners = ids
            .into_iter()
            .map(|id| {
                let partner = partners.iter().find(|p| p.id == id);
                let tenant = tenants.get(&id);
                PartnerState {
                    id,
                    admin_secret: partner.map(|p| p.admin_secret.clone()).unwrap_or_default(),
                    user_secret: partner.map(|p| p.user_secret.clone()).unwrap_or_default(),
                    upload_tokens: tenant
                        .map(|t| {
                            t.tokens
                                .values()
                                .map(|token| {
                                    if let (Some(digest), Some(file), true) =
                                        (&token.digest, &token.file, retention == Retention::Memory)
                                    {
                                        blobs.push(Blob {
                                            sha256: digest.sha256().to_owned(),
                                            file: file.clone(),
                                        });
                                    }
                                    token_state(token)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    entries: tenant
                        .map(|t| t.entries.values().map(entry_state).collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
        let snapshot = Snapshot {
            partners,
            ended_sessions: ended,
        };
        // Plain data: serialising cannot fail.
        let json = serde_json::to_value(&snapshot).unwrap_or_default();
        (json, blobs)
    }

    /// Brings back a saved state. Configured partners keep their secrets; saved partners not
    /// configured are added. `blob` reads the kept bytes of a completed upload (sha256, size).
    pub(crate) fn restore(
        &self,
        snapshot: Snapshot,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        {
            let mut state = self.lock();
            for saved in &snapshot.partners {
                if !saved.admin_secret.is_empty() {
                    state.partners.entry(saved.id).or_insert_with(|| Partner {
                        id: saved.id,
                        admin_secret: saved.admin_secret.clone(),
                        user_secret: saved.user_secret.clone(),
                    });
                }
            }
            // The file keeps no expiry: a restored revocation is kept for good.
            state
                .ended
                .extend(snapshot.ended_sessions.into_iter().map(|ks| (ks, i64::MAX)));
        }
        let retention = self.store.retention;
        let mut tenants = self.store.lock();
        for saved in snapshot.partners {
            let mut tenant = Tenant::default();
            for t in saved.upload_tokens {
                let token = restore_token(saved.id, t, retention, blob);
                tenant.tokens.insert(token.id.clone(), token);
            }
            for e in saved.entries {
                let entry = restore_entry(saved.id, e);
                tenant.entries.insert(entry.id.clone(), entry);
            }
            // An entry made READY by a token whose file did not come back waits for it again.
            for entry in tenant.entries.values_mut() {
                let lost = entry
                    .upload_token_id
                    .as_ref()
                    .and_then(|id| tenant.tokens.get(id))
                    .is_some_and(|token| token.status == UploadTokenStatus::Pending);
                if entry.status == EntryStatus::Ready && lost {
                    entry.status = EntryStatus::Import;
                }
            }
            tenants.insert(saved.id, tenant);
        }
    }
}

fn token_state(token: &StoredToken) -> TokenState {
    TokenState {
        id: token.id.clone(),
        user_id: token.user_id.clone(),
        status: token.status.code(),
        file_name: token.file_name.clone(),
        file_size: token.file_size,
        auto_finalize: token.auto_finalize,
        uploaded_file_size: token.uploaded_file_size,
        created_at: token.created_at,
        updated_at: token.updated_at,
        attached_object_type: token.attached.as_ref().map(|a| a.object_type.clone()),
        attached_object_id: token.attached.as_ref().map(|a| a.object_id.clone()),
        size: token.digest.as_ref().map(|d| d.size),
        sha256: token.digest.as_ref().map(|d| d.sha256().to_owned()),
        chunks: token
            .chunks
            .iter()
            .map(|c| ChunkState {
                resume: c.resume,
                resume_at: c.resume_at,
                final_chunk: c.final_chunk,
                file_name: c.file_name.clone(),
                size: c.size,
            })
            .collect(),
        auto_received: token.auto.received,
        auto_lock_until: token.auto.lock_until,
        auto_attempts: token.auto.attempts,
    }
}

fn restore_token(
    partner_id: i64,
    t: TokenState,
    retention: Retention,
    blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
) -> StoredToken {
    let status = UploadTokenStatus::from_code(t.status).unwrap_or(UploadTokenStatus::Pending);
    let attached = match (t.attached_object_type, t.attached_object_id) {
        (Some(object_type), Some(object_id)) => Some(Attachment {
            object_type,
            object_id,
        }),
        _ => None,
    };
    let mut token = StoredToken {
        id: t.id,
        partner_id,
        user_id: t.user_id,
        status,
        file_name: t.file_name,
        file_size: t.file_size,
        auto_finalize: t.auto_finalize,
        uploaded_file_size: t.uploaded_file_size,
        created_at: t.created_at,
        updated_at: t.updated_at,
        attached,
        file: None,
        digest: None,
        chunks: t
            .chunks
            .into_iter()
            .map(|c| ReceivedChunk {
                resume: c.resume,
                resume_at: c.resume_at,
                final_chunk: c.final_chunk,
                file_name: c.file_name,
                size: c.size,
                data: None,
            })
            .collect(),
        auto: AutoFinalize {
            received: t.auto_received,
            lock_until: t.auto_lock_until,
            attempts: t.auto_attempts,
        },
    };
    let receiving = matches!(
        status,
        UploadTokenStatus::PartialUpload
            | UploadTokenStatus::FullUpload
            | UploadTokenStatus::Closed
    );
    match (t.size, t.sha256) {
        (Some(size), Some(sha256)) if token.is_complete() => {
            let content = (retention == Retention::Memory)
                .then(|| blob(&sha256, size))
                .flatten();
            token.file = Some(Assembly::restored(
                Keying::Offset,
                retention,
                size,
                size,
                content,
            ));
            token.digest = Some(Digest256::known(size, sha256));
        }
        // Still receiving, or complete but not yet hashed: the bytes are gone, start again.
        _ if receiving => {
            token.status = UploadTokenStatus::Pending;
            token.uploaded_file_size = None;
            token.auto = AutoFinalize::default();
        }
        _ => {}
    }
    token
}

fn entry_state(entry: &StoredEntry) -> EntryState {
    EntryState {
        id: entry.id.clone(),
        user_id: entry.user_id.clone(),
        creator_id: entry.creator_id.clone(),
        object_type: EntryClass::of(entry.class),
        entry_type: entry.entry_type,
        media_type: entry.media_type,
        name: entry.name.clone(),
        description: entry.description.clone(),
        tags: entry.tags.clone(),
        reference_id: entry.reference_id.clone(),
        partner_data: entry.partner_data.clone(),
        conversion_profile_id: entry.conversion_profile_id,
        access_control_id: entry.access_control_id,
        status: entry.status.code().to_owned(),
        created_at: entry.created_at,
        updated_at: entry.updated_at,
        upload_token_id: entry.upload_token_id.clone(),
    }
}

fn restore_entry(partner_id: i64, e: EntryState) -> StoredEntry {
    StoredEntry {
        id: e.id,
        partner_id,
        user_id: e.user_id,
        creator_id: e.creator_id,
        class: e.object_type.name(),
        entry_type: e.entry_type,
        media_type: e.media_type,
        name: e.name,
        description: e.description,
        tags: e.tags,
        reference_id: e.reference_id,
        partner_data: e.partner_data,
        conversion_profile_id: e.conversion_profile_id,
        access_control_id: e.access_control_id,
        status: entry_status(&e.status).unwrap_or(EntryStatus::NoContent),
        created_at: e.created_at,
        updated_at: e.updated_at,
        upload_token_id: e.upload_token_id,
    }
}

/// The Kaltura section of a seed file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Seed {
    #[serde(default)]
    partners: Vec<SeedPartner>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedPartner {
    id: i64,
    admin_secret: String,
    #[serde(default)]
    user_secret: String,
    #[serde(default)]
    upload_tokens: Vec<SeedToken>,
    #[serde(default)]
    entries: Vec<SeedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedToken {
    /// `0_` + 32 hex; generated when absent.
    id: Option<String>,
    #[serde(default)]
    user_id: String,
    /// A `KalturaUploadTokenStatus` name or number; PENDING by default.
    #[serde(default)]
    status: Option<serde_json::Value>,
    file_name: Option<String>,
    file_size: Option<i64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedEntry {
    /// `0_` + 8 hex; generated when absent.
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: String,
    /// `KalturaMediaType`: 1 video (default), 2 image, 5 audio.
    #[serde(default = "video")]
    media_type: i64,
    #[serde(default)]
    user_id: String,
    reference_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
}

fn video() -> i64 {
    1
}

/// A seed token's status: a name (`"PENDING"`) or a number (`0`).
fn seed_status(value: &Option<serde_json::Value>) -> Option<UploadTokenStatus> {
    match value {
        None => Some(UploadTokenStatus::Pending),
        Some(serde_json::Value::Number(n)) => n.as_i64().and_then(UploadTokenStatus::from_code),
        Some(serde_json::Value::String(name)) => (0..=5)
            .filter_map(UploadTokenStatus::from_code)
            .find(|s| s.name().eq_ignore_ascii_case(name)),
        Some(_) => None,
    }
}

fn hex_id(id: &str, digits: usize) -> bool {
    id.len() == digits + 2
        && id.starts_with("0_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Seed {
    /// Checks what serde cannot: ids positive, unique and well formed, statuses known.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let mut partners = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for (p, partner) in self.partners.iter().enumerate() {
            let at = format!("kaltura.partners[{p}]");
            if partner.id <= 0 || !partners.insert(partner.id) {
                return Err(Invalid::at(
                    format!("{at}.id"),
                    format!("{} is not a positive id of its own", partner.id),
                ));
            }
            if partner.admin_secret.is_empty() {
                return Err(Invalid::at(format!("{at}.adminSecret"), "is empty"));
            }
            for (t, token) in partner.upload_tokens.iter().enumerate() {
                if let Some(id) = &token.id {
                    if !hex_id(id, 32) || !ids.insert(id.clone()) {
                        return Err(Invalid::at(
                            format!("{at}.uploadTokens[{t}].id"),
                            format!("{id:?} is not `0_` and 32 lower-case hex digits of its own"),
                        ));
                    }
                }
                if seed_status(&token.status).is_none() {
                    return Err(Invalid::at(format!("{at}.uploadTokens[{t}].status"), "is not a KalturaUploadTokenStatus (PENDING, PARTIAL_UPLOAD, FULL_UPLOAD, CLOSED, TIMED_OUT, DELETED or 0–5)"));
                }
                if token.file_size.is_some_and(|s| s < 0) {
                    return Err(Invalid::at(
                        format!("{at}.uploadTokens[{t}].fileSize"),
                        "is negative",
                    ));
                }
            }
            for (e, entry) in partner.entries.iter().enumerate() {
                if let Some(id) = &entry.id {
                    if !hex_id(id, 8) || !ids.insert(id.clone()) {
                        return Err(Invalid::at(
                            format!("{at}.entries[{e}].id"),
                            format!("{id:?} is not `0_` and 8 lower-case hex digits of its own"),
                        ));
                    }
                }
                if ![1, 2, 5].contains(&entry.media_type) {
                    return Err(Invalid::at(
                        format!("{at}.entries[{e}].mediaType"),
                        format!(
                            "{} is not 1 (video), 2 (image) or 5 (audio)",
                            entry.media_type
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Backend {
    /// Adds the seed's partners (configured ones keep their secrets), tokens and entries.
    pub(crate) fn apply_seed(&self, seed: &Seed, ids: &Ids, now: OffsetDateTime) {
        {
            let mut state = self.lock();
            for partner in &seed.partners {
                state.partners.entry(partner.id).or_insert_with(|| Partner {
                    id: partner.id,
                    admin_secret: partner.admin_secret.clone(),
                    user_secret: partner.user_secret.clone(),
                });
            }
        }
        let mut tenants = self.store.lock();
        for partner in &seed.partners {
            let tenant = tenants.entry(partner.id).or_default();
            for seeded in &partner.upload_tokens {
                let created_at = seeded.created_at.unwrap_or(now);
                let token = StoredToken {
                    id: seeded.id.clone().unwrap_or_else(|| ids.hex("0_", 32)),
                    partner_id: partner.id,
                    user_id: seeded.user_id.clone(),
                    status: seed_status(&seeded.status).unwrap_or(UploadTokenStatus::Pending),
                    file_name: seeded.file_name.clone(),
                    file_size: seeded.file_size,
                    auto_finalize: false,
                    uploaded_file_size: None,
                    created_at,
                    updated_at: created_at,
                    attached: None,
                    file: None,
                    digest: None,
                    chunks: Vec::new(),
                    auto: AutoFinalize::default(),
                };
                tenant.tokens.insert(token.id.clone(), token);
            }
            for seeded in &partner.entries {
                let created_at = seeded.created_at.unwrap_or(now);
                let entry = StoredEntry {
                    id: seeded.id.clone().unwrap_or_else(|| ids.hex("0_", 8)),
                    partner_id: partner.id,
                    user_id: seeded.user_id.clone(),
                    creator_id: seeded.user_id.clone(),
                    class: "KalturaMediaEntry",
                    entry_type: ENTRY_TYPE_MEDIA_CLIP,
                    media_type: Some(seeded.media_type),
                    name: seeded.name.clone(),
                    description: seeded.description.clone(),
                    tags: seeded.tags.clone(),
                    reference_id: seeded.reference_id.clone(),
                    partner_data: None,
                    conversion_profile_id: None,
                    access_control_id: None,
                    status: EntryStatus::NoContent,
                    created_at,
                    updated_at: created_at,
                    upload_token_id: None,
                };
                tenant.entries.insert(entry.id.clone(), entry);
            }
        }
    }
}
