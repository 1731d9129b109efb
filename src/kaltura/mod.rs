//! Kaltura API v3: the front door every call goes through, sessions, the `uploadToken`
//! service and the entry calls that consume a token.
//!
//! Kaltura's clients disagree about almost everything on the wire — the Python client sends
//! XML-format requests as JSON with every value a string, the Node client hand-builds its
//! multipart bodies, others post flat form fields or put everything in the URL — and the real
//! dispatcher accepts all of them. So does this module: one parameter map from every source
//! (`params`), one dispatcher that runs the server's checks in the server's order (`dispatch`),
//! one serialisation layer for JSON, XML and JSONP (`wire`), sessions signed and verified in
//! both KS formats (`ks`, `session`), and multirequests (`multirequest`). Services plug into the
//! action table of `dispatch`: `uploadtoken` (the five actions and the chunk engine),
//! `media` (entries, `partner.get`), `apptoken` (app tokens and the sessions they start),
//! `flavors` (`flavorAsset`, `conversionProfile`), `notifications` (HTTP event notification
//! templates, and the notifications an entry's status changes send). An entry's life after its file arrives is
//! `lifecycle`'s, on the server's clock; `serve` answers the media URLs entries hand out
//! (`/p/{partnerId}/…`). The reference is `../shared/specs/kaltura.md`; the choices it leaves
//! open are in `FIDELITY.md`.
//!
//! State is kept per partner, like the vendor: partners (id and secrets) and revoked sessions,
//! and, in `store`, upload tokens, entries, app tokens and event notification templates, each behind a `std::sync::Mutex` held only for
//! bookkeeping, never across an `.await`.

mod apptoken;
pub(crate) mod dispatch;
mod error;
mod flavors;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod ks;
mod lifecycle;
mod limits;
mod matchers;
mod media;
pub(crate) mod multipart;
mod multirequest;
mod notifications;
mod pager;
pub(crate) mod params;
pub(crate) mod persist;
mod serve;
mod session;
mod store;
mod uploadtoken;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::Method;
use indexmap::IndexMap;

pub use error::ApiError;
pub use lifecycle::{ConversionDelays, DEFAULT_CONVERSION_PROFILE_ID};
pub(crate) use matchers::chunk_of;
pub use matchers::{action, upload_token, ActionMatcher, KsUserMatcher, UploadTokenMatcher};
pub use store::{
    Entry, EntryStatus, Flavor, ReceivedChunk, UploadToken, UploadTokenStatus,
    DEFAULT_FINAL_CHUNK_WAIT,
};

use crate::engine::body::{Request, Response};
use crate::engine::journal::Handled;
use crate::engine::tracked::Tracked;
use crate::engine::vendor::Vendor;
use crate::engine::vendor::{Context, Contract, Plugin};
use multipart::FileParts;
use params::to_php_string;
use wire::{Body, Format, Out};

/// The partner id of the default partner when none is configured.
pub const DEFAULT_PARTNER_ID: i64 = 101;
/// The default partner's admin secret: starts sessions of any type.
pub const DEFAULT_ADMIN_SECRET: &str = "vidmock-admin-secret";
/// The default partner's user secret: starts USER sessions only.
pub const DEFAULT_USER_SECRET: &str = "vidmock-user-secret";

/// A Kaltura partner (account) and its two secrets.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let partner = server.kaltura().partner();
/// assert_eq!(partner.id, vidmock::kaltura::DEFAULT_PARTNER_ID);
/// assert_eq!(partner.admin_secret, "vidmock-admin-secret");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partner {
    /// The partner id (`partnerId`, the number inside every KS).
    pub id: i64,
    /// Signs every KS of the partner; starts sessions of any type.
    pub admin_secret: String,
    /// Starts USER sessions only; empty means the partner has none.
    pub user_secret: String,
}

/// `KalturaSessionType`: what a KS may do.
///
/// # Example
///
/// ```
/// use vidmock::kaltura::SessionType;
/// assert_eq!(SessionType::Admin.code(), 2);
/// assert_eq!(SessionType::from_code(0), SessionType::User);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionType {
    /// Type 0: sees only its own user's objects.
    User,
    /// Type 2: sees every object of the partner.
    Admin,
}

impl SessionType {
    /// The number on the wire (0 or 2).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::kaltura::SessionType::User.code(), 0);
    /// ```
    pub fn code(self) -> i64 {
        match self {
            SessionType::User => 0,
            SessionType::Admin => 2,
        }
    }

    /// The type a KS's number means: any value of 1 or more is ADMIN, as the server reads it.
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::kaltura::SessionType;
    /// assert_eq!(SessionType::from_code(1), SessionType::Admin);
    /// ```
    pub fn from_code(code: i64) -> Self {
        if code >= 1 {
            SessionType::Admin
        } else {
            SessionType::User
        }
    }
}

