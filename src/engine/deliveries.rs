//! Outbound deliveries: the events a vendor sends (mostly POSTs) to the URLs its users register.
//!
//! Integrations rarely poll; they register a URL and act on what arrives, and that handler is
//! the code hardest to test. So the engine sends real HTTP requests, on the server's clock
//! rather than on timers a test would have to sleep through: a delivery is due at an instant of
//! the [`Clock`], and advancing the clock sends what falls due at once. Each vendor builds its
//! own payload and signature (it owns its wire format) and says how it retries through
//! [`RetryPolicy`]; the engine queues, sends, retries, records every attempt in a bounded log,
//! and applies the faults scripted on deliveries (drop, delay, duplicate, reorder, a spoilt
//! signature), matched with the same matchers as requests.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use indexmap::IndexMap;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engine::clock::Clock;
use crate::engine::expect::Times;
use crate::engine::faults::{Action, Fault, Faults};
use crate::engine::vendor::Vendor;

/// How many deliveries are kept by default; the oldest finished ones are forgotten first.
pub const DEFAULT_CAPACITY: usize = 1_000;
/// How many deliveries may wait to be sent at once; more are recorded as failed at once.
const MAX_PENDING: usize = 10_000;
/// The most of a subscriber's answer read, and kept with the attempt.
const ANSWER_LIMIT: usize = 4 * 1024;
/// How long a reordered delivery waits for another to overtake it, on the clock.
const REORDER_HOLD: Duration = Duration::from_secs(60);

/// How a vendor retries a delivery its subscriber did not accept.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// let policy = vidmock::RetryPolicy::new(4, Duration::from_secs(3));
/// assert_eq!(policy.attempts(), 4);
/// assert!(policy.accepts(204) && !policy.accepts(500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    attempts: u32,
    /// The wait on the clock before each retry.
    #[serde(rename = "intervalMs", serialize_with = "millis")]
    interval: Duration,
    /// How long one attempt may take (connect, send, answer), in real time.
    #[serde(rename = "timeoutMs", serialize_with = "millis")]
    timeout: Duration,
    /// The statuses that count as accepted: `true` for the 2xx (and 1xx) family, else only
    /// the listed ones.
    #[serde(skip)]
    accepted: Accepted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accepted {
    Below300,
    Only(&'static [u16]),
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

impl RetryPolicy {
    /// `attempts` in all (at least one), `interval` apart on the clock; any status below 300
    /// is accepted, and an attempt times out after 10 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// let once = vidmock::RetryPolicy::new(0, std::time::Duration::ZERO);
    /// assert_eq!(once.attempts(), 1);
    /// ```
    pub const fn new(attempts: u32, interval: Duration) -> Self {
        RetryPolicy {
            attempts: if attempts == 0 { 1 } else { attempts },
            interval,
            timeout: Duration::from_secs(10),
            accepted: Accepted::Below300,
        }
    }

    /// Accepts only these statuses (a vendor that counts only some 2xx as delivered).
    ///
    /// # Example
    ///
    /// ```
    /// let policy = vidmock::RetryPolicy::new(1, std::time::Duration::ZERO).accepting(&[200, 204]);
    /// assert!(!policy.accepts(202));
    /// ```
    pub const fn accepting(mut self, statuses: &'static [u16]) -> Self {
        self.accepted = Accepted::Only(statuses);
        self
    }

    /// With another timeout per attempt.
    ///
    /// # Example
    ///
    /// ```
    /// let policy = vidmock::RetryPolicy::new(1, std::time::Duration::ZERO)
    ///     .timeout(std::time::Duration::from_secs(2));
    /// ```
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts in all, the first included.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::RetryPolicy::new(3, std::time::Duration::ZERO).attempts(), 3);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether an answer with `status` ends the delivery as delivered.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(vidmock::RetryPolicy::new(1, std::time::Duration::ZERO).accepts(299));
    /// ```
    pub fn accepts(&self, status: u16) -> bool {
        match self.accepted {
            Accepted::Below300 => status < 300,
            Accepted::Only(list) => list.contains(&status),
        }
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being sent).
    Pending,
    /// The subscriber accepted it.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// A fault dropped it: never sent.
    Dropped,
}

/// One attempt to send a delivery.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeliveryAttempt {
    /// When it was sent, on the server's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The subscriber's status, when it answered.
    pub status: Option<u16>,
    /// Why there was no answer (refused connection, timeout…).
    pub error: Option<String>,
    /// The start of the subscriber's answer (at most 4 KiB, lossy UTF-8).
    pub answer: String,
    /// How long it took, in real milliseconds.
    pub duration_ms: u64,
}

