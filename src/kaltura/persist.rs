//! Kaltura's section of the state file and of the seed file.
//!
//! The state section holds the partners (with their secrets, so the KSs they signed stay
//! valid), the sessions ended with `session.end`, and every partner's upload tokens, entries,
//! app tokens and event notification templates.
//! A token whose file was complete and hashed comes back complete (its bytes too, when the
//! server keeps them); a token still receiving chunks comes back PENDING without a file,
//! because its bytes were not saved: a `resume` then fails with `UPLOAD_TOKEN_CANNOT_RESUME`
//! and the upload starts again (FIDELITY.md). Chunks' bytes are not kept in the state.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::apptoken::StoredAppToken;
use super::notifications::StoredTemplate;
use super::store::{
    AutoFinalize, EntryStatus, StoredEntry, StoredToken, Tenant, UploadTokenStatus,
};
use super::{Backend, Partner};
use crate::engine::error::Invalid;
use crate::engine::ids::Ids;
use crate::engine::tracked::{replay_into, Recorder};
use crate::engine::vendor::{Blob, Change, Changes};
use crate::upload::Retention;

/// The Kaltura section of a state file, and of a seed file: a seed is a state a person wrote,
/// where ids, dates and most fields may be left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(default)]
    partners: Vec<PartnerDoc>,
    /// KS strings revoked by `session.end`.
    #[serde(default)]
    ended_sessions: BTreeSet<String>,
}

/// One partner: its secrets, its upload tokens and its entries, each saved as the live struct.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PartnerDoc {
    id: i64,
    admin_secret: String,
    #[serde(default)]
    user_secret: String,
    #[serde(default)]
    upload_tokens: Vec<StoredToken>,
    #[serde(default)]
    entries: Vec<StoredEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    app_tokens: Vec<StoredAppToken>,
    /// HTTP event notification templates, deleted ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    event_notification_templates: Vec<StoredTemplate>,
}

