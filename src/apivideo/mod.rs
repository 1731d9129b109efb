//! api.video: authentication and Upload Tokens, as the official clients see them.
//!
//! Everything api.video-specific lives here: routes and operation names, the problem+json error
//! shape, the exact media types, ATOM dates, rate-limit headers. State is kept per project
//! (API key), like the vendor, so parallel tests can share one server through separate keys.
//! The reference is `../shared/specs/apivideo.md`; choices it leaves open are in `FIDELITY.md`.

mod assets;
mod auth;
mod captions;
mod chapters;
mod discarded;
mod files;
mod filters;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod language;
pub(crate) mod lifecycle;
pub(crate) mod paging;
pub(crate) mod persist;
mod players;
mod problem;
mod ratelimit;
mod routes;
mod tags;
mod thumbnails;
pub(crate) mod tokens;
pub(crate) mod upload;
pub(crate) mod videos;
mod watermarks;
pub(crate) mod webhooks;
pub(crate) mod wire;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use indexmap::IndexMap;
use time::OffsetDateTime;

pub use lifecycle::{
    Encoding, EncodingSchedule, Format, IngestStatus, QualityEncoded, QualityStatus, Rendition,
};
pub use problem::{Problem, ProblemItem};
pub use ratelimit::RateLimits;
pub use videos::ReceivedChunk;

use crate::engine::body::{IntoResponse, Request, Response};
use crate::engine::ids::Ids;
use crate::engine::journal::Handled;
use crate::engine::tracked::Tracked;
use crate::engine::vendor::Vendor;
use crate::engine::vendor::{Context, Contract, Plugin};
use ratelimit::{Budget, RateInfo};
use routes::{Class, NoRoute, Route};

/// Response headers a browser page may read (../shared/specs/apivideo.md §11.2): the
/// rate-limit headers every answer carries.
pub(crate) const CORS_EXPOSED_HEADERS: &[&str] = &[
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-retry-after",
];

/// The API key of the default project when no key is configured.
pub const DEFAULT_API_KEY: &str = "vidmock-api-key";

/// api.video settings of a server (set through [`crate::MockServerBuilder`]).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Project API keys, default project first; empty means `[DEFAULT_API_KEY]`.
    pub keys: Vec<String>,
    /// Lifetime of access tokens (`expires_in`).
    pub access_token_ttl: Duration,
    /// Per-minute budgets of every project.
    pub rate_limits: RateLimits,
    /// Largest file part one request may carry (whole uploads, parts and ranges).
    pub max_file_size: u64,
    /// How long ingest and each quality's encoding take after an upload completes.
    pub schedule: EncodingSchedule,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            access_token_ttl: Duration::from_secs(3600),
            rate_limits: RateLimits::default(),
            max_file_size: upload::MAX_CHUNK,
            schedule: EncodingSchedule::default(),
        }
    }
}