/// An outbound delivery as recorded: what was (or will be) sent, and every attempt.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// assert!(server.deliveries().all().is_empty());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Delivery {
    /// Its id in this server (`POST /__vidmock/deliveries/{id}/replay`).
    pub id: u64,
    /// The vendor that sent it.
    pub vendor: Vendor,
    /// The vendor's name for the event (`video.encoding.quality.completed`).
    pub event: String,
    /// The HTTP method it is sent with (`POST` unless the vendor's subscription asks otherwise).
    #[serde(serialize_with = "method_name")]
    pub method: http::Method,
    /// The subscriber's URL.
    pub url: String,
    /// The headers sent, in order.
    #[serde(serialize_with = "header_map")]
    pub headers: Vec<(String, String)>,
    /// The body sent.
    #[serde(serialize_with = "text")]
    pub body: Bytes,
    /// When it was made, on the clock.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its next attempt is due, while it is pending.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// The retry policy it follows.
    pub policy: RetryPolicy,
    /// The fault applied to it, by name.
    pub fault: Option<String>,
    /// The delivery it copies, for a replay or a duplicate.
    pub copy_of: Option<u64>,
    /// The headers whose values are signatures (spoilt by a bad-signature fault).
    #[serde(skip)]
    signature_headers: Vec<String>,
    /// Whether the faults have been consulted (once, when it first falls due).
    #[serde(skip)]
    checked: bool,
    /// Held back by a reorder fault until another delivery is sent.
    #[serde(skip)]
    held: bool,
    /// An attempt is under way.
    #[serde(skip)]
    sending: bool,
}

fn header_map<S: serde::Serializer>(
    headers: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(headers.iter().map(|(k, v)| (k, v)))
}

fn method_name<S: serde::Serializer>(
    method: &http::Method,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

fn text<S: serde::Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

impl Delivery {
    /// The value of header `name` (case-insensitive) as sent.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// for delivery in server.deliveries().all() {
    ///     assert!(delivery.header("content-type").is_some());
    /// }
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body read as JSON, when it is JSON.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.deliveries().all().iter().all(|d| d.body_json().is_some()));
    /// # }
    /// ```
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The delivery as the request matchers see it (its method, mostly `POST`, to its URL), so that any
    /// [`crate::Match`] can pick deliveries.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::Match;
    /// let server = vidmock::MockServer::start().await;
    /// for delivery in server.deliveries().all() {
    ///     assert!(vidmock::matchers::method("POST").matches(&delivery.request()));
    /// }
    /// # }
    /// ```
    pub fn request(&self) -> crate::Request {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(name, value);
            }
        }
        crate::Request {
            method: self.method.clone(),
            url: self.url.parse().unwrap_or_default(),
            headers,
            body: self.body.clone(),
        }
    }

    /// One line for failure messages: `#3 video.encoding.quality.completed -> http://… [delivered: 202]`.
    fn describe(&self) -> String {
        let last = self
            .attempts
            .last()
            .map(|a| match (a.status, &a.error) {
                (Some(status), _) => format!(": {status}"),
                (None, Some(error)) => format!(": {error}"),
                (None, None) => String::new(),
            })
            .unwrap_or_default();
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        format!(
            "#{} {} -> {} [{status}{last}, {} attempt(s)]",
            self.id,
            self.event,
            self.url,
            self.attempts.len()
        )
    }
}

/// Sets how many deliveries an expectation wants, and its name; made by
/// [`Deliveries::expect`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.deliveries().expect(vidmock::matchers::any()).times(0).named("no events");
/// # }
/// ```
#[derive(Debug)]
pub struct DeliveryExpectationBuilder {
    deliveries: Deliveries,
    index: usize,
}

