//! Failures on demand: a matcher (any [`crate::Match`]) picks requests, an action fails them.
//!
//! Vendor-shaped answers are built by the vendor modules, so a scripted error is byte-for-byte
//! what the real error looks like; connection-level actions act on the socket through the
//! accept loop's [`ConnControl`], which no HTTP framework can express. Waiting actions use
//! timers, never loops, and a hang costs no CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::engine::body::{Body, IntoResponse, Request, Response};
use crate::engine::connection::ConnInfo;

/// What a fault does to a request it applies to: an [`Action`], built by the constructors below
/// or written out.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::Fault;
/// let server = vidmock::MockServer::start().await;
/// server
///     .fault(Fault::status(503).body("try later"))
///     .when(vidmock::apivideo::op("listTokens"))
///     .times(1)
///     .mount();
/// let first = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// let second = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// assert_eq!(first.status(), 503);
/// assert_eq!(second.status(), 401);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    action: Action,
}

/// What a fault does, in one vocabulary for the Rust API and the admin API's JSON: serialised,
/// an action is the `action` of `POST /__vidmock/faults` (`{"type": "delay", "ms": 200}`),
/// and that JSON deserialises to it. Durations are whole milliseconds in the JSON.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vidmock::{Action, Fault};
///
/// let action: Action = serde_json::from_str(r#"{"type": "delay", "ms": 250}"#).unwrap();
/// assert_eq!(action, Action::Delay { delay: Duration::from_millis(250) });
/// assert_eq!(Fault::from(action), Fault::delay(Duration::from_millis(250)));
/// assert_eq!(
///     serde_json::to_value(Fault::hang().action()).unwrap(),
///     serde_json::json!({"type": "hang"}),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    remote = "Self",
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum Action {
    /// Answers `status` with `body` and `headers` ([`Fault::status`]).
    Status {
        /// The HTTP status (100–999).
        status: u16,
        /// The body, as text in the JSON.
        #[serde(default, with = "text")]
        body: Bytes,
        /// Headers, each sent as given (a name may repeat).
        #[serde(default, with = "header_list")]
        headers: Vec<(String, String)>,
    },
    /// Waits `delay`, then answers normally ([`Fault::delay`]).
    Delay {
        /// How long.
        #[serde(rename = "ms", with = "millis")]
        delay: Duration,
    },
    /// Waits a uniformly random time in `min..=max`, then answers normally.
    DelayUniform {
        /// The shortest wait.
        #[serde(rename = "minMs", with = "millis")]
        min: Duration,
        /// The longest wait.
        #[serde(rename = "maxMs", with = "millis")]
        max: Duration,
    },
    /// Waits a log-normally distributed time, never more than `cap`, then answers normally.
    DelayLognormal {
        /// The median wait.
        #[serde(rename = "medianMs", with = "millis")]
        median: Duration,
        /// The spread (σ of the underlying normal distribution).
        sigma: f64,
        /// The longest wait.
        #[serde(rename = "capMs", with = "millis")]
        cap: Duration,
    },
    /// Answers normally, but sends the body `chunk` bytes at a time, one chunk every `every`.
    Dribble {
        /// Bytes per piece (at least 1).
        #[serde(rename = "chunkBytes")]
        chunk: usize,
        /// The pause before each piece.
        #[serde(rename = "everyMs", with = "millis")]
        every: Duration,
    },
    /// Never answers ([`Fault::hang`]).
    Hang,
    /// Resets the connection instead of answering ([`Fault::reset`]).
    Reset,
    /// Closes the connection without a byte of answer ([`Fault::close`]).
    Close,
    /// Sends `body` (not HTTP) and closes the connection ([`Fault::garbage`]).
    Garbage {
        /// The bytes sent, as text in the JSON.
        #[serde(with = "text")]
        body: Bytes,
    },
    /// Answers normally, but the connection closes after the headers and `after_bytes` bytes
    /// of the body ([`Fault::truncate_after`]).
    Truncate {
        /// Body bytes sent before the connection closes.
        after_bytes: usize,
    },
    /// Reads about `bytes` more bytes of the request, then resets the connection
    /// ([`Fault::reset_after_request_bytes`]).
    ResetAfterRequestBytes {
        /// Request bytes read before the reset.
        bytes: u64,
    },
    /// Processes the request, then closes the connection instead of answering
    /// ([`Fault::lose_response`]).
    LoseResponse,
    /// Answers normally, and makes the next upload processing that the request's tenant
    /// starts fail, as the vendor reports a failed encoding or conversion
    /// ([`Fault::fail_processing`]).
    FailProcessing,
    /// Outbound deliveries only: records the delivery but never sends it
    /// ([`Fault::drop_delivery`]).
    Drop,
    /// Outbound deliveries only: sends the delivery twice ([`Fault::duplicate`]).
    Duplicate,
    /// Outbound deliveries only: holds the delivery back until the next one has been sent
    /// (at most a minute of the clock), so the receiver sees the two out of order
    /// ([`Fault::reorder`]).
    Reorder,
    /// Outbound deliveries only: sends the delivery with its signature headers spoilt
    /// ([`Fault::bad_signature`]).
    BadSignature,
    /// An error in a vendor's own format (`apivideoProblem`, `kalturaError` in the JSON; made
    /// in Rust by the vendor's constructors, such as `Fault::apivideo` or `Fault::kaltura`).
    #[serde(skip)]
    Vendor(VendorFault),
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Action::Vendor(fault) => fault.0.to_json().serialize(serializer),
            _ => Action::serialize(self, serializer),
        }
    }
}