/// An upload token as vidmock stores it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let token = server.apivideo().create_token(None);
/// assert!(token.token.starts_with("to"));
/// assert_eq!(token.ttl, 0);
/// assert_eq!(token.expires_at, None);
/// # }
/// ```
///
/// The same struct is what the state file, the seed file and the admin API hold of a token
/// (`{"token", "ttl", "createdAt", "expiresAt"}`); reading one back recomputes `expiresAt`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadToken {
    /// `to` + 22 base62 characters.
    #[serde(default)]
    pub token: String,
    /// Lifetime in seconds; 0 means it never expires.
    #[serde(default)]
    pub ttl: u32,
    /// Creation instant, on the server's clock.
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `created_at + ttl`, or `None` for ttl 0.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl UploadToken {
    fn new(token: String, ttl: u32, created_at: OffsetDateTime) -> Self {
        let expires_at = (ttl > 0).then(|| created_at + Duration::from_secs(ttl.into()));
        Self {
            token,
            ttl,
            created_at,
            expires_at,
        }
    }

    /// A token read from a document, made whole: an id and a creation date when a seed left
    /// them out, and the expiry its ttl gives.
    fn fill(self, ids: &Ids, now: OffsetDateTime) -> Self {
        let token = if self.token.is_empty() {
            ids.base62("to", 22)
        } else {
            self.token
        };
        let created_at = if crate::engine::clock::is_unset(self.created_at) {
            now
        } else {
            self.created_at
        };
        Self::new(token, self.ttl, created_at)
    }

    /// Whether the token still accepts new uploads at `now`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let token = server.apivideo().create_token(Some(std::time::Duration::from_secs(10)));
    /// assert!(token.is_active(server.clock().now()));
    /// # }
    /// ```
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// How long a refresh token can be spent: a month, the default of league/oauth2-server, whose
/// encrypted refresh tokens are the `def502…` strings api.video hands out.
pub(crate) const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What an access or refresh token from `/auth/*` grants (also as the state file holds it).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Grant {
    /// The project's API key.
    #[serde(rename = "apiKey")]
    pub key: String,
    /// The token is refused from this instant on.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// One api.video project.
#[derive(Debug)]
pub(crate) struct Project {
    /// Upload tokens by id, in creation order; expired ones stay (invisible) until deleted.
    tokens: Tracked<String, UploadToken>,
    /// Videos by id, in creation order.
    videos: Tracked<String, videos::StoredVideo>,
    /// Watermarks by id, in upload order (at most `watermarks::MAX_PER_PROJECT`).
    watermarks: Tracked<String, watermarks::StoredWatermark>,
    /// Player themes by id, in creation order (at most `players::MAX_PER_PROJECT`).
    players: Tracked<String, players::StoredPlayer>,
    /// Webhooks by id, in creation order (at most `webhooks::MAX_WEBHOOKS`).
    webhooks: Tracked<String, webhooks::Webhook>,
    budget: Budget,
    /// How many of the next uploads to complete fail to encode (scripted by a
    /// `failProcessing` fault or [`ApiVideo::fail_next_encodings`]; not saved, cleared by a
    /// reset, like the faults that set it).
    fail_next: u32,
}

impl Project {
    fn new() -> Self {
        Self {
            tokens: Tracked::new(),
            videos: Tracked::new(),
            watermarks: Tracked::new(),
            players: Tracked::new(),
            webhooks: Tracked::new(),
            budget: Budget::default(),
            fail_next: 0,
        }
    }
}

/// Everything the api.video side keeps, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Projects by API key; the first is the default project.
    pub projects: IndexMap<String, Project>,
    /// Access tokens → grant; expired ones until the next sweep.
    pub access: Tracked<String, Grant>,
    /// Unspent refresh tokens → grant; expired ones until the next sweep.
    pub refresh: Tracked<String, Grant>,
    /// When the next grant forgets expired access and refresh tokens: a client logging in
    /// again and again must not grow the mock for ever.
    sweeps: crate::engine::clock::SweepSchedule,
    /// Every upload token ever created (deleted and expired ones included) → API key, so an
    /// upload started before expiry or deletion can be finished.
    pub token_projects: Tracked<String, String>,
    /// Set when a project was added while serving: only a whole snapshot records it.
    pub projects_added: bool,
}

impl State {
    /// How many access and refresh tokens are kept, expired ones included.
    fn credentials(&self) -> usize {
        self.access.len() + self.refresh.len()
    }

    /// Forgets access and refresh tokens expired at `now`: an expired token is refused just
    /// like an unknown one.
    fn forget_expired(&mut self, now: OffsetDateTime) {
        self.access.retain(|_, grant| now < grant.expires_at);
        self.refresh.retain(|_, grant| now < grant.expires_at);
        let left = self.credentials();
        self.sweeps.swept(left);
    }
}

/// The api.video backend of one server.
#[derive(Debug)]
pub(crate) struct Backend {
    pub config: Config,
    /// What is kept of uploaded files.
    pub retention: crate::Retention,
    /// Held only for synchronous bookkeeping, never across an `.await`.
    state: Mutex<State>,
}

impl Backend {
    pub(crate) fn new(mut config: Config, retention: crate::Retention) -> Self {
        if config.keys.is_empty() {
            config.keys.push(DEFAULT_API_KEY.to_owned());
        }
        let state = State {
            projects: config
                .keys
                .iter()
                .map(|key| (key.clone(), Project::new()))
                .collect(),
            ..State::default()
        };
        Self {
            config,
            retention,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes before the guard drops; a panic cannot leave a
        // half-written record, so a poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets tokens and videos. Credentials stay: projects (API keys) and the access and
    /// refresh tokens clients already hold, so a client need not log in again after a reset.
    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        for project in state.projects.values_mut() {
            project.tokens.clear();
            project.videos.clear();
            project.watermarks.clear();
            project.players.clear();
            project.webhooks.clear();
            project.budget = Budget::default();
            project.fail_next = 0;
        }
        state.token_projects.clear();
    }

    fn add_project(&self, key: &str) {
        let mut state = self.lock();
        if !state.projects.contains_key(key) {
            state.projects.insert(key.to_owned(), Project::new());
            state.projects_added = true;
        }
    }

    /// Issues an access/refresh token pair for project `key`.
    fn grant(&self, ids: &Ids, key: String, now: OffsetDateTime) -> (String, String) {
        let access_token = ids.base62("", 86);
        let refresh_token = ids.hex("def502", 128);
        let expires_at = now + self.config.access_token_ttl;
        let mut state = self.lock();
        if state.sweeps.due(state.credentials()) {
            state.forget_expired(now);
        }
        state.access.insert(
            access_token.clone(),
            Grant {
                key: key.clone(),
                expires_at,
            },
        );
        state.refresh.insert(
            refresh_token.clone(),
            Grant {
                key,
                expires_at: now + REFRESH_TOKEN_TTL,
            },
        );
        (access_token, refresh_token)
    }

    fn create_token(&self, ids: &Ids, key: &str, ttl: u32, now: OffsetDateTime) -> UploadToken {
        let token = UploadToken::new(ids.base62("to", 22), ttl, now);
        let mut state = self.lock();
        if let Some(project) = state.projects.get_mut(key) {
            project.tokens.insert(token.token.clone(), token.clone());
            state
                .token_projects
                .insert(token.token.clone(), key.to_owned());
        }
        token
    }

    fn active_tokens(&self, key: &str, now: OffsetDateTime) -> Vec<UploadToken> {
        self.lock()
            .projects
            .get(key)
            .map(|project| {
                project
                    .tokens
                    .values()
                    .filter(|t| t.is_active(now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn active_token(&self, key: &str, token: &str, now: OffsetDateTime) -> Option<UploadToken> {
        self.lock()
            .projects
            .get(key)?
            .tokens
            .get(token)
            .filter(|t| t.is_active(now))
            .cloned()
    }

    /// Deletes an active token; `false` when there is none by that id (or it has expired).
    fn delete_token(&self, key: &str, token: &str, now: OffsetDateTime) -> bool {
        let mut state = self.lock();
        let Some(project) = state.projects.get_mut(key) else {
            return false;
        };
        match project.tokens.get(token) {
            Some(t) if t.is_active(now) => project.tokens.shift_remove(token).is_some(),
            _ => false,
        }
    }

    fn take_budget(
        &self,
        key: &str,
        class: Class,
        now: OffsetDateTime,
    ) -> Result<RateInfo, RateInfo> {
        let limits = self.config.rate_limits;
        match self.lock().projects.get_mut(key) {
            Some(project) => project.budget.take(&limits, class, now),
            None => Ok(RateInfo::untouched(&limits, class, now)),
        }
    }
}

impl Contract for Backend {
    /// Every path Kaltura does not own: an unknown one gets api.video's own 404.
    fn owns(&self, _path: &str) -> bool {
        true
    }

    fn handle(
        self: Arc<Self>,
        cx: Arc<Context>,
        request: Request,
    ) -> futures_util::future::BoxFuture<'static, Response> {
        Box::pin(async move { handle(&self, &cx, request).await })
    }

    /// A problem, like every other error the API sends.
    fn refused_by_transport(
        &self,
        status: http::StatusCode,
    ) -> Option<(&'static str, bytes::Bytes)> {
        let problem = match status {
            http::StatusCode::URI_TOO_LONG => Problem::uri_too_long(),
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Problem::headers_too_large(),
            _ => return None,
        };
        Some((
            "application/problem+json",
            bytes::Bytes::from(serde_json::to_vec(&problem).ok()?),
        ))
    }

    fn reset(&self) {
        Backend::reset(self);
    }

    fn state_json(&self, now: OffsetDateTime) -> serde_json::Value {
        Backend::state_json(self, now)
    }

    fn digests(&self) -> Vec<crate::upload::Digest256> {
        Backend::digests(self)
    }

    fn snapshot(&self) -> crate::engine::vendor::Snapshot {
        Backend::snapshot(self)
    }

    fn changes(&self) -> crate::engine::vendor::Changes {
        Backend::changes(self)
    }

    fn chunk_of(&self, request: &crate::RecordedRequest) -> Option<String> {
        chunk_of(request)
    }

    fn operations(&self) -> Vec<String> {
        Route::operations().map(str::to_owned).collect()
    }

    fn fault_presets(&self) -> Vec<(&'static str, serde_json::Value)> {
        // The admin API's `apivideoProblem` form, as the fault engine reads it back.
        let problem = |p: Problem| crate::engine::faults::VendorError::to_json(&p);
        let status = |status: u16| serde_json::json!({ "type": "status", "status": status });
        vec![
            ("503 Service Unavailable", status(503)),
            ("500 Internal Server Error", status(500)),
            (
                "400 invalid attribute (problem)",
                problem(Problem::invalid_attribute(
                    "title",
                    "This attribute must be a string.",
                )),
            ),
            (
                "401 invalid access token (problem)",
                problem(Problem::invalid_access_token()),
            ),
            (
                "404 resource not found (problem)",
                problem(Problem::resource_not_found("videoId")),
            ),
            (
                "429 too many requests (problem)",
                problem(Problem::too_many_requests()),
            ),
        ]
    }

    /// A video's source, named after its title.
    fn upload(&self, id: &str) -> Option<(String, Arc<crate::upload::Assembly>)> {
        let state = self.lock();
        state.projects.values().find_map(|project| {
            let video = project.videos.get(id)?;
            let assembly = video.source.assembly.clone()?;
            Some((video.title.clone(), assembly))
        })
    }

    /// An operation id (`createToken`); a name with a dot is Kaltura's.
    fn operation(&self, name: &str) -> Option<Result<Box<dyn crate::Match>, String>> {
        if name.contains('.') {
            return None;
        }
        if Route::operations().any(|known| known == name) {
            return Some(Ok(Box::new(op(name))));
        }
        let known: Vec<&str> = Route::operations().collect();
        Some(Err(format!(
            "api.video has no operation named {name:?}; its operations are {}",
            known.join(", ")
        )))
    }

    fn resume(&self, cx: &Context) {
        webhooks::resume(self, cx);
    }

    fn delivery_policy(&self) -> crate::RetryPolicy {
        webhooks::RETRY_POLICY
    }

    fn upload_token(&self, token: &str) -> Box<dyn crate::Match> {
        Box::new(upload_token(token))
    }

    fn part(&self, n: u64) -> Option<Box<dyn crate::Match>> {
        Some(Box::new(part(n)))
    }

    /// The project of an upload request's `token`, else of its credentials: its next upload
    /// to complete fails to encode.
    fn fail_next_processing(&self, cx: &Context, request: &crate::Request) -> bool {
        let now = cx.clock.now();
        let token = request
            .query_pairs()
            .filter(|(k, _)| k == "token")
            .last()
            .map(|(_, t)| t.into_owned());
        let key = match token {
            Some(token) => self.lock().token_projects.get(&token).cloned(),
            None => auth::authorize(self, &request.headers, now).ok(),
        };
        let mut state = self.lock();
        match key.and_then(|key| state.projects.get_mut(&key)) {
            Some(project) => {
                project.fail_next = project.fail_next.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// `videos/{videoId}/encoding/finish` and `…/fail`: [`ApiVideo::finish_encoding`] and
    /// [`ApiVideo::fail_encoding`] for a video of any project (`{"apiKey": …}` narrows it to
    /// one); the answer is the video's status as `GET /videos/{id}/status` gives it.
    fn admin_action(
        &self,
        cx: &Context,
        path: &str,
        body: &serde_json::Value,
    ) -> Option<(http::StatusCode, serde_json::Value)> {
        let segments: Vec<&str> = path.split('/').collect();
        let (id, finish) = match segments.as_slice() {
            ["videos", id, "encoding", "finish"] => (*id, true),
            ["videos", id, "encoding", "fail"] => (*id, false),
            _ => return None,
        };
        let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
        let key = body.get("apiKey").and_then(serde_json::Value::as_str);
        let now = cx.clock.now();
        let schedule = self.config.schedule;
        let mut state = self.lock();
        let video = state
            .projects
            .iter_mut()
            .filter(|(k, _)| key.is_none_or(|key| key == k.as_str()))
            .find_map(|(_, project)| project.videos.get_mut(id.as_ref()));
        Some(match video {
            Some(video) => {
                if finish {
                    video.encoding.finished_at = Some(now);
                } else {
                    video.encoding.failed_at = Some(now);
                }
                (http::StatusCode::OK, video.status_json(now, &schedule))
            }
            None => (
                http::StatusCode::NOT_FOUND,
                serde_json::json!({ "error": format!("no api.video video {id:?}") }),
            ),
        })
    }
}

impl Plugin for Backend {
    type Config = Config;
    type Seed = persist::Document;
    type Snapshot = persist::Document;
    const CORS_EXPOSED_HEADERS: &'static [&'static str] = CORS_EXPOSED_HEADERS;

    fn new(config: Config, retention: crate::Retention) -> Self {
        Backend::new(config, retention)
    }

    fn validate(seed: &persist::Document) -> Result<(), crate::engine::error::Invalid> {
        seed.validate()
    }

    fn seed(&self, seed: &persist::Document, cx: &Context) {
        self.apply_seed(seed, &cx.ids, cx.clock.now());
    }

    fn restore(
        &self,
        snapshot: persist::Document,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
        now: OffsetDateTime,
    ) {
        Backend::restore(self, snapshot, blob, now);
    }

    fn replay(
        &self,
        changes: Vec<crate::engine::vendor::Change>,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
    ) {
        Backend::replay(self, changes, blob);
    }

    fn upgrade(section: &mut serde_json::Value, version: u32) {
        persist::upgrade(section, version);
    }

    fn fault_from_json(
        kind: &str,
        action: &serde_json::Value,
    ) -> Option<Result<crate::VendorFault, String>> {
        (kind == "apivideoProblem")
            .then(|| Problem::from_action(action).map(crate::VendorFault::new))
    }

    #[cfg(feature = "fuzzing")]
    fn fuzz_multipart(
        body: bytes::Bytes,
        boundary: &str,
    ) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(fuzzing::multipart(body, boundary))
    }
}

/// Answers one request addressed to api.video.
async fn handle(backend: &Backend, cx: &Context, request: Request) -> Response {
    let route = Route::classify(request.method(), request.uri().path());
    let operation = route.as_ref().ok().map(|r| r.operation().to_owned());
    let now = cx.clock.now();
    let limits = backend.config.rate_limits;
    let mut response = match route {
        Err(no_route) => {
            let problem = match no_route {
                NoRoute::NotFound => Problem::unrecognized_request_url(),
                NoRoute::MethodNotAllowed => Problem::method_not_allowed(),
            };
            let mut response = with_rate(
                problem.into_response(),
                RateInfo::untouched(&limits, Class::Read, now),
            );
            response
                .extensions_mut()
                .insert(crate::engine::journal::Unrecognized);
            response
        }
        Ok(route) => serve(backend, cx, route, request, now).await,
    };
    let target = response
        .extensions_mut()
        .remove::<crate::engine::journal::Target>()
        .map(|target| target.0);
    response.extensions_mut().insert(Handled {
        vendor: Vendor::API_VIDEO,
        operation,
        target,
    });
    response
}

async fn serve(
    backend: &Backend,
    cx: &Context,
    route: Route,
    request: Request,
    now: OffsetDateTime,
) -> Response {
    let limits = backend.config.rate_limits;
    let class = route.class();
    let (parts, body) = request.into_parts();
    if let Route::LogoAsset(id) = &route {
        let head = parts.method == http::Method::HEAD;
        return players::serve_logo(backend, id, &parts.headers, head);
    }
    if let Some((asset, id)) = assets::Asset::of(&route) {
        let head = parts.method == http::Method::HEAD;
        let base = cx.base_url.as_str();
        return assets::serve(backend, asset, id, &parts.headers, head, base, now).await;
    }
    match route {
        Route::Authenticate | Route::RefreshToken => {
            let result = match wire::read_json(body).await {
                Err(problem) => Err(problem),
                Ok(body) => match route {
                    Route::Authenticate => auth::authenticate(backend, &cx.ids, body, now),
                    _ => auth::refresh(backend, &cx.ids, body, now),
                },
            };
            return with_rate(
                result.unwrap_or_else(IntoResponse::into_response),
                RateInfo::untouched(&limits, Class::Write, now),
            );
        }
        Route::UploadWithUploadToken => {
            return upload::with_token(backend, cx, parts, body, now).await;
        }
        _ => {}
    }
    let key = match auth::authorize(backend, &parts.headers, now) {
        Ok(key) => key,
        Err(problem) => {
            return with_rate(
                problem.into_response(),
                RateInfo::untouched(&limits, class, now),
            )
        }
    };
    let rate = match backend.take_budget(&key, class, now) {
        Ok(rate) => rate,
        Err(spent) => return with_rate(Problem::too_many_requests().into_response(), spent),
    };
    let base = cx.base_url.as_str();
    let result = match route {
        Route::CreateToken => match wire::read_json(body).await {
            Ok(body) => tokens::create(backend, &cx.ids, &key, body, now),
            Err(problem) => Err(problem),
        },
        Route::ListTokens => tokens::list(backend, &key, parts.uri.query(), now),
        Route::GetToken(token) => tokens::get(backend, &key, &token, now),
        Route::DeleteToken(token) => tokens::delete(backend, &key, &token, now),
        Route::CreateVideo => match wire::read_json(body).await {
            Ok(body) => backend.create_video(&cx.ids, &key, body, base, now),
            Err(problem) => Err(problem),
        },
        Route::UpdateVideo(id) => match wire::read_json(body).await {
            Ok(body) => backend.update_video(&key, &id, body, base, now),
            Err(problem) => Err(problem),
        },
        Route::ListVideos => videos::list(backend.videos_of(&key), parts.uri.query(), base),
        Route::GetVideo(id) => backend
            .with_video(&key, &id, |video| video.to_json(base))
            .map(|video| wire::json(http::StatusCode::OK, &video)),
        Route::GetVideoStatus(id) => {
            let schedule = backend.config.schedule;
            backend
                .with_video(&key, &id, |video| video.status_json(now, &schedule))
                .map(|status| wire::json(http::StatusCode::OK, &status))
        }
        Route::UploadThumbnail(id) => {
            let spill = cx.spill.as_ref();
            thumbnails::upload(backend, spill, &key, &id, &parts, body, base, now).await
        }
        Route::PickThumbnail(id) => match wire::read_json(body).await {
            Ok(body) => thumbnails::pick(backend, &key, &id, body, base, now),
            Err(problem) => Err(problem),
        },
        Route::DeleteVideo(id) => backend.delete_video(&key, &id),
        Route::CreateWebhook => match wire::read_json(body).await {
            Ok(body) => webhooks::create(backend, cx, &key, body, now),
            Err(problem) => Err(problem),
        },
        Route::ListWebhooks => webhooks::list(backend, &key, parts.uri.query(), base),
        Route::GetWebhook(id) => webhooks::get(backend, &key, &id),
        Route::DeleteWebhook(id) => webhooks::delete(backend, &key, &id),
        Route::UploadVideo(id) => upload::to_video(backend, cx, &key, id, &parts, body, now).await,
        Route::ListCaptions(id) => captions::list(backend, &key, &id, parts.uri.query(), base),
        Route::GetCaption(id, lang) => captions::get(backend, &key, &id, &lang, base),
        Route::UploadCaption(id, lang) => {
            let form = files::read(&parts.headers, body, captions::MAX_FILE).await;
            captions::upload(backend, &key, &id, &lang, form, base)
        }
        Route::UpdateCaption(id, lang) => {
            let body = wire::read_json(body).await;
            captions::update(backend, &key, &id, &lang, body, base)
        }
        Route::DeleteCaption(id, lang) => captions::delete(backend, &key, &id, &lang),
        Route::ListChapters(id) => chapters::list(backend, &key, &id, parts.uri.query(), base),
        Route::GetChapter(id, lang) => chapters::get(backend, &key, &id, &lang, base),
        Route::UploadChapter(id, lang) => {
            let form = files::read(&parts.headers, body, chapters::MAX_FILE).await;
            chapters::upload(backend, &key, &id, &lang, form, base)
        }
        Route::DeleteChapter(id, lang) => chapters::delete(backend, &key, &id, &lang),
        Route::UploadWatermark => {
            let form = files::read(&parts.headers, body, watermarks::MAX_FILE).await;
            watermarks::upload(backend, &cx.ids, cx.spill.as_ref(), &key, form, now).await
        }
        Route::ListWatermarks => watermarks::list(backend, &key, parts.uri.query(), base),
        Route::DeleteWatermark(id) => watermarks::delete(backend, &key, &id),
        Route::ListPlayers => players::list(backend, &key, parts.uri.query(), base),
        Route::CreatePlayer => {
            let body = wire::read_json(body).await;
            players::create(backend, &cx.ids, &key, body, base, now)
        }
        Route::GetPlayer(id) => players::get(backend, &key, &id, base),
        Route::UpdatePlayer(id) => {
            let body = wire::read_json(body).await;
            players::update(backend, &key, &id, body, base, now)
        }
        Route::DeletePlayer(id) => players::delete(backend, &key, &id),
        Route::UploadLogo(id) => {
            let form = files::read(&parts.headers, body, players::MAX_LOGO).await;
            players::upload_logo(backend, cx.spill.as_ref(), &key, &id, form, base, now).await
        }
        Route::DeleteLogo(id) => players::delete_logo(backend, &key, &id, now),
        Route::ListTags => tags::list(&backend.videos_of(&key), parts.uri.query(), base),
        Route::ListDiscardedVideos => discarded::list(parts.uri.query(), base),
        Route::GetDiscardedVideo(_) => discarded::get(),
        Route::UpdateDiscardedVideo(_) => discarded::update(wire::read_json(body).await),
        Route::Authenticate
        | Route::RefreshToken
        | Route::HlsManifest(_)
        | Route::HlsSegment(_)
        | Route::Mp4Asset(_)
        | Route::ThumbnailAsset(_)
        | Route::PlayerPage(_)
        | Route::CaptionFile(..)
        | Route::ChapterFile(..)
        | Route::LogoAsset(_)
        | Route::UploadWithUploadToken => unreachable!("answered above"),
    };
    with_rate(result.unwrap_or_else(IntoResponse::into_response), rate)
}

pub(crate) fn with_rate(mut response: Response, rate: RateInfo) -> Response {
    rate.apply(response.headers_mut());
    response
}

/// A matcher for recorded requests (and, later, faults) by api.video operation name:
/// `authenticate`, `refreshToken`, `createToken`, `listTokens`, `getToken`, `deleteToken`, …
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::Client::new().delete(format!("{}/upload-tokens/to123", server.uri())).send().await.unwrap();
/// assert_eq!(server.received(vidmock::apivideo::op("deleteToken")).len(), 1);
/// # }
/// ```
///
/// # Panics
///
/// When `operation` names no api.video operation: a misspelt name (`createTokne`) would never
/// match, so it is refused at once, with the operations there are.
pub fn op(operation: impl Into<String>) -> OperationMatcher {
    let operation = operation.into();
    if !Route::operations().any(|known| known == operation) {
        let known: Vec<&str> = Route::operations().collect();
        panic!(
            "api.video has no operation named {operation:?}; its operations are {}",
            known.join(", ")
        );
    }
    OperationMatcher(operation)
}

/// See [`op`].
#[derive(Clone, Debug)]
pub struct OperationMatcher(String);

impl crate::Match for OperationMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        Route::classify(&request.method, request.url.path())
            .is_ok_and(|route| route.operation() == self.0)
    }
}

/// Matches api.video requests about one upload token: uploads with `?token=` and the
/// token's own routes.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens/to123", server.uri())).await.unwrap();
/// assert_eq!(server.received(vidmock::apivideo::upload_token("to123")).len(), 1);
/// # }
/// ```
pub fn upload_token(token: impl Into<String>) -> UploadTokenMatcher {
    UploadTokenMatcher(token.into())
}

/// See [`upload_token`].
#[derive(Clone, Debug)]
pub struct UploadTokenMatcher(String);

impl crate::Match for UploadTokenMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        match Route::classify(&request.method, request.url.path()) {
            Ok(Route::GetToken(t) | Route::DeleteToken(t)) => t == self.0,
            Ok(Route::UploadWithUploadToken) => request
                .query_pairs()
                .filter(|(k, _)| k == "token")
                .last()
                .is_some_and(|(_, t)| t == self.0),
            _ => false,
        }
    }
}

/// A recorded upload's `Content-Range`, for failure messages.
pub(crate) fn chunk_of(request: &crate::RecordedRequest) -> Option<String> {
    request
        .headers
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|range| format!("Content-Range: {range}"))
}

/// Matches upload requests carrying `Content-Range: part n/…` (the n-th chunk of a
/// progressive upload).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::{apivideo, Fault};
/// let server = vidmock::MockServer::start().await;
/// server.fault(Fault::reset()).when(apivideo::part(3)).times(1).mount();
/// # }
/// ```
pub fn part(n: u64) -> PartMatcher {
    PartMatcher(n)
}

/// See [`part`].
#[derive(Clone, Debug)]
pub struct PartMatcher(u64);

impl crate::Match for PartMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        request
            .headers
            .get(http::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(upload::ContentRange::parse)
            .is_some_and(
                |range| matches!(range, upload::ContentRange::Part { part, .. } if part == self.0),
            )
    }
}

/// Reads and seeds one api.video project of a running server.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let other = server.apivideo().add_project("second-key");
/// other.create_token(None);
/// assert_eq!(other.tokens().len(), 1);
/// assert!(server.apivideo().tokens().is_empty());
/// # }
/// ```
#[derive(Clone)]
pub struct ApiVideo<'a> {
    backend: &'a Backend,
    cx: &'a Context,
    /// The API key of the project this handle reads and writes.
    key: String,
}