/// Kaltura settings of a server (set through [`crate::MockServerBuilder`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    /// Partners, default first; empty means the documented default partner.
    pub partners: Vec<Partner>,
    /// How long a verified final chunk waits for its predecessors; `None` is
    /// [`DEFAULT_FINAL_CHUNK_WAIT`].
    pub final_chunk_wait: Option<Duration>,
    /// How long an entry imports and converts once its file has arrived.
    pub conversion_delays: ConversionDelays,
    /// The upload host `uploadToken` answers as `uploadUrl` (`host[:port][/path]`).
    pub upload_url: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Partners by id, default first; kept across resets.
    partners: IndexMap<i64, Partner>,
    /// KS strings revoked by `session.end`, with the instant each expires (unix seconds); a
    /// revoked KS stays revoked, resets included, until it would have expired anyway.
    ended: Tracked<String, i64>,
    /// Set when a partner was added while serving: only a whole snapshot records it.
    partners_added: bool,
    /// When the next `session.end` forgets the revocations that have expired.
    ended_sweeps: crate::engine::clock::SweepSchedule,
    /// KS strings already read and found signed, with the secret that signed them: a client
    /// sends the same KS with every call, and reading one means base64, a SHA-1 and parsing.
    /// Expiry and revocation are still checked on every call; a changed secret misses.
    read: HashMap<String, (String, ks::KsData)>,
}

/// How many read KS strings are remembered before the memory starts again from empty.
const READ_KS_KEPT: usize = 1024;

/// The Kaltura backend of one server.
#[derive(Debug)]
pub(crate) struct Backend {
    /// Held only for synchronous bookkeeping, never across an `.await`.
    state: Mutex<State>,
    /// Upload tokens and entries, behind their own lock (never taken while `state` is held).
    store: store::Store,
    /// The upload host (`host[:port]`) and the path under it, if configured.
    upload_url: Option<UploadUrl>,
}

/// A configured upload host: what `uploadToken` answers, and the path prefix the API also
/// answers under.
#[derive(Debug)]
pub(crate) struct UploadUrl {
    /// `host[:port][/path]` without a scheme, as the server's data-center table holds it.
    pub host: String,
    /// The path part (`/upload`), empty when none; requests under it reach the API too.
    pub prefix: String,
}

impl UploadUrl {
    fn parse(given: &str) -> Self {
        let bare = given
            .strip_prefix("https://")
            .or_else(|| given.strip_prefix("http://"))
            .unwrap_or(given)
            .trim_end_matches('/');
        let prefix = bare
            .find('/')
            .map(|at| bare[at..].to_owned())
            .unwrap_or_default();
        Self {
            host: bare.to_owned(),
            prefix,
        }
    }
}

