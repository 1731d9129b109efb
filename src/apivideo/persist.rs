//! api.video's section of the state file and of the seed file.
//!
//! The state section is everything a restart must bring back: projects, upload tokens (expired
//! ones too, and which project every token ever belonged to, so an upload started before expiry
//! can finish), videos with their attributes and their source's bookkeeping (scheme, parts or
//! ranges received, chunks, completion, size and sha256), and the access and refresh tokens
//! clients hold. Rate-limit windows are not kept: they last a minute.
//!
//! Images a client uploaded (thumbnails, watermarks, logos) are saved as references (content
//! type, size, sha256) with their bytes beside the state file, whatever the retention, and come
//! back with them.
//!
//! A completed source comes back complete; a source still incomplete when the state was saved
//! comes back empty, because its bytes (or, with only digests kept, its running hash) were not
//! saved: the upload starts again from its first chunk (FIDELITY.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::players::StoredPlayer;
use super::videos::StoredVideo;
use super::watermarks::StoredWatermark;
use super::{Backend, Grant, Project, UploadToken};
use crate::engine::error::Invalid;
use crate::engine::ids::Ids;
use crate::engine::tracked::{replay_into, Recorder};
use crate::engine::vendor::{Blob, Change, Changes};
use crate::upload::kept::KeptFile;
use crate::upload::Retention;

/// The api.video section of a state file, and of a seed file: a seed is a state a person wrote,
/// where ids and dates may be left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(default)]
    projects: Vec<ProjectDoc>,
    /// Every upload token ever created → the API key of its project.
    #[serde(default)]
    token_projects: BTreeMap<String, String>,
    /// Access token → API key and expiry.
    #[serde(default)]
    access_tokens: BTreeMap<String, Grant>,
    /// Unspent refresh token → API key and expiry.
    #[serde(default)]
    refresh_tokens: BTreeMap<String, RefreshState>,
}

/// A saved refresh token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum RefreshState {
    Expiring(Grant),
    /// Files written before refresh tokens expired hold the API key alone; such a token gets
    /// a full lifetime from the restart.
    Key(String),
}

impl RefreshState {
    fn grant(self, now: OffsetDateTime) -> Grant {
        match self {
            RefreshState::Expiring(grant) => grant,
            RefreshState::Key(key) => Grant {
                key,
                expires_at: now + super::REFRESH_TOKEN_TTL,
            },
        }
    }
}

/// One project: its key, its upload tokens and its videos, each saved as the live struct.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectDoc {
    api_key: String,
    #[serde(default)]
    upload_tokens: Vec<UploadToken>,
    #[serde(default)]
    videos: Vec<StoredVideo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    watermarks: Vec<StoredWatermark>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    players: Vec<StoredPlayer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    webhooks: Vec<super::webhooks::Webhook>,
}

/// Moves a section written by version 1 of the state file to today's layout: a source's
/// `size` and `sha256` now sit in its `digest`, and access tokens are a map like refresh
/// tokens.
pub(crate) fn upgrade(section: &mut serde_json::Value, version: u32) {
    if version >= 2 {
        return;
    }
    if let Some(serde_json::Value::Array(list)) =
        section.get_mut("accessTokens").map(std::mem::take)
    {
        let map: serde_json::Map<String, serde_json::Value> = list
            .into_iter()
            .filter_map(|mut access| {
                let token = access.as_object_mut()?.remove("token")?;
                Some((token.as_str()?.to_owned(), access))
            })
            .collect();
        section["accessTokens"] = serde_json::Value::Object(map);
    }
    let projects = section.get_mut("projects").and_then(|p| p.as_array_mut());
    for project in projects.into_iter().flatten() {
        let videos = project.get_mut("videos").and_then(|v| v.as_array_mut());
        for video in videos.into_iter().flatten() {
            if let Some(source) = video.get_mut("source").and_then(|s| s.as_object_mut()) {
                let size = source.remove("size");
                let sha256 = source.remove("sha256");
                let digest = match (size, sha256) {
                    (Some(size @ serde_json::Value::Number(_)), sha256) => {
                        let mut digest = serde_json::Map::new();
                        digest.insert("size".into(), size);
                        if let Some(sha256 @ serde_json::Value::String(_)) = sha256 {
                            digest.insert("sha256".into(), sha256);
                        }
                        serde_json::Value::Object(digest)
                    }
                    _ => serde_json::Value::Null,
                };
                source.insert("digest".into(), digest);
            }
        }
    }
}