impl std::fmt::Debug for ApiVideo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiVideo").field("key", &self.key).finish()
    }
}

impl<'a> ApiVideo<'a> {
    pub(crate) fn new(backend: &'a Backend, cx: &'a Context) -> Self {
        let key = backend.config.keys[0].clone();
        Self { backend, cx, key }
    }

    fn backend(&self) -> &'a Backend {
        self.backend
    }

    /// The API key of this project (for the default handle, the default project's key).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.apivideo().api_key(), "vidmock-api-key");
    /// # }
    /// ```
    pub fn api_key(&self) -> String {
        self.key.clone()
    }

    /// Every project's API key, default first.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.apivideo().api_keys(), vec!["vidmock-api-key".to_string()]);
    /// # }
    /// ```
    pub fn api_keys(&self) -> Vec<String> {
        self.backend().lock().projects.keys().cloned().collect()
    }

    /// A handle on another existing project.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.apivideo().project("unknown").is_none());
    /// # }
    /// ```
    pub fn project(&self, key: &str) -> Option<ApiVideo<'a>> {
        self.backend()
            .lock()
            .projects
            .contains_key(key)
            .then(|| ApiVideo {
                backend: self.backend,
                cx: self.cx,
                key: key.to_owned(),
            })
    }

    /// Adds a project with this API key (or finds the existing one) and returns its handle.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.apivideo().add_project("k2").api_key(), "k2");
    /// # }
    /// ```
    pub fn add_project(&self, key: &str) -> ApiVideo<'a> {
        self.backend().add_project(key);
        ApiVideo {
            backend: self.backend,
            cx: self.cx,
            key: key.to_owned(),
        }
    }

    /// Creates an upload token as `POST /upload-tokens` would; `None` never expires. A ttl
    /// above the vendor's maximum (2147483647 s) is capped at it.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let token = server.apivideo().create_token(Some(std::time::Duration::from_secs(3600)));
    /// assert_eq!(token.ttl, 3600);
    /// assert!(token.expires_at.is_some());
    /// # }
    /// ```
    pub fn create_token(&self, ttl: Option<Duration>) -> UploadToken {
        let ttl = ttl.map_or(0, |ttl| ttl.as_secs().min(tokens::MAX_TTL as u64) as u32);
        self.backend()
            .create_token(&self.cx.ids, &self.key, ttl, self.cx.clock.now())
    }

    /// The project's active tokens (expired and deleted ones left out), in creation order.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.apivideo().create_token(None);
    /// assert_eq!(server.apivideo().tokens().len(), 1);
    /// # }
    /// ```
    pub fn tokens(&self) -> Vec<UploadToken> {
        self.backend().active_tokens(&self.key, self.cx.clock.now())
    }

    /// One active token.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let token = server.apivideo().create_token(None);
    /// assert_eq!(server.apivideo().token(&token.token), Some(token));
    /// # }
    /// ```
    pub fn token(&self, token: &str) -> Option<UploadToken> {
        self.backend()
            .active_token(&self.key, token, self.cx.clock.now())
    }

    /// Deletes an active token; `false` when there was none.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let token = server.apivideo().create_token(None);
    /// assert!(server.apivideo().delete_token(&token.token));
    /// assert!(!server.apivideo().delete_token(&token.token));
    /// # }
    /// ```
    pub fn delete_token(&self, token: &str) -> bool {
        self.backend()
            .delete_token(&self.key, token, self.cx.clock.now())
    }

    /// Mints an access token for this project, as `POST /auth/api-key` would, for tests that
    /// send `Authorization: Bearer …` themselves.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let bearer = server.apivideo().access_token();
    /// let answer = reqwest::Client::new()
    ///     .get(format!("{}/upload-tokens", server.uri()))
    ///     .bearer_auth(bearer)
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(answer.status(), 200);
    /// # }
    /// ```
    pub fn access_token(&self) -> String {
        let (access, _refresh) =
            self.backend()
                .grant(&self.cx.ids, self.key.clone(), self.cx.clock.now());
        access
    }
}