impl DeliveryExpectationBuilder {
    /// How many matching deliveries: `2`, `1..`, `..=3`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.deliveries().expect(vidmock::matchers::any()).times(..2);
    /// # }
    /// ```
    pub fn times(self, times: impl Into<Times>) -> Self {
        if let Some(e) = self.deliveries.lock().expectations.get_mut(self.index) {
            e.times = times.into();
        }
        self
    }

    /// A name for failure messages.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.deliveries().expect(vidmock::matchers::any()).times(0).named("quiet");
    /// # }
    /// ```
    pub fn named(self, name: impl Into<String>) -> Self {
        if let Some(e) = self.deliveries.lock().expectations.get_mut(self.index) {
            e.name = Some(name.into());
        }
        self
    }
}

/// What a vendor hands the engine to send.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub vendor: Vendor,
    pub event: String,
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Names of the headers that carry signatures.
    pub signature_headers: Vec<String>,
    pub policy: RetryPolicy,
    /// When the first attempt is due, on the clock.
    pub due: OffsetDateTime,
}

struct DeliveryExpectation {
    name: Option<String>,
    matcher: Box<dyn crate::Match>,
    times: Times,
    /// Ids of the matching deliveries (originals, not copies), in order.
    matched: Vec<u64>,
}

/// Everything kept, behind one lock held only for bookkeeping.
#[derive(Default)]
struct State {
    /// Deliveries by id, oldest first; at most `capacity`, pending ones never forgotten.
    records: IndexMap<u64, Delivery>,
    next_id: u64,
    /// Attempts under way.
    in_flight: usize,
    expectations: Vec<DeliveryExpectation>,
}

struct Inner {
    state: Mutex<State>,
    clock: Clock,
    /// Faults scripted on deliveries.
    faults: Arc<Faults>,
    capacity: usize,
    /// Woken when a delivery is queued or an attempt ends.
    changed: Notify,
    /// Cancelled when the server stops: the sender and its attempts end.
    shutdown: CancellationToken,
    /// How attempts connect.
    connector: Connector,
}

/// The outbound deliveries of one server: queued on its clock, sent, retried and recorded.
/// `server.deliveries()` gives it; clones share the same log.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.deliveries().fault(vidmock::Fault::duplicate()).times(1).mount();
/// server.deliveries().settled().await;
/// assert!(server.deliveries().all().is_empty());
/// # }
/// ```
#[derive(Clone)]
pub struct Deliveries {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    pub(crate) fn new(
        clock: Clock,
        seed: Option<u64>,
        capacity: usize,
        connector: Connector,
    ) -> Self {
        Deliveries {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_id: 1,
                    ..State::default()
                }),
                clock,
                faults: Arc::new(Faults::new(seed.map(|s| s ^ 0xde11))),
                capacity: capacity.max(1),
                changed: Notify::new(),
                shutdown: CancellationToken::new(),
                connector,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change below completes before the guard drops.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The faults scripted on deliveries.
    pub(crate) fn faults(&self) -> &Arc<Faults> {
        &self.inner.faults
    }

    /// Queues a delivery; its first attempt is due at `outbound.due` on the clock.
    pub(crate) fn enqueue(&self, outbound: Outbound) -> u64 {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let pending = state
            .records
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .count();
        let full = pending >= MAX_PENDING;
        let delivery = Delivery {
            id,
            vendor: outbound.vendor,
            event: outbound.event,
            method: outbound.method,
            url: outbound.url,
            headers: outbound.headers,
            body: outbound.body,
            created_at: now,
            next_attempt_at: (!full).then_some(outbound.due),
            status: if full {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Pending
            },
            attempts: Vec::new(),
            policy: outbound.policy,
            fault: full.then(|| "too many pending deliveries".to_owned()),
            copy_of: None,
            signature_headers: outbound.signature_headers,
            checked: false,
            held: false,
            sending: false,
        };
        let request = delivery.request();
        for expectation in &mut state.expectations {
            if expectation.matcher.matches(&request) {
                expectation.matched.push(id);
            }
        }
        insert(&mut state, delivery, self.inner.capacity);
        drop(state);
        self.inner.changed.notify_waiters();
        id
    }