impl Backend {
    pub(crate) fn new(config: Config, retention: crate::Retention) -> Self {
        let mut partners = config.partners;
        if partners.is_empty() {
            partners.push(Partner {
                id: DEFAULT_PARTNER_ID,
                admin_secret: DEFAULT_ADMIN_SECRET.into(),
                user_secret: DEFAULT_USER_SECRET.into(),
            });
        }
        let state = State {
            partners: partners.into_iter().map(|p| (p.id, p)).collect(),
            ended: Tracked::new(),
            partners_added: false,
            ended_sweeps: crate::engine::clock::SweepSchedule::default(),
            read: HashMap::new(),
        };
        Self {
            state: Mutex::new(state),
            store: store::Store::new(
                retention,
                config.final_chunk_wait.unwrap_or(DEFAULT_FINAL_CHUNK_WAIT),
                config.conversion_delays,
            ),
            upload_url: config.upload_url.as_deref().map(UploadUrl::parse),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each mutation is a single insert; a panic cannot leave a half-written record, so a
        // poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything but credentials: partners, and the sessions they revoked, stay.
    pub(crate) fn reset(&self) {
        self.store.reset();
    }

    pub(crate) fn partner(&self, id: i64) -> Option<Partner> {
        self.lock().partners.get(&id).cloned()
    }

    fn default_partner_id(&self) -> i64 {
        self.lock()
            .partners
            .keys()
            .next()
            .copied()
            .unwrap_or(DEFAULT_PARTNER_ID)
    }

    fn add_partner(&self, partner: Partner) {
        let mut state = self.lock();
        state.partners.insert(partner.id, partner);
        state.partners_added = true;
    }

    /// Reads and verifies a KS with the admin secret of the partner it names.
    pub(crate) fn read_ks(&self, ks: &str) -> Result<ks::KsData, ks::ReadError> {
        {
            let state = self.lock();
            if let Some((secret, data)) = state.read.get(ks) {
                let signer = state.partners.get(&data.partner_id);
                if signer.is_some_and(|partner| partner.admin_secret == *secret) {
                    return Ok(data.clone());
                }
            }
        }
        let partner_id = ks::claimed_partner(ks).ok_or(ks::ReadError::Malformed)?;
        let partner = self
            .partner(partner_id)
            .ok_or(ks::ReadError::UnknownPartner)?;
        let data = ks::read(ks, std::slice::from_ref(&partner.admin_secret))?;
        let mut state = self.lock();
        if state.read.len() >= READ_KS_KEPT {
            state.read.clear();
        }
        state
            .read
            .insert(ks.to_owned(), (partner.admin_secret, data.clone()));
        Ok(data)
    }

    pub(crate) fn is_ended(&self, ks: &str) -> bool {
        self.lock().ended.contains_key(ks)
    }

    /// Revokes `ks`, valid until `valid_until`. Sessions that have expired by `now` are
    /// forgotten meanwhile: they are refused as expired anyway, and a long-running mock whose
    /// clients end every session must not grow for ever.
    pub(crate) fn end(&self, ks: &str, valid_until: i64, now: i64) {
        let mut state = self.lock();
        if state.ended_sweeps.due(state.ended.len()) {
            state.ended.retain(|_, until| *until > now);
            let left = state.ended.len();
            state.ended_sweeps.swept(left);
        }
        state.ended.insert(ks.to_owned(), valid_until);
    }

    /// Issues a v2 KS for `partner_id`, valid for `lifetime` on the server's clock; `None` for
    /// an unknown partner.
    pub(crate) fn mint(
        &self,
        cx: &Context,
        partner_id: i64,
        user_id: &str,
        session_type: SessionType,
        lifetime: Duration,
        privileges: &str,
    ) -> Option<String> {
        let partner = self.partner(partner_id)?;
        let valid_until = cx.clock.now().unix_timestamp()
            + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
        let data = ks::KsData {
            partner_id,
            valid_until,
            session_type: session_type.code(),
            user_id: user_id.to_owned(),
            privileges: privileges.to_owned(),
        };
        let mut random = [0u8; 16];
        let hex_random = cx.ids.hex("", 32);
        ks::decode_hex(hex_random, &mut random).ok()?;
        Some(ks::encode_v2(&partner.admin_secret, &data, random))
    }

    /// The admin API's view: partner ids, no secrets.
    pub(crate) fn state_json(&self, now: time::OffsetDateTime) -> serde_json::Value {
        self.store.advance(now);
        let partners: Vec<serde_json::Value> = self
            .lock()
            .partners
            .keys()
            .copied()
            .collect::<Vec<i64>>()
            .into_iter()
            .map(|id| {
                let (tokens, entries) = self.store.state_json(id);
                let templates = self.store.templates_json(id);
                serde_json::json!({
                    "partnerId": id,
                    "uploadTokens": tokens,
                    "entries": entries,
                    "eventNotificationTemplates": templates,
                })
            })
            .collect();
        serde_json::json!({ "partners": partners })
    }
}

/// `/a//b///c` → `/a/b/c`: clients that join a base URL ending in `/` with `/api_v3` send `//`.
pub(crate) fn collapse_slashes(path: &str) -> String {
    if !path.contains("//") {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Whether a request path belongs to Kaltura (`/api_v3`, `/api_v3/…`, also with `//`).
pub(crate) fn owns(path: &str) -> bool {
    is_api(path) || serve::owns(path)
}

/// Whether a path is the API's own (`/api_v3…`).
fn is_api(path: &str) -> bool {
    // What `collapse_slashes(path)` being `/api_v3` or `/api_v3/…` means, without building it:
    // only the slashes before the first segment can differ.
    let first = path.trim_start_matches('/');
    first.len() < path.len() && (first == "api_v3" || first.starts_with("api_v3/"))
}

/// What a Kaltura call works with: the vendor's state and what it reads of the server.
#[derive(Clone)]
pub(crate) struct Served {
    pub backend: Arc<Backend>,
    pub cx: Arc<Context>,
}

impl Backend {
    /// `uploadUrl` as `KalturaUploadToken` answers it: the request's protocol, `://`, the
    /// configured host (`KalturaUploadToken::doFromObject`).
    pub(crate) fn upload_url(&self, cx: &Context) -> Option<String> {
        let host = &self.upload_url.as_ref()?.host;
        let protocol = cx.base_url.split("://").next().unwrap_or("http");
        Some(format!("{protocol}://{host}"))
    }

    /// The API path of a request sent under the upload host's path (`/upload/api_v3/…` →
    /// `/api_v3/…`), if it was.
    fn under_upload_prefix<'p>(&self, path: &'p str) -> Option<&'p str> {
        let prefix = self.upload_url.as_ref().map(|u| u.prefix.as_str())?;
        let rest = path.strip_prefix(prefix).filter(|_| !prefix.is_empty())?;
        is_api(rest).then_some(rest)
    }
}

impl Contract for Backend {
    fn owns(&self, path: &str) -> bool {
        owns(path) || self.under_upload_prefix(path).is_some()
    }

    /// The partner the request's KS claims (or its `partnerId`), else the default partner:
    /// its next conversion to start ends in ERROR_CONVERTING, as `fail_next_conversions` does.
    fn fail_next_processing(&self, _cx: &Context, request: &crate::Request) -> bool {
        let partner = matchers::partner_of(request).unwrap_or_else(|| self.default_partner_id());
        if self.partner(partner).is_none() {
            return false;
        }
        let mut tenants = self.store.lock();
        let tenant = tenants.entry(partner).or_default();
        tenant.fail_next = tenant.fail_next.saturating_add(1);
        true
    }

    fn handle(
        self: Arc<Self>,
        cx: Arc<Context>,
        request: Request,
    ) -> futures_util::future::BoxFuture<'static, Response> {
        Box::pin(handle(Served { backend: self, cx }, request))
    }

    /// Kaltura answers preflights and sets its CORS headers itself, exactly as the vendor does.
    fn answers_cors(&self) -> bool {
        true
    }

    fn reset(&self) {
        Backend::reset(self);
    }

    fn state_json(&self, _now: time::OffsetDateTime) -> serde_json::Value {
        Backend::state_json(self, _now)
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
        dispatch::ACTIONS
            .iter()
            .map(|def| format!("{}.{}", def.service, def.action))
            .collect()
    }

    fn fault_presets(&self) -> Vec<(&'static str, serde_json::Value)> {
        use crate::engine::faults::VendorError as _;
        let error = |code: &str, args: &[&str]| ApiError::new(code, args).to_json();
        vec![
            (
                "INVALID_KS",
                error("INVALID_KS", &["EXPIRED", "-1", "INVALID_STR"]),
            ),
            (
                "UPLOAD_TOKEN_NOT_FOUND",
                error("UPLOAD_TOKEN_NOT_FOUND", &[]),
            ),
            ("UPLOAD_ERROR", error("UPLOAD_ERROR", &[])),
            (
                "SERVICE_FORBIDDEN",
                error("SERVICE_FORBIDDEN", &["uploadtoken"]),
            ),
            (
                "INTERNAL_SERVERL_ERROR (the server's own spelling)",
                error("INTERNAL_SERVERL_ERROR", &[]),
            ),
            (
                "HTTP 503",
                serde_json::json!({ "type": "status", "status": 503 }),
            ),
        ]
    }

    /// An upload token's file, or an entry's content, named after the token's file name.
    fn upload(&self, id: &str) -> Option<(String, Arc<crate::upload::Assembly>)> {
        let tenants = self.store.lock();
        tenants.values().find_map(|tenant| {
            if let Some(token) = tenant.tokens.get(id) {
                let name = token.file_name.clone().unwrap_or_else(|| id.to_owned());
                return Some((name, token.file.clone()?));
            }
            let entry = tenant.entries.get(id)?;
            Some((entry.name.clone(), tenant.entry_view(entry).file?))
        })
    }

    /// `service.action` (`uploadtoken.upload`); a name without a dot is api.video's.
    fn operation(&self, name: &str) -> Option<Result<Box<dyn crate::Match>, String>> {
        let (service, name) = name.split_once('.')?;
        Some(
            dispatch::known_action(service, name)
                .map(|()| Box::new(action(service, name)) as Box<dyn crate::Match>),
        )
    }

    fn upload_token(&self, token: &str) -> Box<dyn crate::Match> {
        Box::new(upload_token(token))
    }

    fn delivery_policy(&self) -> crate::RetryPolicy {
        notifications::RETRY_POLICY
    }

    fn resume(&self, cx: &Context) {
        notifications::resume(self, cx);
    }

    /// `POST /__vidmock/vendors/kaltura/entries/{id}/ready` and `…/fail` end an entry's
    /// conversion now (READY, or ERROR_CONVERTING);
    /// `POST /__vidmock/vendors/kaltura/conversions/fail-next` with `{"count": N}` makes the
    /// next N conversions fail. Each takes `{"partnerId": N}` for another partner than the
    /// default one.
    fn admin_action(
        &self,
        cx: &Context,
        path: &str,
        body: &serde_json::Value,
    ) -> Option<(http::StatusCode, serde_json::Value)> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Args {
            partner_id: Option<i64>,
            count: Option<u32>,
        }
        let segments: Vec<&str> = path.split('/').collect();
        let known = matches!(
            segments.as_slice(),
            ["entries", _, "ready" | "fail"] | ["conversions", "fail-next"]
        );
        if !known {
            return None;
        }
        let refused = |status: http::StatusCode, message: String| {
            Some((status, serde_json::json!({ "error": message })))
        };
        let args: Args = if body.is_null() {
            Args::default()
        } else {
            match serde_json::from_value(body.clone()) {
                Ok(args) => args,
                Err(e) => {
                    return refused(
                        http::StatusCode::BAD_REQUEST,
                        format!("expected {{\"partnerId\": N, \"count\": N}}: {e}"),
                    )
                }
            }
        };
        let kaltura = Kaltura::new(self, cx);
        let Some(kaltura) = kaltura.for_partner(args.partner_id.unwrap_or(kaltura.partner_id))
        else {
            return refused(http::StatusCode::NOT_FOUND, "no such partner".to_owned());
        };
        match segments.as_slice() {
            ["entries", id, action] => {
                let ended = if *action == "ready" {
                    kaltura.finish_conversion(id)
                } else {
                    kaltura.fail_conversion(id)
                };
                match kaltura.entry(id).filter(|_| ended) {
                    Some(entry) => Some((
                        http::StatusCode::OK,
                        serde_json::json!({ "entryId": entry.id, "status": entry.status.code() }),
                    )),
                    None => refused(
                        http::StatusCode::NOT_FOUND,
                        format!(
                            "partner {} has no entry {id} with a file",
                            kaltura.partner_id
                        ),
                    ),
                }
            }
            _ => {
                let count = args.count.unwrap_or(1);
                kaltura.fail_next_conversions(count);
                Some((
                    http::StatusCode::OK,
                    serde_json::json!({ "failNext": count }),
                ))
            }
        }
    }
}