impl Backend {
    /// The api.video section of the state file, and the completed uploads whose bytes are kept.
    pub(crate) fn snapshot(&self) -> crate::engine::vendor::Snapshot {
        let state = self.lock();
        let mut blobs = Vec::new();
        let projects = state
            .projects
            .iter()
            .map(|(key, project)| ProjectDoc {
                api_key: key.clone(),
                upload_tokens: project.tokens.values().cloned().collect(),
                webhooks: project.webhooks.values().cloned().collect(),
                videos: project
                    .videos
                    .values()
                    .inspect(|video| {
                        blobs.extend(kept_blobs(video.kept_files()));
                        if let (Some(digest), Some(file)) =
                            (&video.source.digest, &video.source.assembly)
                        {
                            if self.retention == Retention::Memory && digest.is_known() {
                                blobs.push(Blob {
                                    sha256: digest.sha256().to_owned(),
                                    file: file.clone(),
                                });
                            }
                        }
                    })
                    .cloned()
                    .collect(),
                watermarks: project
                    .watermarks
                    .values()
                    .inspect(|w| blobs.extend(kept_blobs(w.image.as_ref())))
                    .cloned()
                    .collect(),
                players: project
                    .players
                    .values()
                    .inspect(|p| blobs.extend(kept_blobs(p.kept_file())))
                    .cloned()
                    .collect(),
            })
            .collect();
        let document = Document {
            projects,
            token_projects: state
                .token_projects
                .iter()
                .map(|(t, k)| (t.clone(), k.clone()))
                .collect(),
            access_tokens: state
                .access
                .iter()
                .map(|(token, grant)| (token.clone(), grant.clone()))
                .collect(),
            refresh_tokens: state
                .refresh
                .iter()
                .map(|(token, grant)| (token.clone(), RefreshState::Expiring(grant.clone())))
                .collect(),
        };
        // Plain data: serialising cannot fail.
        let json = serde_json::to_value(&document).unwrap_or_default();
        (json, blobs)
    }

    /// Brings back a saved state: projects are added to the configured ones (whose keys stay
    /// first), their tokens and videos replaced by the saved ones. `blob` reads the kept bytes of
    /// a completed upload (sha256, size); `now` is the restored clock's time.
    pub(crate) fn restore(
        &self,
        document: Document,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
        now: OffsetDateTime,
    ) {
        let retention = self.retention;
        let mut state = self.lock();
        for saved in document.projects {
            for token in &saved.upload_tokens {
                let key = saved.api_key.clone();
                state.token_projects.insert(token.token.clone(), key);
            }
            let project = state
                .projects
                .entry(saved.api_key)
                .or_insert_with(Project::new);
            project.tokens.clear();
            project.videos.clear();
            project.watermarks.clear();
            project.players.clear();
            project.watermarks = saved
                .watermarks
                .into_iter()
                .map(|mut w| {
                    w.restore_image(blob);
                    (w.watermark_id.clone(), w)
                })
                .collect();
            project.players = saved
                .players
                .into_iter()
                .map(|mut p| {
                    p.restore_logo(blob);
                    (p.player_id.clone(), p)
                })
                .collect();
            project.webhooks = saved
                .webhooks
                .into_iter()
                .map(|w| (w.webhook_id.clone(), w))
                .collect();
            project.tokens = saved
                .upload_tokens
                .into_iter()
                .map(|t| {
                    let token = UploadToken::new(t.token, t.ttl, t.created_at);
                    (token.token.clone(), token)
                })
                .collect();
            project.videos = saved
                .videos
                .into_iter()
                .map(|mut video| {
                    video.source.restore(retention, blob);
                    video.restore_thumbnail(blob);
                    (video.id.clone(), video)
                })
                .collect();
        }
        state.token_projects.extend(document.token_projects);
        state.access.extend(document.access_tokens);
        for (token, saved) in document.refresh_tokens {
            state.refresh.insert(token, saved.grant(now));
        }
    }