/// An error in a vendor's own format, as an [`Action`] holds it; made by the vendor's
/// constructors (`Fault::apivideo`, `Fault::kaltura`…) or read from the admin API's JSON.
#[derive(Clone, Debug)]
pub struct VendorFault(Arc<dyn VendorError>);

impl VendorFault {
    pub(crate) fn new(error: impl VendorError) -> Self {
        VendorFault(Arc::new(error))
    }
}

impl PartialEq for VendorFault {
    /// Two vendor errors are equal when they read the same as JSON.
    fn eq(&self, other: &Self) -> bool {
        self.0.to_json() == other.0.to_json()
    }
}

/// An error in a vendor's own format, as a fault answers with it. Each vendor implements it for
/// its error type, so the fault engine answers in every vendor's format without knowing one.
pub(crate) trait VendorError: Send + Sync + std::fmt::Debug + 'static {
    /// A short description for the journal and the admin API (`kaltura error INVALID_KS`).
    fn describe(&self) -> String;

    /// The admin API's JSON for it (`{"type": "kalturaError", "code": …}`).
    fn to_json(&self) -> serde_json::Value;

    /// The answer to `request`, in the format the request asked for; the request's body is
    /// not buffered to learn it.
    fn answer(&self, request: Request) -> futures_util::future::BoxFuture<'static, Response>;
}

/// A [`Fault::status`] answer, whose body and headers can still be set; used wherever a
/// [`Fault`] is (`server.fault(Fault::status(503).body("busy"))`).
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a fault does nothing until it is mounted"]
pub struct StatusFault {
    status: u16,
    body: Bytes,
    headers: Vec<(String, String)>,
}

impl StatusFault {
    /// Sets the body.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::status(502).body("<html>bad gateway</html>");
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a header (a name may be added more than once).
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::status(429).header("retry-after", "2");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl From<StatusFault> for Fault {
    fn from(fault: StatusFault) -> Self {
        Fault {
            action: Action::Status {
                status: fault.status,
                body: fault.body,
                headers: fault.headers,
            },
        }
    }
}

impl From<Action> for Fault {
    fn from(action: Action) -> Self {
        Fault { action }
    }
}

impl Fault {
    /// Answers `status` with an empty body (set one with [`StatusFault::body`]).
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::status(500).body("boom").header("retry-after", "1");
    /// ```
    pub fn status(status: u16) -> StatusFault {
        StatusFault {
            status,
            body: Bytes::new(),
            headers: Vec::new(),
        }
    }

    /// What this fault does.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::Fault::hang().action(), &vidmock::Action::Hang);
    /// ```
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Answers in a vendor's own error format.
    pub(crate) fn vendor(error: impl VendorError) -> Self {
        Self {
            action: Action::Vendor(VendorFault::new(error)),
        }
    }

