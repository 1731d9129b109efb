//! api.video's section of the state file and of the seed file.
//!
//! The state section is everything a restart must bring back: projects, upload tokens (expired
//! ones too, and which project every token ever belonged to, so an upload started before expiry
//! can finish), videos with their attributes and their source's bookkeeping (scheme, parts or
//! ranges received, chunks, completion, size and sha256), and the access and refresh tokens
//! clients hold. Rate-limit windows are not kept: they last a minute.
//!
//! A completed source comes back complete; a source still incomplete when the state was saved
//! comes back empty, because its bytes (or, with only digests kept, its running hash) were not
//! saved: the upload starts again from its first chunk (FIDELITY.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::videos::StoredVideo;
use super::{Backend, Grant, Project, UploadToken};
use crate::engine::error::Invalid;
use crate::engine::ids::Ids;
use crate::engine::vendor::Blob;
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
    #[serde(default)]
    access_tokens: Vec<AccessState>,
    /// Unspent refresh token → API key and expiry.
    #[serde(default)]
    refresh_tokens: BTreeMap<String, RefreshState>,
}

/// A saved refresh token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum RefreshState {
    Expiring(RefreshGrant),
    /// Files written before refresh tokens expired hold the API key alone; such a token gets
    /// a full lifetime from the restart.
    Key(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshGrant {
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccessState {
    token: String,
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Moves a section written by version 1 of the state file to today's layout: a source's
/// `size` and `sha256` now sit in its `digest`.
pub(crate) fn upgrade(section: &mut serde_json::Value, version: u32) {
    if version >= 2 {
        return;
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
                videos: project
                    .videos
                    .values()
                    .inspect(|video| {
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
            })
            .collect();
        let mut access_tokens: Vec<AccessState> = state
            .access
            .iter()
            .map(|(token, grant)| AccessState {
                token: token.clone(),
                api_key: grant.key.clone(),
                expires_at: grant.expires_at,
            })
            .collect();
        access_tokens.sort_by(|a, b| a.token.cmp(&b.token));
        let document = Document {
            projects,
            token_projects: state
                .token_projects
                .iter()
                .map(|(t, k)| (t.clone(), k.clone()))
                .collect(),
            access_tokens,
            refresh_tokens: state
                .refresh
                .iter()
                .map(|(token, grant)| {
                    let saved = RefreshGrant {
                        api_key: grant.key.clone(),
                        expires_at: grant.expires_at,
                    };
                    (token.clone(), RefreshState::Expiring(saved))
                })
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
                    (video.id.clone(), video)
                })
                .collect();
        }
        state.token_projects.extend(document.token_projects);
        for access in document.access_tokens {
            state.access.insert(
                access.token,
                Grant {
                    key: access.api_key,
                    expires_at: access.expires_at,
                },
            );
        }
        for (token, saved) in document.refresh_tokens {
            let grant = match saved {
                RefreshState::Expiring(saved) => Grant {
                    key: saved.api_key,
                    expires_at: saved.expires_at,
                },
                RefreshState::Key(key) => Grant {
                    key,
                    expires_at: now + super::REFRESH_TOKEN_TTL,
                },
            };
            state.refresh.insert(token, grant);
        }
    }
}

impl Document {
    /// Checks what serde cannot: non-empty keys and titles, ids unique and well formed.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let mut keys = std::collections::HashSet::new();
        let mut tokens = std::collections::HashSet::new();
        let mut videos = std::collections::HashSet::new();
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
            }
        }
        Ok(())
    }
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
        }
        // A seed carries no bytes: a finished upload comes back with its digest only.
        self.restore(seed, &|_, _| None, now);
    }
}