    /// Every delivery kept, oldest first.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.deliveries().all().len(), 0);
    /// # }
    /// ```
    pub fn all(&self) -> Vec<Delivery> {
        self.lock().records.values().cloned().collect()
    }

    /// The deliveries `matcher` matches (seen as a `POST` to the subscriber's URL).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// let hooks = server.deliveries().matching(vidmock::matchers::path("/hooks"));
    /// assert!(hooks.is_empty());
    /// # }
    /// ```
    pub fn matching(&self, matcher: impl crate::Match) -> Vec<Delivery> {
        self.all()
            .into_iter()
            .filter(|d| matcher.matches(&d.request()))
            .collect()
    }

    /// One delivery by id.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert!(server.deliveries().get(1).is_none());
    /// # }
    /// ```
    pub fn get(&self, id: u64) -> Option<Delivery> {
        self.lock().records.get(&id).cloned()
    }

    /// Sends a recorded delivery again now, as a new delivery with the same URL, headers and
    /// body (and policy); its id, or `None` if there is no delivery `id`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// assert_eq!(server.deliveries().replay(7), None);
    /// # }
    /// ```
    pub fn replay(&self, id: u64) -> Option<u64> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let original = state.records.get(&id)?.clone();
        let copy = copy(&mut state, &original, now);
        let new_id = copy.id;
        insert(&mut state, copy, self.inner.capacity);
        drop(state);
        self.inner.changed.notify_waiters();
        Some(new_id)
    }

    /// Forgets every delivery, the pending ones included (they are not sent), and the
    /// expectations on deliveries.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.deliveries().clear();
    /// # }
    /// ```
    pub fn clear(&self) {
        let mut state = self.lock();
        state.records.clear();
        state.expectations.clear();
    }

    /// Starts scripting a fault on deliveries (drop, delay, duplicate, reorder, bad signature);
    /// matchers see each delivery as a `POST` to the subscriber's URL. A fault is decided once
    /// per delivery, when it first falls due; [`Fault::delay`] waits on the server's clock, and
    /// the actions that shape answers to requests (statuses, hangs, resets…) leave a delivery
    /// alone.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::Fault;
    /// let server = vidmock::MockServer::start().await;
    /// server.deliveries().fault(Fault::drop_delivery()).times(1).mount();
    /// server.deliveries().fault(Fault::delay(std::time::Duration::from_secs(30)))
    ///     .when(vidmock::matchers::path("/slow"))
    ///     .mount();
    /// # }
    /// ```
    pub fn fault(&self, fault: impl Into<Fault>) -> crate::FaultBuilder<'_> {
        crate::FaultBuilder::new(&self.inner.faults, fault.into())
    }

    /// Expects deliveries matching `matcher`: at least one unless
    /// [`DeliveryExpectationBuilder::times`] says otherwise. Checked by
    /// [`crate::MockServer::verify`] and when the server drops; a failure lists the other
    /// deliveries as near misses.
    ///
    /// # Example
    ///
    /// ```should_panic
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.deliveries().expect(vidmock::matchers::path("/hooks")).times(1).named("one event");
    /// server.verify(); // panics: nothing was delivered
    /// # }
    /// ```
    pub fn expect(&self, matcher: impl crate::Match + 'static) -> DeliveryExpectationBuilder {
        let mut state = self.lock();
        // Deliveries made before the expectation count too (the log is bounded: those kept).
        let matched = state
            .records
            .values()
            .filter(|d| d.copy_of.is_none() && matcher.matches(&d.request()))
            .map(|d| d.id)
            .collect();
        state.expectations.push(DeliveryExpectation {
            name: None,
            matcher: Box::new(matcher),
            times: (1..).into(),
            matched,
        });
        DeliveryExpectationBuilder {
            deliveries: self.clone(),
            index: state.expectations.len() - 1,
        }
    }

    /// The unmet expectations on deliveries, described with their near misses.
    pub(crate) fn failures(&self) -> Vec<String> {
        let state = self.lock();
        let mut failures = Vec::new();
        for expectation in &state.expectations {
            let n = expectation.matched.len() as u64;
            if expectation.times.contains(n) {
                continue;
            }
            let name = expectation
                .name
                .as_deref()
                .map_or_else(|| "on deliveries".to_owned(), |n| format!("`{n}`"));
            let mut message = format!(
                "expectation {name} was not met: expected {} matching deliveries, made {n}.",
                expectation.times
            );
            let described = |id: &u64| state.records.get(id).map(Delivery::describe);
            let matching: Vec<String> = expectation.matched.iter().filter_map(described).collect();
            if !matching.is_empty() {
                message.push_str("\n  matching deliveries:");
                for line in matching {
                    message.push_str(&format!("\n    {line}"));
                }
            }
            let others: Vec<String> = state
                .records
                .values()
                .filter(|d| !expectation.matched.contains(&d.id) && d.copy_of.is_none())
                .map(Delivery::describe)
                .collect();
            if !others.is_empty() {
                message.push_str("\n  other deliveries made (near misses):");
                for line in others {
                    message.push_str(&format!("\n    {line}"));
                }
            }
            failures.push(message);
        }
        failures
    }

    /// Waits (in real time, briefly) until every delivery due at the clock's current instant
    /// has been attempted and no attempt is under way: after [`Clock::advance`], what fell
    /// due has been sent once this returns. Gives up after 30 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.clock().advance(std::time::Duration::from_secs(10));
    /// server.deliveries().settled().await;
    /// # }
    /// ```
    pub async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = self.inner.clock.now();
            let busy = {
                let state = self.lock();
                state.in_flight > 0
                    || state.records.values().any(|d| {
                        d.status == DeliveryStatus::Pending
                            && !d.held
                            && d.next_attempt_at.is_some_and(|at| at <= now)
                    })
            };
            if !busy {
                return;
            }
            let poll = tokio::time::sleep(Duration::from_millis(20));
            tokio::select! {
                _ = changed => {}
                _ = poll => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Stops the sender and every attempt under way.
    pub(crate) fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// The sender: sends what falls due on the clock until the server stops. Woken by a
    /// clock advance, a new delivery, or the real time at which the next one falls due.
    pub(crate) async fn run(self) {
        loop {
            let advanced = self.inner.clock.advanced();
            let changed = self.inner.changed.notified();
            tokio::pin!(advanced, changed);
            advanced.as_mut().enable();
            changed.as_mut().enable();
            let now = self.inner.clock.now();
            let (jobs, next) = self.take_due(now);
            let sent = !jobs.is_empty();
            for job in jobs {
                let deliveries = self.clone();
                tokio::spawn(async move {
                    let shutdown = deliveries.inner.shutdown.clone();
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = deliveries.attempt(job) => {}
                    }
                });
            }
            if sent {
                continue;
            }
            let wait = next
                .map(|at| Duration::try_from(at - now).unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600))
                .max(Duration::from_millis(1));
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = advanced => {}
                _ = changed => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Takes the deliveries due at `now`, applying faults to those due for the first time;
    /// also the next instant something falls due.
    fn take_due(&self, now: OffsetDateTime) -> (Vec<Job>, Option<OffsetDateTime>) {
        let mut state = self.lock();
        let mut jobs = Vec::new();
        let mut copies = Vec::new();
        let due: Vec<u64> = state
            .records
            .values()
            .filter(|d| {
                d.status == DeliveryStatus::Pending
                    && !d.sending
                    && d.next_attempt_at.is_some_and(|at| at <= now)
            })
            .map(|d| d.id)
            .collect();
        for id in due {
            let Some(delivery) = state.records.get_mut(&id) else {
                continue;
            };
            if !delivery.checked {
                delivery.checked = true;
                let request = delivery.request();
                if let Some(rule) = self.inner.faults.pick(&request) {
                    delivery.fault = Some(rule.name.clone());
                    match rule.action() {
                        Action::Drop => {
                            delivery.status = DeliveryStatus::Dropped;
                            delivery.next_attempt_at = None;
                            continue;
                        }
                        Action::Delay { delay } => {
                            delivery.next_attempt_at = Some(now + *delay);
                            continue;
                        }
                        Action::Reorder => {
                            delivery.held = true;
                            delivery.next_attempt_at = Some(now + REORDER_HOLD);
                            continue;
                        }
                        Action::BadSignature => spoil(delivery),
                        Action::Duplicate => copies.push(delivery.clone()),
                        // Other actions shape answers to requests; a delivery goes out as is.
                        _ => {}
                    }
                }
            }
            delivery.held = false;
            delivery.sending = true;
            jobs.push(Job::of(delivery));
        }
        for original in copies {
            let mut twin = copy(&mut state, &original, now);
            twin.checked = true;
            twin.sending = true;
            twin.fault.clone_from(&original.fault);
            jobs.push(Job::of(&twin));
            insert(&mut state, twin, self.inner.capacity);
        }
        state.in_flight += jobs.len();
        let next = state
            .records
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending && !d.sending)
            .filter_map(|d| d.next_attempt_at)
            .min();
        (jobs, next)
    }

    /// One attempt, recorded; schedules the retry or ends the delivery.
    async fn attempt(&self, job: Job) {
        let at = self.inner.clock.now();
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(job.timeout, post(&job, &self.inner.connector)).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error, answer) = match outcome {
            Ok(Ok((status, answer))) => (Some(status), None, answer),
            Ok(Err(error)) => (None, Some(error), String::new()),
            Err(_) => (
                None,
                Some(format!("timed out after {} ms", job.timeout.as_millis())),
                String::new(),
            ),
        };
        let now = self.inner.clock.now();
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if let Some(delivery) = state.records.get_mut(&job.id) {
                delivery.sending = false;
                delivery.attempts.push(DeliveryAttempt {
                    at,
                    status,
                    error,
                    answer,
                    duration_ms,
                });
                let accepted = status.is_some_and(|s| delivery.policy.accepts(s));
                if accepted {
                    delivery.status = DeliveryStatus::Delivered;
                    delivery.next_attempt_at = None;
                } else if delivery.attempts.len() as u32 >= delivery.policy.attempts {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.next_attempt_at = None;
                } else {
                    delivery.next_attempt_at = Some(now + delivery.policy.interval);
                }
            }
            // A delivery held back by a reorder fault goes once another has been sent.
            for delivery in state.records.values_mut() {
                if delivery.held && delivery.id != job.id {
                    delivery.held = false;
                    delivery.next_attempt_at = Some(now);
                }
            }
        }
        self.inner.changed.notify_waiters();
    }
}