    /// What changed since the last call, object by object (see `Key`).
    pub(crate) fn changes(&self) -> Changes {
        let mut state = self.lock();
        let mut recorder = Recorder::new(self.retention);
        if std::mem::take(&mut state.projects_added) {
            recorder.everything();
        }
        for (api_key, project) in state.projects.iter_mut() {
            recorder.map(&mut project.tokens, |t| Key::Token(api_key.clone(), t));
            recorder.map(&mut project.webhooks, |w| Key::Webhook(api_key.clone(), w));
            recorder.map_keeping(
                &mut project.videos,
                |id| Key::Video(api_key.clone(), id),
                |video| (video.source.digest.as_ref(), video.source.assembly.as_ref()),
                |video| kept_blobs(video.kept_files()),
            );
            recorder.map_keeping(
                &mut project.watermarks,
                |id| Key::Watermark(api_key.clone(), id),
                |_| (None, None),
                |watermark| kept_blobs(watermark.image.as_ref()),
            );
            recorder.map_keeping(
                &mut project.players,
                |id| Key::Player(api_key.clone(), id),
                |_| (None, None),
                |player| kept_blobs(player.kept_file()),
            );
        }
        recorder.map(&mut state.access, Key::Access);
        recorder.map(&mut state.refresh, Key::Refresh);
        recorder.map(&mut state.token_projects, Key::TokenProject);
        recorder.finish()
    }

    /// Applies changes [`Backend::changes`] described, after a restore.
    pub(crate) fn replay(
        &self,
        changes: Vec<Change>,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        let retention = self.retention;
        let mut state = self.lock();
        for Change { key, value } in changes {
            let applied = serde_json::from_value::<Key>(key.clone()).and_then(|k| match k {
                Key::Token(api_key, token) => {
                    let tokens = &mut project(&mut state, api_key).tokens;
                    replay_into(tokens, token, value, |t: &mut UploadToken| {
                        *t = UploadToken::new(t.token.clone(), t.ttl, t.created_at);
                    })
                }
                Key::Video(api_key, id) => {
                    let videos = &mut project(&mut state, api_key).videos;
                    replay_into(videos, id, value, |video: &mut StoredVideo| {
                        video.source.restore(retention, blob);
                        video.restore_thumbnail(blob);
                    })
                }
                Key::Watermark(api_key, id) => {
                    let watermarks = &mut project(&mut state, api_key).watermarks;
                    replay_into(watermarks, id, value, |w: &mut StoredWatermark| {
                        w.restore_image(blob);
                    })
                }
                Key::Player(api_key, id) => {
                    let players = &mut project(&mut state, api_key).players;
                    replay_into(players, id, value, |p: &mut StoredPlayer| {
                        p.restore_logo(blob);
                    })
                }
                Key::Webhook(api_key, id) => {
                    let webhooks = &mut project(&mut state, api_key).webhooks;
                    replay_into(webhooks, id, value, |_| {})
                }
                Key::Access(token) => replay_into(&mut state.access, token, value, |_| {}),
                Key::Refresh(token) => replay_into(&mut state.refresh, token, value, |_| {}),
                Key::TokenProject(token) => {
                    replay_into(&mut state.token_projects, token, value, |_| {})
                }
            });
            if let Err(error) = applied {
                tracing::warn!(%key, %error, "a saved api.video change was skipped");
            }
        }
    }
}

/// The kept images `files` names, to be written beside the state file whatever the retention:
/// a restored video, watermark or player serves them.
fn kept_blobs<'a>(files: impl IntoIterator<Item = &'a KeptFile>) -> Vec<Blob> {
    files
        .into_iter()
        .filter_map(|kept| {
            Some(Blob {
                sha256: kept.digest.sha256().to_owned(),
                file: kept.file.clone()?,
            })
        })
        .collect()
}

/// Which object a change is about: `{"video": [apiKey, videoId]}`, `{"access": token}`…
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Key {
    Token(String, String),
    Video(String, String),
    Watermark(String, String),
    Player(String, String),
    Webhook(String, String),
    Access(String),
    Refresh(String),
    TokenProject(String),
}

/// The project `api_key`, added when a change names one the state does not have yet.
fn project(state: &mut super::State, api_key: String) -> &mut Project {
    state.projects.entry(api_key).or_insert_with(Project::new)
}