/// Moves a section written by version 1 of the state file to today's layout: a token's
/// digest and autoFinalize bookkeeping are objects of their own, and its chunks are
/// `receivedChunks`.
pub(crate) fn upgrade(section: &mut Value, version: u32) {
    if version >= 2 {
        return;
    }
    let partners = section.get_mut("partners").and_then(Value::as_array_mut);
    for partner in partners.into_iter().flatten() {
        let tokens = partner
            .get_mut("uploadTokens")
            .and_then(Value::as_array_mut);
        for token in tokens
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            let mut take = |key: &str| token.remove(key).unwrap_or(Value::Null);
            let (size, sha256) = (take("size"), take("sha256"));
            let chunks = take("chunks");
            let mut auto = Map::new();
            auto.insert("received".into(), take("autoReceived"));
            auto.insert("lockUntil".into(), take("autoLockUntil"));
            auto.insert("attempts".into(), take("autoAttempts"));
            auto.retain(|_, value| !value.is_null());
            let digest = match (size, sha256) {
                (size @ Value::Number(_), sha256 @ Value::String(_)) => {
                    serde_json::json!({ "size": size, "sha256": sha256 })
                }
                _ => Value::Null,
            };
            token.insert("digest".into(), digest);
            token.insert("receivedChunks".into(), chunks);
            token.insert("auto".into(), Value::Object(auto));
        }
    }
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
                let tokens = tenant.into_iter().flat_map(|t| t.tokens.values());
                let entries = tenant.into_iter().flat_map(|t| t.entries.values());
                let app_tokens = tenant.into_iter().flat_map(|t| t.app_tokens.values());
                let templates = tenant.into_iter().flat_map(|t| t.templates.values());
                PartnerDoc {
                    id,
                    admin_secret: partner.map(|p| p.admin_secret.clone()).unwrap_or_default(),
                    user_secret: partner.map(|p| p.user_secret.clone()).unwrap_or_default(),
                    upload_tokens: tokens
                        .inspect(|token| {
                            if let (Some(digest), Some(file), true) =
                                (&token.digest, &token.file, retention == Retention::Memory)
                            {
                                if digest.is_known() {
                                    blobs.push(Blob {
                                        sha256: digest.sha256().to_owned(),
                                        file: file.clone(),
                                    });
                                }
                            }
                        })
                        .cloned()
                        .collect(),
                    entries: entries.cloned().collect(),
                    app_tokens: app_tokens.cloned().collect(),
                    event_notification_templates: templates.cloned().collect(),
                }
            })
            .collect();
        let document = Document {
            partners,
            ended_sessions: ended,
        };
        // Plain data: serialising cannot fail.
        let json = serde_json::to_value(&document).unwrap_or_default();
        (json, blobs)
    }

    /// Brings back a saved state. Configured partners keep their secrets; saved partners not
    /// configured are added. `blob` reads the kept bytes of a completed upload (sha256, size).
    pub(crate) fn restore(
        &self,
        document: Document,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        self.put(document, |token, retention| {
            restore_file(token, retention, blob)
        });
    }

    /// What changed since the last call, object by object (see `Key`).
    pub(crate) fn changes(&self) -> Changes {
        let mut recorder = Recorder::new(self.store.retention);
        {
            let mut state = self.lock();
            if std::mem::take(&mut state.partners_added) {
                recorder.everything();
            }
            recorder.map(&mut state.ended, Key::Ended);
        }
        let mut tenants = self.store.lock();
        for (&partner, tenant) in tenants.iter_mut() {
            recorder.map_with_files(
                &mut tenant.tokens,
                |id| Key::Token(partner, id),
                |token| (token.digest.as_ref(), token.file.as_ref()),
            );
            recorder.map(&mut tenant.entries, |id| Key::Entry(partner, id));
            recorder.map(&mut tenant.app_tokens, |id| Key::AppToken(partner, id));
            recorder.map(&mut tenant.templates, |id| Key::Template(partner, id));
        }
        recorder.finish()
    }

    /// Applies changes [`Backend::changes`] described, after a restore.
    pub(crate) fn replay(
        &self,
        changes: Vec<Change>,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        let retention = self.store.retention;
        let mut tenants = self.store.lock();
        let mut ended = Vec::new();
        for Change { key, value } in changes {
            let applied = serde_json::from_value::<Key>(key.clone()).and_then(|k| match k {
                Key::Token(partner, id) => {
                    let tokens = &mut tenants.entry(partner).or_default().tokens;
                    replay_into(tokens, id, value, |token: &mut StoredToken| {
                        token.partner_id = partner;
                        restore_file(token, retention, blob);
                    })
                }
                Key::Entry(partner, id) => {
                    let entries = &mut tenants.entry(partner).or_default().entries;
                    replay_into(entries, id, value, |entry: &mut StoredEntry| {
                        entry.partner_id = partner;
                    })
                }
                Key::AppToken(partner, id) => {
                    let app_tokens = &mut tenants.entry(partner).or_default().app_tokens;
                    replay_into(app_tokens, id, value, |app_token: &mut StoredAppToken| {
                        app_token.partner_id = partner;
                    })
                }
                Key::Template(partner, id) => {
                    let templates = &mut tenants.entry(partner).or_default().templates;
                    replay_into(templates, id, value, |template: &mut StoredTemplate| {
                        template.partner_id = partner;
                    })
                }
                Key::Ended(ks) => {
                    ended.push((ks, value.is_some()));
                    Ok(())
                }
            });
            if let Err(error) = applied {
                tracing::warn!(%key, %error, "a saved Kaltura change was skipped");
            }
        }
        tenants.values_mut().for_each(wait_for_lost_files);
        // Conversions restored mid-way are stepped on the next read.
        tenants.values_mut().for_each(Tenant::wake);
        drop(tenants);
        let mut state = self.lock();
        for (ks, revoked) in ended {
            if revoked {
                // The file keeps no expiry: a restored revocation is kept for good.
                state.ended.insert(ks, i64::MAX);
            } else {
                state.ended.shift_remove(&ks);
            }
        }
    }

    /// Puts a document's partners, sessions, tokens and entries in place; `file` gives each
    /// token back what it can of its file.
    fn put(&self, document: Document, file: impl Fn(&mut StoredToken, Retention)) {
        {
            let mut state = self.lock();
            for saved in &document.partners {
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
                .extend(document.ended_sessions.into_iter().map(|ks| (ks, i64::MAX)));
        }
        let retention = self.store.retention;
        let mut tenants = self.store.lock();
        for saved in document.partners {
            let mut tenant = Tenant::default();
            for mut token in saved.upload_tokens {
                token.partner_id = saved.id;
                file(&mut token, retention);
                tenant.tokens.insert(token.id.clone(), token);
            }
            for mut entry in saved.entries {
                entry.partner_id = saved.id;
                tenant.entries.insert(entry.id.clone(), entry);
            }
            for mut app_token in saved.app_tokens {
                app_token.partner_id = saved.id;
                tenant.app_tokens.insert(app_token.id.clone(), app_token);
            }
            for mut template in saved.event_notification_templates {
                template.partner_id = saved.id;
                tenant.templates.insert(template.id, template);
            }
            wait_for_lost_files(&mut tenant);
            tenants.insert(saved.id, tenant);
        }
    }
}

/// Gives a token read back its finished file; a token still receiving, or complete but not
/// yet hashed when it was saved, lost its bytes and starts again.
fn restore_file(
    token: &mut StoredToken,
    retention: Retention,
    blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
) {
    let receiving = matches!(
        token.status,
        UploadTokenStatus::PartialUpload
            | UploadTokenStatus::FullUpload
            | UploadTokenStatus::Closed
    );
    if !token.reattach(retention, blob) && receiving {
        token.status = UploadTokenStatus::Pending;
        token.uploaded_file_size = None;
        token.auto = AutoFinalize::default();
    }
}