impl Plugin for Backend {
    type Config = Config;
    type Seed = persist::Document;
    type Snapshot = persist::Document;

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
        _now: time::OffsetDateTime,
    ) {
        Backend::restore(self, snapshot, blob);
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
        (kind == "kalturaError").then(|| ApiError::from_action(action).map(crate::VendorFault::new))
    }

    #[cfg(feature = "fuzzing")]
    fn fuzz_multipart(
        body: bytes::Bytes,
        boundary: &str,
    ) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(fuzzing::multipart(body, boundary))
    }

    #[cfg(feature = "fuzzing")]
    fn fuzz_placeholders() -> Vec<(&'static [u8], String)> {
        vec![(&b"KS_PLACEHOLDER"[..], fuzzing::admin_ks().to_owned())]
    }
}

/// Answers one request addressed to Kaltura API v3 (or to the media it serves).
async fn handle(served: Served, mut request: Request) -> Response {
    let started = Instant::now();
    served.backend.store.advance(served.cx.clock.now());
    if let Some(api_path) = served.backend.under_upload_prefix(request.uri().path()) {
        let rewritten = match request.uri().query() {
            Some(query) => format!("{api_path}?{query}"),
            None => api_path.to_owned(),
        };
        if let Ok(uri) = rewritten.parse() {
            *request.uri_mut() = uri;
        }
    }
    if !is_api(request.uri().path()) {
        let (response, operation) = serve::answer(&served, &request);
        return handled(response, Some(operation.to_owned()));
    }
    if request.method() == Method::OPTIONS {
        return handled(wire::respond_to_options(), None);
    }
    let (params, callback) = read_call(request, FileParts::kept(served.cx.spill.as_ref())).await;
    let (service, action) = dispatch::names(&params);
    let operation = if service == "multirequest" {
        Some(service.clone())
    } else if !service.is_empty() && !action.is_empty() {
        Some(format!("{service}.{action}"))
    } else {
        None
    };
    let format = match Format::select(&params, callback) {
        Ok(format) => format,
        Err(reason) => return handled(wire::respond_without_format(reason), operation),
    };
    let content_type = params.get("content-type").map(to_php_string);
    let body = if service == "multirequest" {
        match multirequest::run(&served, &params).await {
            Ok(items) => Body::Multi(items),
            Err(error) => Body::Single(Out::Error(error)),
        }
    } else {
        let out =
            Out::from(dispatch::invoke_named(served.clone(), &params, &service, &action).await);
        if limits::weight(&out) > limits::MAX_ANSWER_BYTES {
            Body::Single(Out::Error(limits::too_much_work(format_args!(
                "the answer to {service}.{action} would exceed {} bytes",
                limits::MAX_ANSWER_BYTES
            ))))
        } else {
            Body::Single(out)
        }
    };
    let unrecognized = match &body {
        Body::Single(out) => is_unrouted(out),
        Body::Multi(items) => items.iter().any(is_unrouted),
    };
    let target = match &body {
        Body::Single(out) => uploadtoken::journal_target(&service, &params, out),
        Body::Multi(_) => None,
    };
    let mut response = wire::respond(&format, body, content_type.as_deref(), started.elapsed());
    if unrecognized {
        response
            .extensions_mut()
            .insert(crate::engine::journal::Unrecognized);
    }
    handled_for(response, operation, target)
}