/// A new pending delivery copying `original` (a replay or a duplicate), due `now`.
fn copy(state: &mut State, original: &Delivery, now: OffsetDateTime) -> Delivery {
    let id = state.next_id;
    state.next_id += 1;
    Delivery {
        id,
        created_at: now,
        next_attempt_at: Some(now),
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        fault: None,
        copy_of: Some(original.copy_of.unwrap_or(original.id)),
        checked: false,
        held: false,
        sending: false,
        ..original.clone()
    }
}

/// Adds a delivery, forgetting the oldest finished ones beyond `capacity`.
fn insert(state: &mut State, delivery: Delivery, capacity: usize) {
    state.records.insert(delivery.id, delivery);
    while state.records.len() > capacity {
        let oldest = state
            .records
            .values()
            .position(|d| d.status != DeliveryStatus::Pending);
        match oldest {
            Some(index) => {
                state.records.shift_remove_index(index);
            }
            // Only pending ones: they stay until sent (at most MAX_PENDING of them).
            None => break,
        }
    }
}

/// Spoils the signature headers: each value's characters reversed and its last changed, so
/// it has the right form and never the right value.
fn spoil(delivery: &mut Delivery) {
    let names = delivery.signature_headers.clone();
    for (name, value) in &mut delivery.headers {
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            let mut spoilt: Vec<char> = value.chars().rev().collect();
            if let Some(last) = spoilt.last_mut() {
                *last = if *last == '0' { '1' } else { '0' };
            }
            *value = spoilt.into_iter().collect();
        }
    }
}