    /// Waits `delay`, then answers normally.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::delay(std::time::Duration::from_millis(300));
    /// ```
    pub fn delay(delay: Duration) -> Self {
        Action::Delay { delay }.into()
    }

    /// Waits a uniformly random time in `min..=max`, then answers normally.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let fault = vidmock::Fault::delay_uniform(Duration::from_millis(10), Duration::from_millis(50));
    /// ```
    pub fn delay_uniform(min: Duration, max: Duration) -> Self {
        Action::DelayUniform {
            min,
            max: max.max(min),
        }
        .into()
    }

    /// Waits a log-normally distributed time (the shape of real network latency) with the
    /// given median and spread, never more than `cap`, then answers normally.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let fault = vidmock::Fault::delay_lognormal(Duration::from_millis(40), 0.5, Duration::from_secs(1));
    /// ```
    pub fn delay_lognormal(median: Duration, sigma: f64, cap: Duration) -> Self {
        Action::DelayLognormal { median, sigma, cap }.into()
    }

    /// Answers after `delay`: for a client whose timeout is shorter, a timeout.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::answer_after(std::time::Duration::from_secs(30));
    /// ```
    pub fn answer_after(delay: Duration) -> Self {
        Self::delay(delay)
    }

    /// Answers normally, but sends the body `chunk` bytes at a time, one chunk every `every`.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::dribble(8, std::time::Duration::from_millis(20));
    /// ```
    pub fn dribble(chunk: usize, every: Duration) -> Self {
        Action::Dribble {
            chunk: chunk.max(1),
            every,
        }
        .into()
    }

    /// Never answers; the connection stays open until the client gives up (no CPU is spent).
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::hang();
    /// ```
    pub fn hang() -> Self {
        Action::Hang.into()
    }

    /// Resets the connection (TCP RST) instead of answering.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::reset();
    /// ```
    pub fn reset() -> Self {
        Action::Reset.into()
    }

    /// Closes the connection without a byte of answer.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::close();
    /// ```
    pub fn close() -> Self {
        Action::Close.into()
    }

    /// Sends `bytes` (not HTTP) and closes the connection.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::garbage("\u{0}\u{1}not http");
    /// ```
    pub fn garbage(bytes: impl Into<Bytes>) -> Self {
        Action::Garbage { body: bytes.into() }.into()
    }

    /// Answers normally, but the connection closes after the headers and `bytes` bytes of the
    /// body (the Content-Length announces the whole body).
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::truncate_after(10);
    /// ```
    pub fn truncate_after(bytes: usize) -> Self {
        Action::Truncate { after_bytes: bytes }.into()
    }

    /// Reads about `bytes` more bytes of the request (give or take what the server had already
    /// buffered with the headers), then resets the connection: nothing of the request is
    /// processed.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::reset_after_request_bytes(1 << 20);
    /// ```
    pub fn reset_after_request_bytes(bytes: u64) -> Self {
        Action::ResetAfterRequestBytes { bytes }.into()
    }

    /// Processes the request normally (state changes) but closes the connection instead of
    /// sending the answer, so a client's idempotent retry or resume can be tested.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::lose_response();
    /// ```
    pub fn lose_response() -> Self {
        Action::LoseResponse.into()
    }

    /// Answers the request normally, and makes the next processing of an upload that the
    /// request's tenant starts fail, as the vendor reports it: the request's own upload when
    /// it completes one, else the next one to complete. Each vendor says what its processing
    /// and its tenant are (api.video: a project's next encoding, every quality `failed`;
    /// Kaltura: a partner's next conversion, `ERROR_CONVERTING`). Each time the fault applies,
    /// one more processing fails.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::{apivideo, Fault};
    /// let server = vidmock::MockServer::start().await;
    /// server
    ///     .fault(Fault::fail_processing())
    ///     .when(apivideo::op("uploadWithUploadToken"))
    ///     .times(1)
    ///     .mount();
    /// assert_eq!(
    ///     serde_json::to_value(Fault::fail_processing().action()).unwrap(),
    ///     serde_json::json!({"type": "failProcessing"}),
    /// );
    /// # }
    /// ```
    pub fn fail_processing() -> Self {
        Action::FailProcessing.into()
    }