impl Backend {
    /// The digest of every completed upload.
    pub(crate) fn digests(&self) -> Vec<crate::upload::Digest256> {
        self.lock()
            .projects
            .values()
            .flat_map(|p| p.videos.values().filter_map(|v| v.source.digest.clone()))
            .collect()
    }

    /// The admin API's view: every project with its active tokens.
    pub(crate) fn state_json(&self, now: OffsetDateTime) -> serde_json::Value {
        // Spilled uploads are hashed after their last chunk: finish that outside the lock.
        self.digests()
            .iter()
            .for_each(crate::upload::Digest256::compute);
        let state = self.lock();
        let projects: Vec<serde_json::Value> = state
            .projects
            .iter()
            .map(|(key, project)| {
                let tokens: Vec<TokenView> = project
                    .tokens
                    .values()
                    .filter(|t| t.is_active(now))
                    .map(|token| TokenView {
                        token,
                        seconds_to_expiry: token.expires_at.map(|e| (e - now).whole_seconds()),
                    })
                    .collect();
                let videos: Vec<videos::VideoView> =
                    project.videos.values().map(videos::VideoView::of).collect();
                let watermarks: Vec<_> = project.watermarks.values().collect();
                let players: Vec<_> = project.players.values().collect();
                let webhooks: Vec<&webhooks::Webhook> = project.webhooks.values().collect();
                serde_json::json!({
                    "apiKey": key,
                    "uploadTokens": tokens,
                    "videos": videos,
                    "watermarks": watermarks,
                    "players": players,
                    "webhooks": webhooks,
                })
            })
            .collect();
        serde_json::json!({ "projects": projects })
    }
}