/// What one attempt sends.
struct Job {
    id: u64,
    method: http::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    timeout: Duration,
}

impl Job {
    fn of(delivery: &Delivery) -> Job {
        Job {
            id: delivery.id,
            method: delivery.method.clone(),
            url: delivery.url.clone(),
            headers: delivery.headers.clone(),
            body: delivery.body.clone(),
            timeout: delivery.policy.timeout,
        }
    }
}

/// How deliveries open their connections: plain TCP for `http://` subscribers and, with the
/// `tls` feature, rustls for `https://` ones, trusting the public certificate authorities
/// (webpki-roots) and any the user adds. Without the feature an `https://` subscriber gets a
/// failed attempt that says why.
#[derive(Clone, Default)]
pub(crate) struct Connector {
    /// `None`: the public authorities only, from one configuration shared by every server.
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

#[cfg(feature = "tls")]
impl Connector {
    /// Trusts the public authorities and the certificates in `pems` (PEM, one or more each).
    pub(crate) fn trusting(pems: &[String]) -> Result<Connector, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        if pems.is_empty() {
            return Ok(Connector::default());
        }
        let mut roots = public_roots();
        for pem in pems {
            let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("a certificate authority to trust for deliveries: {e}"))?;
            if certificates.is_empty() {
                return Err(
                    "a certificate authority to trust for deliveries: no certificate in it"
                        .to_owned(),
                );
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| format!("a certificate authority to trust for deliveries: {e}"))?;
            }
        }
        Ok(Connector {
            tls: Some(client_config(roots)?),
        })
    }

    fn tls(&self) -> Result<tokio_rustls::TlsConnector, String> {
        static PUBLIC: std::sync::OnceLock<Result<tokio_rustls::TlsConnector, String>> =
            std::sync::OnceLock::new();
        match &self.tls {
            Some(tls) => Ok(tls.clone()),
            None => PUBLIC.get_or_init(|| client_config(public_roots())).clone(),
        }
    }
}