    /// Outbound deliveries only: the delivery is recorded but never sent, as if the vendor
    /// lost it. Mount it with `server.deliveries().fault(…)`.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::drop_delivery();
    /// assert_eq!(serde_json::to_value(fault.action()).unwrap(), serde_json::json!({"type": "drop"}));
    /// ```
    pub fn drop_delivery() -> Self {
        Action::Drop.into()
    }

    /// Outbound deliveries only: the delivery is sent twice, as at-least-once senders do.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::duplicate();
    /// ```
    pub fn duplicate() -> Self {
        Action::Duplicate.into()
    }

    /// Outbound deliveries only: the delivery waits until the next delivery has been sent (at
    /// most a minute on the server's clock), so the receiver sees them out of order.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::reorder();
    /// ```
    pub fn reorder() -> Self {
        Action::Reorder.into()
    }

    /// Outbound deliveries only: the delivery is sent with its signature headers spoilt, so a
    /// receiver's check must refuse it.
    ///
    /// # Example
    ///
    /// ```
    /// let fault = vidmock::Fault::bad_signature();
    /// ```
    pub fn bad_signature() -> Self {
        Action::BadSignature.into()
    }

    /// Whether the action applies only to outbound deliveries.
    pub(crate) fn delivery_only(action: &Action) -> bool {
        matches!(
            action,
            Action::Drop | Action::Duplicate | Action::Reorder | Action::BadSignature
        )
    }

    /// Whether the action means something for an outbound delivery.
    pub(crate) fn applies_to_deliveries(action: &Action) -> bool {
        Self::delivery_only(action) || matches!(action, Action::Delay { .. })
    }