/// Whether an answer says the call named no known service or action (for strict mode).
fn is_unrouted(out: &Out) -> bool {
    matches!(out, Out::Error(error) if matches!(
        error.code(),
        "SERVICE_NOT_SPECIFIED" | "SERVICE_DOES_NOT_EXISTS" | "ACTION_NOT_SPECIFIED" | "ACTION_DOES_NOT_EXISTS"
    ))
}

fn handled(response: Response, operation: Option<String>) -> Response {
    handled_for(response, operation, None)
}

/// Marks `response` as Kaltura's answer to `operation`, about the object `target`.
fn handled_for(
    mut response: Response,
    operation: Option<String>,
    target: Option<String>,
) -> Response {
    response.extensions_mut().insert(Handled {
        vendor: Vendor::KALTURA,
        operation,
        target,
    });
    response
}

/// Reads and seeds the Kaltura side of a running server, one partner at a time.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::kaltura::SessionType;
///
/// let server = vidmock::MockServer::start().await;
/// let kaltura = server.kaltura();
/// let ks = kaltura.ks("alice@example.com", SessionType::Admin);
/// assert!(ks.starts_with("djJ8"));
/// # }
/// ```
#[derive(Clone)]
pub struct Kaltura<'a> {
    backend: &'a Backend,
    cx: &'a Context,
    /// The partner this handle reads and writes.
    partner_id: i64,
}