impl Document {
    /// Checks what serde cannot: non-empty keys and titles, ids unique and well formed.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let mut keys = std::collections::HashSet::new();
        let mut tokens = std::collections::HashSet::new();
        let mut videos = std::collections::HashSet::new();
        let mut watermarks = std::collections::HashSet::new();
        let mut players = std::collections::HashSet::new();
        for (p, project) in self.projects.iter().enumerate() {
            if project.api_key.is_empty() {
                return Err(Invalid::at(
                    format!("apivideo.projects[{p}].apiKey"),
                    "is empty",
                ));
            }
            if !keys.insert(project.api_key.as_str()) {
                return Err(Invalid::at(
                    format!("apivideo.projects[{p}].apiKey"),
                    format!("{:?} appears twice", project.api_key),
                ));
            }
            for (t, token) in project.upload_tokens.iter().enumerate() {
                if token.ttl > super::tokens::MAX_TTL as u32 {
                    return Err(Invalid::at(
                        format!("apivideo.projects[{p}].uploadTokens[{t}].ttl"),
                        "is above 2147483647",
                    ));
                }
                let id = &token.token;
                if !id.is_empty() {
                    if !well_formed(id, "to") {
                        return Err(Invalid::at(
                            format!("apivideo.projects[{p}].uploadTokens[{t}].token"),
                            format!("{id:?} is not `to` followed by letters and digits"),
                        ));
                    }
                    if !tokens.insert(id.as_str()) {
                        return Err(Invalid::at(
                            format!("apivideo.projects[{p}].uploadTokens[{t}].token"),
                            format!("{id:?} appears twice"),
                        ));
                    }
                }
            }
            for (v, video) in project.videos.iter().enumerate() {
                if video.title.is_empty() {
                    return Err(Invalid::at(
                        format!("apivideo.projects[{p}].videos[{v}].title"),
                        "is empty",
                    ));
                }
                let id = &video.id;
                if !id.is_empty() {
                    if !well_formed(id, "vi") {
                        return Err(Invalid::at(
                            format!("apivideo.projects[{p}].videos[{v}].videoId"),
                            format!("{id:?} is not `vi` followed by letters and digits"),
                        ));
                    }
                    if !videos.insert(id.as_str()) {
                        return Err(Invalid::at(
                            format!("apivideo.projects[{p}].videos[{v}].videoId"),
                            format!("{id:?} appears twice"),
                        ));
                    }
                }
                video.validate_files(&format!("apivideo.projects[{p}].videos[{v}]"))?;
            }
            if project.watermarks.len() > super::watermarks::MAX_PER_PROJECT
                || project.players.len() > super::players::MAX_PER_PROJECT
            {
                return Err(Invalid::at(
                    format!("apivideo.projects[{p}]"),
                    "holds more watermarks or players than a project may (1000 each)",
                ));
            }
            for (w, watermark) in project.watermarks.iter().enumerate() {
                let id = &watermark.watermark_id;
                if !id.is_empty() && (!well_formed_watermark(id) || !watermarks.insert(id.as_str()))
                {
                    return Err(Invalid::at(
                        format!("apivideo.projects[{p}].watermarks[{w}].watermarkId"),
                        format!("{id:?} is not `watermark_` followed by letters and digits, or appears twice"),
                    ));
                }
            }
            for (n, player) in project.players.iter().enumerate() {
                let id = &player.player_id;
                if !id.is_empty() && (!well_formed(id, "pl") || !players.insert(id.as_str())) {
                    return Err(Invalid::at(
                        format!("apivideo.projects[{p}].players[{n}].playerId"),
                        format!(
                            "{id:?} is not `pl` followed by letters and digits, or appears twice"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn well_formed_watermark(id: &str) -> bool {
    id.strip_prefix("watermark_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn well_formed(id: &str, prefix: &str) -> bool {
    id.len() > prefix.len()
        && id.starts_with(prefix)
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Backend {
    /// Adds the seed's projects, tokens and videos (after the configured projects), and any
    /// access and refresh tokens it holds: a seed is restored like a state, once its ids and
    /// dates are filled in.
    pub(crate) fn apply_seed(&self, seed: &Document, ids: &Ids, now: OffsetDateTime) {
        let mut seed = seed.clone();
        for project in &mut seed.projects {
            for token in &mut project.upload_tokens {
                *token = token.clone().fill(ids, now);
            }
            for video in &mut project.videos {
                video.fill(ids, now);
            }
            for watermark in &mut project.watermarks {
                watermark.fill(ids, now);
            }
            for player in &mut project.players {
                player.fill(ids, now);
            }
        }
        // A seed carries no bytes: a finished upload comes back with its digest only.
        self.restore(seed, &|_, _| None, now);
    }
}