    /// A short description for the journal and the admin API.
    fn describe(&self) -> String {
        match &self.action {
            Action::Status { status, .. } => format!("status {status}"),
            Action::Vendor(fault) => fault.0.describe(),
            Action::Delay { .. } | Action::DelayUniform { .. } | Action::DelayLognormal { .. } => {
                "delay".into()
            }
            Action::Dribble { .. } => "dribble".into(),
            Action::Hang => "hang".into(),
            Action::Reset => "reset".into(),
            Action::Close => "close".into(),
            Action::Garbage { .. } => "garbage".into(),
            Action::Truncate { .. } => "truncate".into(),
            Action::ResetAfterRequestBytes { .. } => "reset-after-request-bytes".into(),
            Action::LoseResponse => "lose-response".into(),
            Action::FailProcessing => "fail-processing".into(),
            Action::Drop => "drop".into(),
            Action::Duplicate => "duplicate".into(),
            Action::Reorder => "reorder".into(),
            Action::BadSignature => "bad-signature".into(),
        }
    }
}

/// Durations as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Bytes as text (lossy where they are not UTF-8).
mod text {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&String::from_utf8_lossy(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        String::deserialize(deserializer).map(Bytes::from)
    }
}

/// Headers as a JSON object (name → value), in order; a repeated name is written twice.
mod header_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        headers: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(headers.iter().map(|(k, v)| (k, v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(|map| map.into_iter().collect())
    }
}

/// A mounted fault as it is listed: what it does, its schedule, and how often it matched and
/// applied. Serialised, it is an entry of `GET /__vidmock/faults`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.fault(vidmock::Fault::status(503)).times(2).named("busy").mount();
///
/// let listed = &server.faults()[0];
/// assert_eq!((listed.name.as_str(), listed.times, listed.applied), ("busy", Some(2), 0));
/// assert_eq!(serde_json::to_value(listed).unwrap()["action"]["status"], 503);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MountedFault {
    /// The id `mount` returned.
    pub id: u64,
    /// Its name (`named`), or a description of its action.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// The action in a few words (`status 503`, `kaltura error INVALID_KS`).
    pub summary: String,
    /// Applies at most this many times.
    pub times: Option<u64>,
    /// Skips the first `after` matching requests.
    pub after: u64,
    /// Applies only to the k-th matching request.
    pub on_nth: Option<u64>,
    /// Applies with this probability.
    pub probability: Option<f64>,
    /// What it matches, as the admin API's fault JSON posted it (`{"operation": "createToken"}`);
    /// `None` for a fault mounted from Rust, whose matchers are code.
    #[serde(rename = "match")]
    pub matching: Option<serde_json::Value>,
    /// Matching requests seen.
    pub matched: u64,
    /// Times applied.
    pub applied: u64,
}

/// A mounted fault: its matcher, action and schedule.
pub(crate) struct Rule {
    pub id: u64,
    pub name: String,
    matchers: Vec<Box<dyn crate::Match>>,
    fault: Fault,
    /// Apply at most this many times.
    times: Option<u64>,
    /// Skip the first `after` matching requests.
    after: u64,
    /// Apply only to the k-th matching request (1-based).
    on_nth: Option<u64>,
    /// Apply with this probability (after the other conditions).
    probability: Option<f64>,
    /// Matching requests seen.
    seen: AtomicU64,
    /// Times applied.
    applied: AtomicU64,
    /// What it matches, as posted to the admin API.
    matching: Option<serde_json::Value>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// Whether the rule applies to this (matching) request, counting it.
    fn fires(&self, rng: &Mutex<fastrand::Rng>) -> bool {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.after || self.on_nth.is_some_and(|k| k != n) {
            return false;
        }
        if self
            .times
            .is_some_and(|t| self.applied.load(Ordering::SeqCst) >= t)
        {
            return false;
        }
        if let Some(p) = self.probability {
            let roll = rng.lock().unwrap_or_else(|e| e.into_inner()).f64();
            if roll >= p {
                return false;
            }
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// What the rule does.
    pub(crate) fn action(&self) -> &Action {
        &self.fault.action
    }

    /// The rule as [`crate::MockServer::faults`] and the admin API list it.
    pub(crate) fn listed(&self) -> MountedFault {
        MountedFault {
            id: self.id,
            name: self.name.clone(),
            action: self.fault.action.clone(),
            summary: self.fault.describe(),
            times: self.times,
            after: self.after,
            on_nth: self.on_nth,
            probability: self.probability,
            matching: self.matching.clone(),
            matched: self.seen.load(Ordering::SeqCst),
            applied: self.applied.load(Ordering::SeqCst),
        }
    }
}

/// The fault rules of one server.
#[derive(Debug)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Arc<Rule>>>,
    next_id: AtomicU64,
    /// For probabilistic faults and random latency; seeded with the server's seed.
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            rng: Mutex::new(match seed {
                Some(seed) => fastrand::Rng::with_seed(seed ^ 0x5eed_fa17),
                None => fastrand::Rng::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Rule>>> {
        // The vector is only pushed to and filtered; it is valid after any panic.
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn list(&self) -> Vec<Arc<Rule>> {
        self.lock().clone()
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The first rule, in mounting order, that matches and fires.
    pub(crate) fn pick(&self, request: &crate::Request) -> Option<Arc<Rule>> {
        let rules = self.list();
        rules
            .into_iter()
            .find(|rule| rule.matchers.iter().all(|m| m.matches(request)) && rule.fires(&self.rng))
    }

    /// How long a delaying action waits this time (no wait for any other action).
    fn sample(&self, latency: &Action) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        match *latency {
            Action::Delay { delay } => delay,
            Action::DelayUniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                min + Duration::from_secs_f64(span * rng.f64())
            }
            Action::DelayLognormal { median, sigma, cap } => {
                let sigma = if sigma.is_finite() { sigma.abs() } else { 0.0 };
                // Box–Muller: a standard normal from two uniforms.
                let (u1, u2) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let secs = median.as_secs_f64() * (sigma * z).exp();
                Duration::try_from_secs_f64(secs).unwrap_or(cap).min(cap)
            }
            _ => Duration::ZERO,
        }
    }
}

/// Schedules a [`Fault`]: which requests, how often. Nothing happens until
/// [`FaultBuilder::mount`] or [`FaultBuilder::mount_as_scoped`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::Fault;
/// let server = vidmock::MockServer::start().await;
/// {
///     let _guard = server.fault(Fault::status(500)).when(vidmock::matchers::method("GET")).mount_as_scoped();
///     let answer = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
///     assert_eq!(answer.status(), 500);
/// }
/// let answer = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// assert_eq!(answer.status(), 401);
/// # }
/// ```
#[must_use = "a fault does nothing until it is mounted"]
pub struct FaultBuilder<'a> {
    faults: &'a Arc<Faults>,
    fault: Fault,
    name: Option<String>,
    matchers: Vec<Box<dyn crate::Match>>,
    times: Option<u64>,
    after: u64,
    on_nth: Option<u64>,
    probability: Option<f64>,
    matching: Option<serde_json::Value>,
}

impl<'a> FaultBuilder<'a> {
    pub(crate) fn new(faults: &'a Arc<Faults>, fault: Fault) -> Self {
        Self {
            faults,
            fault,
            matching: None,
            name: None,
            matchers: Vec::new(),
            times: None,
            after: 0,
            on_nth: None,
            probability: None,
        }
    }

    /// Applies only to requests `matcher` matches (all matchers given must match; with none,
    /// every vendor request matches).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::reset()).when(vidmock::matchers::path("/upload")).mount();
    /// # }
    /// ```
    pub fn when(mut self, matcher: impl crate::Match + 'static) -> Self {
        self.matchers.push(Box::new(matcher));
        self
    }

    /// Another matcher that must match too.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::matchers::{header, method};
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::close()).when(method("POST")).and(header("content-range", "part 3/*")).mount();
    /// # }
    /// ```
    pub fn and(self, matcher: impl crate::Match + 'static) -> Self {
        self.when(matcher)
    }

    /// Applies at most `n` times.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::status(500)).times(2).mount();
    /// # }
    /// ```
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Lets the first `n` matching requests through untouched.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::hang()).after(2).mount();
    /// # }
    /// ```
    pub fn after(mut self, n: u64) -> Self {
        self.after = n;
        self
    }