#[cfg(feature = "tls")]
fn public_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

#[cfg(feature = "tls")]
fn client_config(roots: rustls::RootCertStore) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot make a TLS client: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Sends the job over HTTP/1.1 on a fresh connection (TLS for `https://`); the status and the
/// start of the answer.
async fn post(job: &Job, connector: &Connector) -> Result<(u16, String), String> {
    let uri: http::Uri = job
        .url
        .parse()
        .map_err(|e| format!("invalid URL {:?}: {e}", job.url))?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(format!("the {other}:// scheme is not supported")),
        None => return Err(format!("invalid URL {:?}: no scheme", job.url)),
    };
    #[cfg(not(feature = "tls"))]
    if secure {
        let _ = connector;
        return Err("https:// subscribers need vidmock's `tls` feature".to_owned());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("invalid URL {:?}: no host", job.url))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut request = http::Request::builder()
        .method(job.method.clone())
        .uri(path)
        .header(http::header::HOST, authority.as_str());
    for (name, value) in &job.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(http_body_util::Full::new(job.body.clone()))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    #[cfg(feature = "tls")]
    if secure {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("invalid host {host:?} for TLS: {e}"))?;
        let stream = connector
            .tls()?
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
        return exchange(stream, request, &authority).await;
    }
    exchange(stream, request, &authority).await
}

/// Sends `request` over `stream` and reads the status and the start of the answer.
async fn exchange<S>(
    stream: S,
    request: http::Request<http_body_util::Full<Bytes>>,
    authority: &http::uri::Authority,
) -> Result<(u16, String), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {authority} failed: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("no answer from {authority}: {e}"))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut answer = Vec::new();
        while answer.len() < ANSWER_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        answer.extend_from_slice(data);
                    }
                }
                _ => break,
            }
        }
        answer.truncate(ANSWER_LIMIT);
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
    .await;
    driver.abort();
    result
}