/// An upload token in the admin API's state: the token, and the seconds it has left.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView<'a> {
    #[serde(flatten)]
    token: &'a UploadToken,
    seconds_to_expiry: Option<i64>,
}

impl Backend {
    fn create_video(
        &self,
        ids: &Ids,
        key: &str,
        body: Option<serde_json::Value>,
        base: &str,
        now: OffsetDateTime,
    ) -> Result<Response, Problem> {
        let mut attributes = videos::Attributes::parse(body, true)?;
        let watermark = match attributes.watermark.take() {
            None => None,
            Some(value) => {
                let state = self.lock();
                let known = state.projects.get(key).map(|p| &p.watermarks);
                Some(watermarks::parse_video_watermark(&value, |id| {
                    known.is_some_and(|w| w.contains_key(id))
                })?)
            }
        };
        let mut video = videos::StoredVideo::new(ids.base62("vi", 22), String::new(), now);
        attributes.apply(&mut video, now);
        video.watermark = watermark;
        let json = video.to_json(base);
        if let Some(project) = self.lock().projects.get_mut(key) {
            project.videos.insert(video.id.clone(), video);
        }
        Ok(wire::json(http::StatusCode::CREATED, &json))
    }

    fn update_video(
        &self,
        key: &str,
        id: &str,
        body: Option<serde_json::Value>,
        base: &str,
        now: OffsetDateTime,
    ) -> Result<Response, Problem> {
        let attributes = videos::Attributes::parse(body, false)?;
        let mut state = self.lock();
        let video = state
            .projects
            .get_mut(key)
            .and_then(|p| p.videos.get_mut(id))
            .ok_or_else(|| Problem::resource_not_found("videoId"))?;
        attributes.apply(video, now);
        Ok(wire::json(http::StatusCode::OK, &video.to_json(base)))
    }