/// An entry made READY by a token whose file did not come back waits for it again.
fn wait_for_lost_files(tenant: &mut Tenant) {
    let lost: Vec<String> = tenant
        .entries
        .iter()
        .filter(|(_, entry)| entry.status == EntryStatus::Ready)
        .filter(|(_, entry)| {
            entry
                .upload_token_id
                .as_ref()
                .and_then(|id| tenant.tokens.get(id))
                .is_some_and(|token| token.status == UploadTokenStatus::Pending)
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in lost {
        if let Some(entry) = tenant.entries.get_mut(&id) {
            entry.conversion = None;
            entry.media = None;
            let at = entry.updated_at;
            super::lifecycle::set_status(entry, EntryStatus::Import, at);
            // Bringing a state back is no event.
            entry.changes.clear();
        }
    }
}

/// Which object a change is about: `{"token": [partnerId, id]}`, `{"ended": ks}`…
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Key {
    Token(i64, String),
    Entry(i64, String),
    AppToken(i64, String),
    Template(i64, i64),
    Ended(String),
}

fn hex_id(id: &str, digits: usize) -> bool {
    id.len() == digits + 2
        && id.starts_with("0_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Document {
    /// Checks what serde cannot: ids positive, unique and well formed (upload tokens, entries,
    /// app tokens and event notification templates), sizes and media types known.
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
                let id = &token.id;
                if !id.is_empty() && (!hex_id(id, 32) || !ids.insert(id.clone())) {
                    return Err(Invalid::at(
                        format!("{at}.uploadTokens[{t}].id"),
                        format!("{id:?} is not `0_` and 32 lower-case hex digits of its own"),
                    ));
                }
                if token.file_size.is_some_and(|s| s < 0) {
                    return Err(Invalid::at(
                        format!("{at}.uploadTokens[{t}].fileSize"),
                        "is negative",
                    ));
                }
            }
            for (a, app_token) in partner.app_tokens.iter().enumerate() {
                let id = &app_token.id;
                if !id.is_empty() && (!hex_id(id, 8) || !ids.insert(id.clone())) {
                    return Err(Invalid::at(
                        format!("{at}.appTokens[{a}].id"),
                        format!("{id:?} is not `0_` and 8 lower-case hex digits of its own"),
                    ));
                }
                if !(1..=3).contains(&app_token.status) {
                    return Err(Invalid::at(
                        format!("{at}.appTokens[{a}].status"),
                        format!(
                            "{} is not 1 (disabled), 2 (active) or 3 (deleted)",
                            app_token.status
                        ),
                    ));
                }
            }
            let mut template_ids = std::collections::HashSet::new();
            if partner.event_notification_templates.len() > super::notifications::MAX_KEPT {
                return Err(Invalid::at(
                    format!("{at}.eventNotificationTemplates"),
                    format!(
                        "holds more than {} templates",
                        super::notifications::MAX_KEPT
                    ),
                ));
            }
            for (n, template) in partner.event_notification_templates.iter().enumerate() {
                if template.id <= 0 || !template_ids.insert(template.id) {
                    return Err(Invalid::at(
                        format!("{at}.eventNotificationTemplates[{n}].id"),
                        format!("{} is not a positive id of its own", template.id),
                    ));
                }
                if !(1..=3).contains(&template.status) {
                    return Err(Invalid::at(
                        format!("{at}.eventNotificationTemplates[{n}].status"),
                        format!(
                            "{} is not 1 (disabled), 2 (active) or 3 (deleted)",
                            template.status
                        ),
                    ));
                }
            }
            for (e, entry) in partner.entries.iter().enumerate() {
                let id = &entry.id;
                if !id.is_empty() && (!hex_id(id, 8) || !ids.insert(id.clone())) {
                    return Err(Invalid::at(
                        format!("{at}.entries[{e}].id"),
                        format!("{id:?} is not `0_` and 8 lower-case hex digits of its own"),
                    ));
                }
                if let Some(media_type) = entry.media_type.filter(|t| ![1, 2, 5].contains(t)) {
                    return Err(Invalid::at(
                        format!("{at}.entries[{e}].mediaType"),
                        format!("{media_type} is not 1 (video), 2 (image) or 5 (audio)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Backend {
    /// Adds the seed's partners (configured ones keep their secrets), tokens and entries: a seed
    /// is put in place like a state, once its ids and dates are filled in. A token's status is
    /// kept as the seed gives it; one with a digest gets its file back without bytes.
    pub(crate) fn apply_seed(&self, seed: &Document, ids: &Ids, now: OffsetDateTime) {
        let mut seed = seed.clone();
        for partner in &mut seed.partners {
            partner
                .upload_tokens
                .iter_mut()
                .for_each(|t| t.fill(ids, now));
            partner.entries.iter_mut().for_each(|e| e.fill(ids, now));
            partner.app_tokens.iter_mut().for_each(|t| t.fill(ids, now));
        }
        self.put(seed, |token, retention| {
            token.reattach(retention, &|_, _| None);
        });
    }
}