    /// Applies only to the `k`-th matching request (1-based).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::reset()).on_nth(3).mount();
    /// # }
    /// ```
    pub fn on_nth(mut self, k: u64) -> Self {
        self.on_nth = Some(k);
        self
    }

    /// Applies with probability `p` (0.0..=1.0), drawn from the server's seeded generator.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::builder().seed(7).start().await;
    /// server.fault(vidmock::Fault::status(503)).probability(0.1).mount();
    /// # }
    /// ```
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) });
        self
    }

    /// Names the fault in the journal and the admin API.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.fault(vidmock::Fault::close()).named("flaky network").mount();
    /// # }
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Notes what the fault matches, as the admin API's JSON said it, for its listing.
    pub(crate) fn described(mut self, matching: serde_json::Value) -> Self {
        self.matching = Some(matching);
        self
    }

    /// Mounts the fault for the server's life (or until removed); returns its id.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let id = server.fault(vidmock::Fault::close()).mount();
    /// assert!(server.remove_fault(id));
    /// # }
    /// ```
    pub fn mount(self) -> u64 {
        let faults = self.faults;
        let id = faults.next_id.fetch_add(1, Ordering::SeqCst);
        let rule = Rule {
            id,
            name: self
                .name
                .unwrap_or_else(|| format!("fault {id} ({})", self.fault.describe())),
            matchers: self.matchers,
            fault: self.fault,
            times: self.times,
            after: self.after,
            on_nth: self.on_nth,
            probability: self.probability,
            seen: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            matching: self.matching,
        };
        faults.lock().push(Arc::new(rule));
        id
    }

    /// Mounts the fault until the returned guard is dropped.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let guard = server.fault(vidmock::Fault::close()).mount_as_scoped();
    /// drop(guard);
    /// assert!(server.faults().is_empty());
    /// # }
    /// ```
    pub fn mount_as_scoped(self) -> FaultGuard {
        let faults = self.faults.clone();
        let id = self.mount();
        FaultGuard { faults, id }
    }
}

/// Removes its fault when dropped.
#[derive(Debug)]
#[must_use = "the fault is removed as soon as the guard is dropped"]
pub struct FaultGuard {
    faults: Arc<Faults>,
    id: u64,
}

impl FaultGuard {
    /// The fault's id.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let guard = server.fault(vidmock::Fault::close()).mount_as_scoped();
    /// assert!(guard.id() > 0);
    /// # }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        self.faults.remove(self.id);
    }
}