    fn with_video<T>(
        &self,
        key: &str,
        id: &str,
        f: impl FnOnce(&videos::StoredVideo) -> T,
    ) -> Result<T, Problem> {
        let state = self.lock();
        state
            .projects
            .get(key)
            .and_then(|p| p.videos.get(id))
            .map(f)
            .ok_or_else(|| Problem::resource_not_found("videoId"))
    }

    fn videos_of(&self, key: &str) -> Vec<videos::StoredVideo> {
        self.lock()
            .projects
            .get(key)
            .map(|p| p.videos.values().cloned().collect())
            .unwrap_or_default()
    }

    fn delete_video(&self, key: &str, id: &str) -> Result<Response, Problem> {
        self.lock()
            .projects
            .get_mut(key)
            .and_then(|p| p.videos.shift_remove(id))
            .map(|_| wire::no_content())
            .ok_or_else(|| Problem::resource_not_found("videoId"))
    }
}

/// A video as a test sees it: what was uploaded into it, and how.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let token = server.apivideo().create_token(None);
/// let part = reqwest::multipart::Part::bytes(b"tiny video".to_vec()).file_name("clip.mp4");
/// let form = reqwest::multipart::Form::new().part("file", part);
/// reqwest::Client::new()
///     .post(format!("{}/upload?token={}", server.uri(), token.token))
///     .multipart(form)
///     .send()
///     .await
///     .unwrap();
/// let video = &server.apivideo().videos()[0];
/// assert_eq!(video.title, "clip.mp4");
/// assert_eq!(video.content().unwrap(), b"tiny video");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Video {
    /// `vi` + 22 base62 characters.
    pub id: String,
    /// The title (for a token upload, the first chunk's filename).
    pub title: String,
    /// The upload token whose upload created or first filled the video.
    pub upload_token: Option<String>,
    /// Creation instant, on the server's clock.
    pub created_at: OffsetDateTime,
    /// Every accepted upload request, in arrival order.
    pub chunks: Vec<ReceivedChunk>,
    /// Whether every chunk of the source has arrived.
    pub complete: bool,
    /// Size of the completed source, once hashed.
    pub size: Option<u64>,
    /// Its ingest and encoding at the instant it was read, as `GET /videos/{id}/status`
    /// reports them.
    pub encoding: Encoding,
    digest: Option<crate::upload::Digest256>,
    assembly: Option<Arc<crate::upload::Assembly>>,
}