impl std::fmt::Debug for Kaltura<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kaltura")
            .field("partner_id", &self.partner_id)
            .finish()
    }
}

impl<'a> Kaltura<'a> {
    pub(crate) fn new(backend: &'a Backend, cx: &'a Context) -> Self {
        Self {
            backend,
            cx,
            partner_id: backend.default_partner_id(),
        }
    }

    fn backend(&self) -> &'a Backend {
        self.backend
    }

    /// This handle's partner id.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.kaltura().partner_id(), 101);
    /// # }
    /// ```
    pub fn partner_id(&self) -> i64 {
        self.partner_id
    }

    /// This handle's partner, with its secrets.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.kaltura().partner().user_secret, "vidmock-user-secret");
    /// # }
    /// ```
    pub fn partner(&self) -> Partner {
        self.backend()
            .partner(self.partner_id)
            .unwrap_or_else(|| Partner {
                id: self.partner_id,
                admin_secret: String::new(),
                user_secret: String::new(),
            })
    }

    /// Every partner of the server, default first.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder()
    ///     .kaltura_partner(7, "admin7", "user7")
    ///     .start()
    ///     .await;
    /// assert_eq!(server.kaltura().partners().len(), 1);
    /// assert_eq!(server.kaltura().partner_id(), 7);
    /// # }
    /// ```
    pub fn partners(&self) -> Vec<Partner> {
        self.backend().lock().partners.values().cloned().collect()
    }

    /// A handle on another existing partner.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.kaltura().for_partner(999).is_none());
    /// # }
    /// ```
    pub fn for_partner(&self, id: i64) -> Option<Kaltura<'a>> {
        self.backend().partner(id).map(|_| Kaltura {
            backend: self.backend,
            cx: self.cx,
            partner_id: id,
        })
    }

    /// Adds a partner (or replaces the secrets of an existing one) and returns its handle.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let other = server.kaltura().add_partner(202, "a-secret", "u-secret");
    /// assert_eq!(other.partner().admin_secret, "a-secret");
    /// assert_eq!(server.kaltura().partners().len(), 2);
    /// # }
    /// ```
    pub fn add_partner(&self, id: i64, admin_secret: &str, user_secret: &str) -> Kaltura<'a> {
        self.backend().add_partner(Partner {
            id,
            admin_secret: admin_secret.to_owned(),
            user_secret: user_secret.to_owned(),
        });
        Kaltura {
            backend: self.backend,
            cx: self.cx,
            partner_id: id,
        }
    }

    /// A v2 KS of this partner for `user_id`, valid for 24 hours on the server's clock, as
    /// `session.start` would issue it.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::kaltura::SessionType;
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks("bob", SessionType::User);
    /// let answer = reqwest::get(format!(
    ///     "{}/api_v3/service/session/action/end?format=1&ks={ks}",
    ///     server.uri()
    /// ))
    /// .await
    /// .unwrap();
    /// assert_eq!(answer.text().await.unwrap(), "null");
    /// # }
    /// ```
    pub fn ks(&self, user_id: &str, session_type: SessionType) -> String {
        self.ks_valid_for(
            user_id,
            session_type,
            Duration::from_secs(session::MAX_EXPIRY.unsigned_abs()),
        )
    }

    /// Like [`Kaltura::ks`], valid for `lifetime` (not clamped to 24 hours).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use vidmock::kaltura::SessionType;
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks_valid_for("bob", SessionType::Admin, Duration::from_secs(60));
    /// assert!(!ks.is_empty());
    /// # }
    /// ```
    pub fn ks_valid_for(
        &self,
        user_id: &str,
        session_type: SessionType,
        lifetime: Duration,
    ) -> String {
        self.backend()
            .mint(
                self.cx,
                self.partner_id,
                user_id,
                session_type,
                lifetime,
                "",
            )
            .unwrap_or_default()
    }

    /// Matches Kaltura calls made with a KS of `user` (v1 or v2, signed by any partner of
    /// this server), for faults, expectations and journal queries.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::kaltura::SessionType;
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks("alice", SessionType::Admin);
    /// let url = format!("{}/api_v3/service/session/action/end?ks={ks}", server.uri());
    /// reqwest::get(url).await.unwrap();
    /// assert_eq!(server.received(server.kaltura().ks_user("alice")).len(), 1);
    /// assert_eq!(server.received(server.kaltura().ks_user("bob")).len(), 0);
    /// # }
    /// ```
    pub fn ks_user(&self, user: &str) -> KsUserMatcher {
        KsUserMatcher {
            user: user.to_owned(),
            secrets: self
                .partners()
                .into_iter()
                .map(|p| p.admin_secret)
                .collect(),
        }
    }

    /// A v1 KS of this partner (the older format, as Python's `generateSession` mints it
    /// offline), valid for `lifetime` on the server's clock.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use vidmock::kaltura::SessionType;
    /// let server = vidmock::MockServer::start().await;
    /// let ks = server.kaltura().ks_v1("bob", SessionType::User, Duration::from_secs(60));
    /// assert!(!ks.starts_with("djJ8"));
    /// # }
    /// ```
    pub fn ks_v1(&self, user_id: &str, session_type: SessionType, lifetime: Duration) -> String {
        let partner = self.partner();
        let data = ks::KsData {
            partner_id: partner.id,
            valid_until: self.cx.clock.now().unix_timestamp()
                + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
            session_type: session_type.code(),
            user_id: user_id.to_owned(),
            privileges: String::new(),
        };
        let rand = u32::from_str_radix(&self.cx.ids.hex("", 4), 16).unwrap_or(0);
        ks::encode_v1(&partner.admin_secret, &data, rand)
    }
}

