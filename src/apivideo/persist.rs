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

use super::videos::{ReceivedChunk, Scheme, Source, StoredVideo};
use super::{Backend, Grant, Project, UploadToken};
use crate::engine::error::Invalid;
use crate::engine::ids::Ids;
use crate::engine::vendor::Blob;
use crate::upload::{Assembly, Digest256, Keying, Retention};

/// The api.video section of a state file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Snapshot {
    projects: Vec<ProjectState>,
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum RefreshState {
    Expiring(RefreshGrant),
    /// Files written before refresh tokens expired hold the API key alone; such a token gets
    /// a full lifetime from the restart.
    Key(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshGrant {
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectState {
    api_key: String,
    #[serde(default)]
    upload_tokens: Vec<TokenState>,
    #[serde(default)]
    videos: Vec<VideoState>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenState {
    token: String,
    ttl: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccessState {
    token: String,
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VideoState {
    video_id: String,
    title: String,
    description: String,
    public: bool,
    panoramic: bool,
    mp4_support: bool,
    tags: Vec<String>,
    metadata: Vec<Metadata>,
    language: Option<String>,
    player_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    upload_token: Option<String>,
    source: SourceState,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    key: String,
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SourceState {
    scheme: SchemeState,
    chunks: Vec<ChunkState>,
    #[serde(with = "time::serde::rfc3339::option")]
    completed_at: Option<OffsetDateTime>,
    size: Option<u64>,
    sha256: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum SchemeState {
    Fresh,
    Whole,
    Parts {
        total: Option<u32>,
        /// `[part number, size]` pairs.
        received: Vec<(u32, u64)>,
    },
    Bytes {
        total: Option<u64>,
        /// `[from, to]` pairs (inclusive).
        ranges: Vec<(u64, u64)>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChunkState {
    content_range: Option<String>,
    size: u64,
}

impl Backend {
    /// The api.video section of the state file, and the completed uploads whose bytes are kept.
    pub(crate) fn snapshot(&self) -> crate::engine::vendor::Snapshot {
        let state = self.lock();
        let mut blobs = Vec::new();
        let projects = state
            .projects
            .iter()
            .map(|(key, project)| ProjectState {
                api_key: key.clone(),
                upload_tokens: project
                    .tokens
                    .values()
                    .map(|t| TokenState {
                        token: t.token.clone(),
                        ttl: t.ttl,
                        created_at: t.created_at,
                    })
                    .collect(),
                videos: project
                    .videos
                    .values()
                    .map(|video| {
                        if let (Some(digest), Some(file)) =
                            (&video.source.digest, &video.source.assembly)
                        {
                            if self.retention == Retention::Memory {
                                blobs.push(Blob {
                                    sha256: digest.sha256().to_owned(),
                                    file: file.clone(),
                                });
                            }
                        }
                        video_state(video)
                    })
                    .collect(),
            })
            .collect();
        let snapshot = Snapshot {
            projects,
            token_projects: state
                .token_projects
                .iter()
                .map(|(t, k)| (t.clone(), k.clone()))
                .collect(),
            access_tokens: {
                let mut access: Vec<AccessState> = state
                    .access
                    .iter()
                    .map(|(token, grant)| AccessState {
                        token: token.clone(),
                        api_key: grant.key.clone(),
                        expires_at: grant.expires_at,
                    })
                    .collect();
                access.sort_by(|a, b| a.token.cmp(&b.token));
                access
            },
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
        let json = serde_json::to_value(&snapshot).unwrap_or_default();
        (json, blobs)
    }

    /// Brings back a saved state: projects are added to the configured ones (whose keys stay
    /// first), their tokens and videos replaced by the saved ones. `blob` reads the kept bytes of
    /// a completed upload (sha256, size); `now` is the restored clock's time.
    pub(crate) fn restore(
        &self,
        snapshot: Snapshot,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
        now: OffsetDateTime,
    ) {
        let retention = self.retention;
        let mut state = self.lock();
        for saved in snapshot.projects {
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
                .map(|v| {
                    let video = restore_video(v, retention, blob);
                    (video.id.clone(), video)
                })
                .collect();
        }
        state.token_projects.extend(snapshot.token_projects);
        for access in snapshot.access_tokens {
            state.access.insert(
                access.token,
                Grant {
                    key: access.api_key,
                    expires_at: access.expires_at,
                },
            );
        }
        for (token, saved) in snapshot.refresh_tokens {
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

fn video_state(video: &StoredVideo) -> VideoState {
    let source = &video.source;
    VideoState {
        video_id: video.id.clone(),
        title: video.title.clone(),
        description: video.description.clone(),
        public: video.public,
        panoramic: video.panoramic,
        mp4_support: video.mp4_support,
        tags: video.tags.clone(),
        metadata: video
            .metadata
            .iter()
            .map(|(key, value)| Metadata {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        language: video.language.clone(),
        player_id: video.player_id.clone(),
        created_at: video.created_at,
        updated_at: video.updated_at,
        upload_token: video.upload_token.clone(),
        source: SourceState {
            scheme: match &source.scheme {
                Scheme::Fresh => SchemeState::Fresh,
                Scheme::Whole => SchemeState::Whole,
                Scheme::Parts { total, received } => SchemeState::Parts {
                    total: *total,
                    received: received.iter().map(|(k, v)| (*k, *v)).collect(),
                },
                Scheme::Bytes { total, ranges } => SchemeState::Bytes {
                    total: *total,
                    ranges: ranges.iter().map(|(k, v)| (*k, *v)).collect(),
                },
            },
            chunks: source
                .chunks
                .iter()
                .map(|c| ChunkState {
                    content_range: c.content_range.clone(),
                    size: c.size,
                })
                .collect(),
            completed_at: source.completed_at,
            size: source.digest.as_ref().map(|d| d.size),
            sha256: source
                .digest
                .as_ref()
                .filter(|d| d.is_known())
                .map(|d| d.sha256().to_owned()),
        },
    }
}

fn restore_video(
    v: VideoState,
    retention: Retention,
    blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
) -> StoredVideo {
    let mut video = StoredVideo::new(v.video_id, v.title, v.created_at);
    video.description = v.description;
    video.public = v.public;
    video.panoramic = v.panoramic;
    video.mp4_support = v.mp4_support;
    video.tags = v.tags;
    video.metadata = v.metadata.into_iter().map(|m| (m.key, m.value)).collect();
    video.language = v.language;
    video.player_id = v.player_id;
    video.updated_at = v.updated_at;
    video.upload_token = v.upload_token;
    let s = v.source;
    // Only a source that was complete and hashed comes back; anything else starts afresh.
    if let (Some(completed_at), Some(size), Some(sha256)) = (s.completed_at, s.size, s.sha256) {
        let (scheme, keying, next) = match s.scheme {
            SchemeState::Parts { total, received } => {
                let received: BTreeMap<u32, u64> = received.into_iter().collect();
                let next = u64::from(received.keys().next_back().copied().unwrap_or(0)) + 1;
                (Scheme::Parts { total, received }, Keying::Ordinal, next)
            }
            SchemeState::Bytes { total, ranges } => {
                let ranges = ranges.into_iter().collect();
                (Scheme::Bytes { total, ranges }, Keying::Offset, size)
            }
            SchemeState::Whole | SchemeState::Fresh => (Scheme::Whole, Keying::Offset, size),
        };
        let content = (retention == Retention::Memory)
            .then(|| blob(&sha256, size))
            .flatten();
        video.source = Source {
            scheme,
            assembly: Some(Assembly::restored(keying, retention, next, size, content)),
            chunks: s
                .chunks
                .into_iter()
                .map(|c| ReceivedChunk {
                    content_range: c.content_range,
                    size: c.size,
                })
                .collect(),
            completed_at: Some(completed_at),
            digest: Some(Digest256::known(size, sha256)),
        };
    }
    video
}

/// The api.video section of a seed file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Seed {
    #[serde(default)]
    projects: Vec<SeedProject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedProject {
    api_key: String,
    #[serde(default)]
    upload_tokens: Vec<SeedToken>,
    #[serde(default)]
    videos: Vec<SeedVideo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedToken {
    /// `to` + base62; generated when absent.
    token: Option<String>,
    /// Seconds; 0 (the default) never expires.
    #[serde(default)]
    ttl: u32,
    /// Defaults to the server's start.
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedVideo {
    /// `vi` + base62; generated when absent.
    video_id: Option<String>,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    metadata: Vec<Metadata>,
    #[serde(default = "yes")]
    public: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
}

fn yes() -> bool {
    true
}

impl Seed {
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
                if let Some(id) = &token.token {
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
                if let Some(id) = &video.video_id {
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
    /// Adds the seed's projects, tokens and videos (after the configured projects).
    pub(crate) fn apply_seed(&self, seed: &Seed, ids: &Ids, now: OffsetDateTime) {
        let mut state = self.lock();
        for project in &seed.projects {
            let key = project.api_key.clone();
            for token in &project.upload_tokens {
                let id = token.token.clone().unwrap_or_else(|| ids.base62("to", 22));
                let token = UploadToken::new(id, token.ttl, token.created_at.unwrap_or(now));
                state
                    .token_projects
                    .insert(token.token.clone(), key.clone());
                state
                    .projects
                    .entry(key.clone())
                    .or_insert_with(Project::new)
                    .tokens
                    .insert(token.token.clone(), token);
            }
            let target = state
                .projects
                .entry(key.clone())
                .or_insert_with(Project::new);
            for seeded in &project.videos {
                let id = seeded
                    .video_id
                    .clone()
                    .unwrap_or_else(|| ids.base62("vi", 22));
                let created_at = seeded.created_at.unwrap_or(now);
                let mut video = StoredVideo::new(id, seeded.title.clone(), created_at);
                video.description = seeded.description.clone();
                video.tags = seeded.tags.clone();
                video.metadata = seeded
                    .metadata
                    .iter()
                    .map(|m| (m.key.clone(), m.value.clone()))
                    .collect();
                video.public = seeded.public;
                target.videos.insert(video.id.clone(), video);
            }
        }
    }
}