impl Video {
    fn of(video: &videos::StoredVideo, schedule: &EncodingSchedule, now: OffsetDateTime) -> Self {
        Self {
            encoding: video.facts().at(schedule, now),
            id: video.id.clone(),
            title: video.title.clone(),
            upload_token: video.upload_token.clone(),
            created_at: video.created_at,
            chunks: video.source.chunks.clone(),
            complete: video.source.completed_at.is_some(),
            size: video.source.digest.as_ref().map(|d| d.size),
            digest: video.source.digest.clone(),
            assembly: video.source.assembly.clone(),
        }
    }

    /// Hex sha256 of the completed source.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let video = server.apivideo().create_video("empty");
    /// assert_eq!(video.sha256(), None);
    /// # }
    /// ```
    pub fn sha256(&self) -> Option<&str> {
        self.digest.as_ref().map(|d| d.sha256())
    }

    /// The source bytes received so far, in order (only the contiguous prefix while parts are
    /// missing); `None` when the server keeps digests only ([`crate::Retention::DigestOnly`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let video = server.apivideo().create_video("empty");
    /// assert_eq!(video.content(), Some(Vec::new()));
    /// # }
    /// ```
    pub fn content(&self) -> Option<Vec<u8>> {
        match &self.assembly {
            Some(assembly) => assembly.content(),
            None => Some(Vec::new()),
        }
    }
}