/// A request's parameter map (every source merged) and its JSONP callback, if any; `spill`:
/// file parts go to files in that directory as they arrive.
async fn read_call(request: Request, files: FileParts<'_>) -> (params::Map, Option<String>) {
    let (parts, body) = request.into_parts();
    let path = collapse_slashes(parts.uri.path());
    let params = params::read(&parts, body, &path, files).await;
    // Decoding the whole query a second time (a KS is long) only when it may name a callback,
    // plainly or percent-encoded.
    let may_name_callback = |query: &&str| query.contains("callback") || query.contains('%');
    let callback = parts
        .uri
        .query()
        .filter(may_name_callback)
        .and_then(|query| {
            params::form_pairs(query.as_bytes())
                .filter(|(k, _)| k == "callback")
                .map(|(_, v)| v.into_owned())
                .last()
        });
    (params, callback)
}

/// A scripted Kaltura error, answered in the format the request asked for (HTTP 200, as the
/// real API answers errors).
pub(crate) async fn error_response(request: Request, error: ApiError) -> Response {
    let started = Instant::now();
    // The body is read only for its parameters: file parts (a chunk) are read and dropped.
    let (params, callback) = read_call(request, FileParts::Skip).await;
    let format = match Format::select(&params, callback) {
        Ok(format) => format,
        Err(reason) => return wire::respond_without_format(reason),
    };
    let content_type = params.get("content-type").map(to_php_string);
    wire::respond(
        &format,
        Body::Single(Out::from(Err::<Out, ApiError>(error))),
        content_type.as_deref(),
        started.elapsed(),
    )
}

impl crate::MockServer {
    /// Reads and seeds the Kaltura side (the default partner; others through
    /// [`Kaltura::for_partner`]).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.kaltura().partner_id(), vidmock::kaltura::DEFAULT_PARTNER_ID);
    /// # }
    /// ```
    pub fn kaltura(&self) -> Kaltura<'_> {
        let shared = self.shared();
        Kaltura::new(&shared.vendors.kaltura, &shared.cx)
    }
}

/// Kaltura's settings, on the server's builder.
impl crate::MockServerBuilder {
    /// Adds a Kaltura partner with its admin and user secrets (repeatable; the first is the
    /// default partner). Without any, the server has the default partner
    /// [`crate::kaltura::DEFAULT_PARTNER_ID`] with [`crate::kaltura::DEFAULT_ADMIN_SECRET`] and
    /// [`crate::kaltura::DEFAULT_USER_SECRET`]. An empty user secret means the partner has none.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder()
    ///     .kaltura_partner(12345, "admin-secret", "user-secret")
    ///     .start()
    ///     .await;
    /// assert_eq!(server.kaltura().partner_id(), 12345);
    /// # }
    /// ```
    pub fn kaltura_partner(
        mut self,
        id: i64,
        admin_secret: impl Into<String>,
        user_secret: impl Into<String>,
    ) -> Self {
        let partner = crate::kaltura::Partner {
            id,
            admin_secret: admin_secret.into(),
            user_secret: user_secret.into(),
        };
        self.configs_mut().kaltura.partners.retain(|p| p.id != id);
        self.configs_mut().kaltura.partners.push(partner);
        self
    }