/// What the request matchers see of a request: the head, and the body when it is small enough
/// to hold (never a large upload).
pub(crate) async fn matchable(
    request: Request,
    base: &http::Uri,
    limit: usize,
) -> (Request, crate::Request) {
    let (parts, body) = request.into_parts();
    let small = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len <= limit);
    let (body, bytes) = if small {
        match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                (Body::from(bytes.clone()), bytes)
            }
            // A broken body: let the handler meet the same error.
            Err(_) => (Body::empty(), Bytes::new()),
        }
    } else {
        (body, Bytes::new())
    };
    // Over HTTP/2 the URI is in absolute form (`https://host:port/path?query`).
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let seen = crate::Request {
        url: crate::engine::journal::request_uri(base, path_and_query),
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        body: bytes,
    };
    (Request::from_parts(parts, body), seen)
}

/// Set on a request a [`Action::FailProcessing`] fault applied to: the vendor that owns the
/// request is told before it handles it (`Contract::fail_next_processing`), with the request as
/// the matchers saw it.
#[derive(Clone, Debug)]
pub(crate) struct FailNextProcessing(pub Arc<crate::Request>);

/// Applies the first matching fault, if any, around `run` (the vendor handler), noting it on
/// the request's journal entry `seq` before any answer exists.
pub(crate) async fn apply(
    faults: &Faults,
    journal: &crate::engine::journal::Journal,
    request: Request,
    seen: &crate::Request,
    seq: Option<u64>,
    run: impl FnOnce(Request) -> futures_util::future::BoxFuture<'static, Response>,
) -> Response {
    let Some(rule) = faults.pick(seen) else {
        return run(request).await;
    };
    if let Some(seq) = seq {
        journal.complete(seq, |entry| entry.set_fault(&rule.name));
    }
    let control = request
        .extensions()
        .get::<ConnInfo>()
        .map(|info| info.control.clone());
    match rule.fault.action.clone() {
        Action::Status {
            status,
            headers,
            body,
        } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
            )
                .into_response();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name), HeaderValue::try_from(value))
                {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Action::Vendor(fault) => fault.0.answer(request).await,
        latency @ (Action::Delay { .. }
        | Action::DelayUniform { .. }
        | Action::DelayLognormal { .. }) => {
            tokio::time::sleep(faults.sample(&latency)).await;
            run(request).await
        }
        Action::Dribble { chunk, every } => {
            let chunk = chunk.max(1);
            let response = run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let pieces: Vec<Bytes> = (0..bytes.len())
                .step_by(chunk)
                .map(|i| bytes.slice(i..(i + chunk).min(bytes.len())))
                .collect();
            let stream = futures_util::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::convert::Infallible>(piece)
            });
            let mut parts = parts;
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Action::Hang => std::future::pending().await,
        Action::Reset => {
            if let Some(control) = control {
                control.reset();
            }
            std::future::pending().await
        }
        Action::Close => {
            if let Some(control) = control {
                control.close();
            }
            std::future::pending().await
        }
        Action::Garbage { body } => {
            if let Some(control) = control {
                control.replace_output(body);
            }
            StatusCode::OK.into_response()
        }
        Action::Truncate { after_bytes: keep } => {
            let response = run(request).await;
            let (mut parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            parts
                .headers
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            let head = bytes.slice(..keep.min(bytes.len()));
            // The body ends with an error before its announced length: hyper aborts the
            // connection, and the client sees a truncated body.
            // The pause lets hyper flush the head and the kept bytes before the error.
            let stream = futures_util::stream::iter([Some(head), None]).then(|piece| async move {
                match piece {
                    Some(head) => Ok(head),
                    None => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Err(std::io::Error::other("truncated by a fault"))
                    }
                }
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Action::ResetAfterRequestBytes { bytes } => {
            if let Some(control) = &control {
                control.reset_after_reading(bytes);
            }
            run(request).await
        }
        // Actions on outbound deliveries leave a request alone.
        Action::Drop | Action::Duplicate | Action::Reorder | Action::BadSignature => {
            run(request).await
        }
        Action::FailProcessing => {
            let mut request = request;
            request
                .extensions_mut()
                .insert(FailNextProcessing(Arc::new(seen.clone())));
            run(request).await
        }
        Action::LoseResponse => {
            let _processed = run(request).await;
            if let Some(control) = control {
                control.close();
            }
            std::future::pending().await
        }
    }
}