impl ApiVideo<'_> {
    /// The project's videos, in creation order.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.apivideo().videos().is_empty());
    /// # }
    /// ```
    pub fn videos(&self) -> Vec<Video> {
        self.backend()
            .lock()
            .projects
            .get(&self.key)
            .map(|p| {
                p.videos
                    .values()
                    .map(|v| Video::of(v, &self.backend().config.schedule, self.cx.clock.now()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One video.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let created = server.apivideo().create_video("talk");
    /// assert_eq!(server.apivideo().video(&created.id).unwrap().title, "talk");
    /// # }
    /// ```
    pub fn video(&self, id: &str) -> Option<Video> {
        self.backend()
            .lock()
            .projects
            .get(&self.key)
            .and_then(|p| p.videos.get(id))
            .map(|v| Video::of(v, &self.backend().config.schedule, self.cx.clock.now()))
    }

    /// Finishes a video's ingest and encoding now: every quality not failed is encoded from
    /// this instant on, as if the clock had reached the end of its schedule. `false` when the
    /// project has no such video; a video still uploading finishes as soon as its upload does.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let video = server.apivideo().create_video("talk");
    /// assert!(server.apivideo().finish_encoding(&video.id));
    /// assert!(!server.apivideo().finish_encoding("vi-unknown"));
    /// # }
    /// ```
    pub fn finish_encoding(&self, id: &str) -> bool {
        let now = self.cx.clock.now();
        self.change_encoding(id, |state| state.finished_at = Some(now))
    }

    /// Makes a video's encoding fail now, as api.video reports it: every quality not encoded
    /// yet is `failed` from this instant on (those already encoded stay so, and the video
    /// stays playable if one was). `false` when the project has no such video.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let video = server.apivideo().create_video("talk");
    /// assert!(server.apivideo().fail_encoding(&video.id));
    /// # }
    /// ```
    pub fn fail_encoding(&self, id: &str) -> bool {
        let now = self.cx.clock.now();
        self.change_encoding(id, |state| state.failed_at = Some(now))
    }

    /// Makes the next `count` uploads of this project to complete fail to encode, as
    /// api.video reports it: once ingested, every quality is `failed` and the video never
    /// becomes playable (the `failProcessing` fault does the same for one upload). `0` takes
    /// back what was scripted.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.apivideo().fail_next_encodings(1);
    /// # }
    /// ```
    pub fn fail_next_encodings(&self, count: u32) {
        if let Some(project) = self.backend().lock().projects.get_mut(&self.key) {
            project.fail_next = count;
        }
    }

    fn change_encoding(
        &self,
        id: &str,
        change: impl FnOnce(&mut lifecycle::EncodingState),
    ) -> bool {
        let mut state = self.backend().lock();
        match state
            .projects
            .get_mut(&self.key)
            .and_then(|p| p.videos.get_mut(id))
        {
            Some(video) => {
                change(&mut video.encoding);
                true
            }
            None => false,
        }
    }

    /// The renditions of this project's videos that became encoded after `from` and at or
    /// before `to` on the server's clock: each `video.encoding.quality.completed` event
    /// api.video would send for that span, in order.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let now = server.clock().now();
    /// assert!(server.apivideo().encoded_between(now, now).is_empty());
    /// # }
    /// ```
    pub fn encoded_between(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<QualityEncoded> {
        let schedule = self.backend().config.schedule;
        let state = self.backend().lock();
        let mut events: Vec<QualityEncoded> = state
            .projects
            .get(&self.key)
            .map(|p| {
                p.videos
                    .values()
                    .flat_map(|video| lifecycle::encoded_between(video, &schedule, from, to))
                    .collect()
            })
            .unwrap_or_default();
        events.sort_by_key(|event| event.at);
        events
    }

    /// Creates an empty video container, as `POST /videos` would.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let video = server.apivideo().create_video("talk");
    /// assert!(video.id.starts_with("vi"));
    /// assert!(!video.complete);
    /// # }
    /// ```
    pub fn create_video(&self, title: &str) -> Video {
        let video = videos::StoredVideo::new(
            self.cx.ids.base62("vi", 22),
            title.to_owned(),
            self.cx.clock.now(),
        );
        let snapshot = Video::of(&video, &self.backend().config.schedule, self.cx.clock.now());
        if let Some(project) = self.backend().lock().projects.get_mut(&self.key) {
            project.videos.insert(video.id.clone(), video);
        }
        snapshot
    }
}

impl crate::MockServer {
    /// Reads and seeds the api.video side.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.apivideo().api_key(), vidmock::apivideo::DEFAULT_API_KEY);
    /// # }
    /// ```
    pub fn apivideo(&self) -> ApiVideo<'_> {
        let shared = self.shared();
        ApiVideo::new(&shared.vendors.apivideo, &shared.cx)
    }
}

/// api.video's settings, on the server's builder.
impl crate::MockServerBuilder {
    /// Adds an api.video project with this API key. The first key added becomes the default
    /// project; without any, the default project's key is [`crate::apivideo::DEFAULT_API_KEY`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().apivideo_key("a").apivideo_key("b").start().await;
    /// assert_eq!(server.apivideo().api_keys(), vec!["a".to_string(), "b".to_string()]);
    /// # }
    /// ```
    pub fn apivideo_key(mut self, key: impl Into<String>) -> Self {
        self.configs_mut().apivideo.keys.push(key.into());
        self
    }

    /// How long api.video access tokens from `/auth/api-key` and `/auth/refresh` live
    /// (default 3600 s, as the vendor). Expiry is measured on the server's clock.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder()
    ///     .apivideo_access_token_ttl(std::time::Duration::from_secs(60));
    /// ```
    pub fn apivideo_access_token_ttl(mut self, ttl: Duration) -> Self {
        self.configs_mut().apivideo.access_token_ttl = ttl;
        self
    }

    /// The largest file part one api.video upload request may carry (default 200 MiB, as the
    /// vendor); larger ones get `uploaded-file-too-large`.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder().apivideo_max_file_size(10 * 1024 * 1024);
    /// ```
    pub fn apivideo_max_file_size(mut self, bytes: u64) -> Self {
        self.configs_mut().apivideo.max_file_size = bytes;
        self
    }

    /// How long after its upload an api.video video is first playable (its lowest quality
    /// encoded, its HLS manifest answering 200 instead of 202), measured on the server's clock
    /// (default 3 s): the time is split evenly between waiting to ingest, ingesting and
    /// encoding one quality, and each further quality takes as long again
    /// ([`EncodingSchedule::spread`]). `Duration::ZERO` makes every upload playable at once.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = vidmock::MockServer::builder()
    ///     .apivideo_encoding_delay(std::time::Duration::ZERO);
    /// ```
    pub fn apivideo_encoding_delay(mut self, delay: Duration) -> Self {
        self.configs_mut().apivideo.schedule = EncodingSchedule::spread(delay);
        self
    }

    /// Each step of an api.video video's life after its upload, on the server's clock.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = vidmock::MockServer::builder().apivideo_encoding_schedule(
    ///     vidmock::apivideo::EncodingSchedule {
    ///         ingest_wait: Duration::from_secs(1),
    ///         ingest: Duration::from_secs(5),
    ///         per_quality: Duration::from_secs(30),
    ///         not_media_fails: true,
    ///     },
    /// );
    /// ```
    pub fn apivideo_encoding_schedule(mut self, schedule: EncodingSchedule) -> Self {
        self.configs_mut().apivideo.schedule = schedule;
        self
    }

    /// Per-minute request budgets of each api.video project (generous by default).
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::apivideo::RateLimits;
    /// let builder = vidmock::MockServer::builder().apivideo_rate_limits(RateLimits::SANDBOX);
    /// ```
    pub fn apivideo_rate_limits(mut self, limits: crate::apivideo::RateLimits) -> Self {
        self.configs_mut().apivideo.rate_limits = limits;
        self
    }
}

/// Faults in api.video's own error format.
impl crate::Fault {
    /// Answers with an api.video problem, exactly as the vendor shapes it.
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::apivideo::{Problem, ProblemItem};
    /// let fault = vidmock::Fault::apivideo(
    ///     Problem::new(400, "attribute-required", "This attribute is required.")
    ///         .name("title")
    ///         .problems([ProblemItem::new("attribute-required", "This attribute is required.", "title")]),
    /// );
    /// ```
    pub fn apivideo(problem: Problem) -> Self {
        Self::vendor(problem)
    }

    /// api.video's own 404 `resource-not-found` for the attribute `name` (`videoId`, …).
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::apivideo_not_found("videoId");
    /// ```
    pub fn apivideo_not_found(name: &str) -> Self {
        Self::apivideo(Problem::resource_not_found(name))
    }

    /// api.video's own 401 for an expired or unknown access token.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::apivideo_unauthorized();
    /// ```
    pub fn apivideo_unauthorized() -> Self {
        Self::apivideo(Problem::invalid_access_token())
    }

    /// api.video's own 429 `too-many-requests`.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::apivideo_too_many_requests();
    /// ```
    pub fn apivideo_too_many_requests() -> Self {
        Self::apivideo(Problem::too_many_requests())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_over_weeks_keep_only_live_credentials_once_a_sweep_has_run() {
        use crate::engine::clock::SweepSchedule;

        let backend = Backend::new(Config::default(), crate::Retention::Memory);
        let ids = Ids::new(Some(7));
        let start = OffsetDateTime::UNIX_EPOCH;
        let (_, first_refresh) = backend.grant(&ids, DEFAULT_API_KEY.into(), start);
        for n in 0..4 * SweepSchedule::FLOOR {
            backend.grant(
                &ids,
                DEFAULT_API_KEY.into(),
                start + Duration::from_secs(n as u64),
            );
        }

        let later = start + REFRESH_TOKEN_TTL + Duration::from_secs(3600);
        let (live_access, live_refresh) = backend.grant(&ids, DEFAULT_API_KEY.into(), later);
        for _ in 0..8 * SweepSchedule::FLOOR {
            backend.grant(&ids, DEFAULT_API_KEY.into(), later);
        }

        let state = backend.lock();
        assert!(!state.refresh.contains_key(&first_refresh));
        assert!(state.access.contains_key(&live_access));
        assert!(state.refresh.contains_key(&live_refresh));
        // The grants made before `later` have all expired, and a sweep has run since.
        assert!(state.access.values().all(|grant| later < grant.expires_at));
        assert!(state.refresh.values().all(|grant| later < grant.expires_at));
        assert_eq!(state.access.len(), 1 + 8 * SweepSchedule::FLOOR);
    }
}