    /// How long a Kaltura final chunk (`finalChunk=true` with `resumeAt > 0`) waits for the
    /// chunks before it that are still in flight before failing with
    /// `UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE`; default
    /// [`crate::kaltura::DEFAULT_FINAL_CHUNK_WAIT`] (5 s, well under the 10 s the official
    /// Python client gives an upload; the real server waits about 45 s).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder()
    ///     .kaltura_final_chunk_wait(std::time::Duration::from_millis(200))
    ///     .start()
    ///     .await;
    /// # }
    /// ```
    pub fn kaltura_final_chunk_wait(mut self, wait: Duration) -> Self {
        self.configs_mut().kaltura.final_chunk_wait = Some(wait);
        self
    }

    /// How long a Kaltura entry stays in IMPORT and then in PRECONVERT once its file has
    /// arrived, on the server's clock (move it with [`crate::MockServer::advance`] or the admin
    /// API's `/__vidmock/clock/advance`). Both default to zero: an entry is READY in the call
    /// that gives it its file.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let server = vidmock::MockServer::builder()
    ///     .kaltura_conversion_delays(Duration::from_secs(5), Duration::from_secs(30))
    ///     .start()
    ///     .await;
    /// # }
    /// ```
    pub fn kaltura_conversion_delays(mut self, import: Duration, convert: Duration) -> Self {
        self.configs_mut().kaltura.conversion_delays = ConversionDelays { import, convert };
        self
    }

    /// The upload host `uploadToken` answers as `uploadUrl`: `host[:port][/path]` (a scheme
    /// given is dropped: the answer takes the server's own, as Kaltura's takes the request's).
    /// The API also answers under the path, so a client that sends its uploads to `uploadUrl`
    /// reaches this server when the host names it (`127.0.0.1:PORT/upload`, or another name of
    /// the same machine). Without it, `uploadUrl` is null.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder()
    ///     .kaltura_upload_url("uploads.example.test/upload")
    ///     .start()
    ///     .await;
    /// # }
    /// ```
    pub fn kaltura_upload_url(mut self, url: impl Into<String>) -> Self {
        self.configs_mut().kaltura.upload_url = Some(url.into());
        self
    }
}

/// Faults in Kaltura's own error format.
impl crate::Fault {
    /// Answers with a Kaltura API error, in the format (JSON, XML, …) the request asked for.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::kaltura(vidmock::kaltura::ApiError::new("UPLOAD_TOKEN_NOT_FOUND", &[]));
    /// ```
    pub fn kaltura(error: ApiError) -> Self {
        Self::vendor(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_ks_is_read_again_only_while_its_secret_signs_it() {
        let backend = Backend::new(Config::default(), crate::Retention::Memory);
        let data = ks::KsData {
            partner_id: DEFAULT_PARTNER_ID,
            valid_until: 2_000_000_000,
            session_type: 2,
            user_id: "u".into(),
            privileges: String::new(),
        };
        let minted = ks::encode_v2(DEFAULT_ADMIN_SECRET, &data, [7; 16]);
        assert_eq!(backend.read_ks(&minted), Ok(data.clone()));
        assert_eq!(backend.read_ks(&minted), Ok(data), "remembered");

        backend.lock().partners.insert(
            DEFAULT_PARTNER_ID,
            Partner {
                id: DEFAULT_PARTNER_ID,
                admin_secret: "another-secret".into(),
                user_secret: DEFAULT_USER_SECRET.into(),
            },
        );

        assert!(
            backend.read_ks(&minted).is_err(),
            "the new secret did not sign it"
        );
    }

    #[test]
    fn ending_sessions_forgets_revocations_that_have_expired_since() {
        let backend = Backend::new(Config::default(), crate::Retention::Memory);
        let many = 2 * crate::engine::clock::SweepSchedule::FLOOR;
        backend.end("long", 1_000, 50);
        for n in 0..many {
            backend.end(&format!("short-{n}"), 100, 60);
        }

        for n in 0..many {
            backend.end(&format!("later-{n}"), 2_000, 500);
        }

        assert!(
            !backend.is_ended("short-0"),
            "expired at 100, forgotten by 500"
        );
        assert!(backend.is_ended("long"));
        assert!(backend.is_ended("later-0"));
        assert!(backend.is_ended(&format!("later-{}", many - 1)));
        assert_eq!(backend.lock().ended.len(), 1 + many);
    }
}
