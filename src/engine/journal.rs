//! Every request vidmock answers, kept so tests can assert on what their client really sent.
//!
//! The journal is bounded (oldest entries fall off first) so a long-running binary or a soak test
//! keeps flat memory. Bodies are kept up to a limit; the size and the sha256 always cover the
//! whole body as it was read, so a 1 GiB upload is recorded as a prefix plus a digest, never as
//! a copy. A long body is hashed on the blocking pool as it is read, and its entry is complete,
//! digest included, before the response goes out. Entries convert to [`crate::Request`] so any [`crate::Match`] can query them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use crate::engine::hex;
use crate::engine::vendor::Vendor;

/// What a vendor module says about the request it answered; put in the response's extensions
/// so the journal can name the operation without knowing any wire format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Handled {
    pub vendor: Vendor,
    pub operation: Option<String>,
    /// The resource the request acted on (a video id, a token id), when there is one.
    pub target: Option<String>,
}

/// Put in a response's extensions by a vendor module that could not route the request (an
/// unknown path or method, an unknown service or action), for strict mode.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unrecognized;

/// Put in a response's extensions by a vendor module whose answer is one of its errors: the
/// error as the vendor names it (a Kaltura exception code such as `INVALID_KS`, an api.video
/// problem's slug such as `authentication-missing-authorization-header`), whatever the HTTP status says (a Kaltura
/// error is a 200).
#[derive(Clone, Debug)]
pub(crate) struct ErrorCode(pub String);

/// Put in a response's extensions by a handler to name the resource it acted on; the vendor
/// module moves it into [`Handled`].
#[derive(Clone, Debug)]
pub(crate) struct Target(pub String);

/// One request as vidmock received and answered it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let _ = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// let requests = server.received_requests();
/// assert_eq!(requests[0].operation.as_deref(), Some("listTokens"));
/// assert_eq!(requests[0].status, Some(401));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Increasing from 1 in arrival order; never reused, also after the journal drops entries.
    pub seq: u64,
    /// When the request arrived, on the server's [`crate::Clock`].
    pub received_at: OffsetDateTime,
    /// The client's address, when the request came over a socket.
    pub client: Option<std::net::SocketAddr>,
    /// The HTTP method.
    pub method: Method,
    /// The absolute URL as the client addressed this server (`http://HOST:PORT/path?query`),
    /// path and query as sent.
    pub url: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body up to the journal's body limit.
    pub body: Bytes,
    /// How many body bytes the server read in total.
    pub body_size: u64,
    /// Hex sha256 of every body byte the server read; empty for a body larger than the body
    /// limit when the server was built with `journal_body_digests(false)`.
    pub body_sha256: String,
    /// The vendor that answered, if the request reached one.
    pub vendor: Option<Vendor>,
    /// The operation name (`createToken`, `uploadtoken.upload`, …) when the route is known.
    pub operation: Option<String>,
    /// The resource the request acted on: for an api.video upload, the video it went to (a
    /// request without `videoId` creates a new one); for a Kaltura upload, the token id.
    pub target: Option<String>,
    /// The status sent, or `None` while unanswered (or when no answer was ever sent).
    pub status: Option<u16>,
    /// The fault rule applied to this request, if any.
    pub fault: Option<String>,
    /// The vendor's error, when the answer was one: a Kaltura exception code (`INVALID_KS`,
    /// which the vendor sends with status 200; a multirequest's failed calls' codes, comma
    /// separated), or an api.video problem's slug (`authentication-missing-authorization-header`).
    pub error: Option<String>,
    /// Time from arrival to the response head.
    pub duration: Option<Duration>,
    /// The answer's headers, as sent (empty while unanswered).
    pub answer_headers: HeaderMap,
    /// The start of the answer's body (up to 2 KiB), as sent.
    pub answer_body: Bytes,
}

impl RecordedRequest {
    /// The request as matchers see it (method, URL, headers and the body kept).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::Match;
    /// let server = vidmock::MockServer::start().await;
    /// let _ = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// let request = server.received_requests()[0].request();
    /// assert!(vidmock::matchers::path("/upload-tokens").matches(&request));
    /// # }
    /// ```
    pub fn request(&self) -> crate::Request {
        crate::Request {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }

    /// The recorded request as wiremock sees one, so `wiremock::Match` implementations apply.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use vidmock::wiremock::Match;
    /// let server = vidmock::MockServer::start().await;
    /// let _ = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// let request = server.received_requests()[0].to_wiremock();
    /// assert!(vidmock::wiremock::matchers::path("/upload-tokens").matches(&request));
    /// # }
    /// ```
    #[cfg(feature = "wiremock")]
    pub fn to_wiremock(&self) -> wiremock::Request {
        self.request().to_wiremock()
    }
}

/// The JSON form the admin API lists (`GET /__vidmock/requests`): the body as its size and
/// digest, headers as lists of values, the URL as path and query.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let _ = reqwest::get(format!("{}/upload-tokens?pageSize=2", server.uri())).await.unwrap();
/// let json = serde_json::to_value(&server.received_requests()[0]).unwrap();
/// assert_eq!(json["path"], "/upload-tokens");
/// assert_eq!(json["query"], "pageSize=2");
/// assert_eq!(json["operation"], "listTokens");
/// # }
/// ```
impl serde::Serialize for RecordedRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = self
            .headers
            .keys()
            .map(|name| {
                let values = self.headers.get_all(name).iter();
                let values = values.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                (name.as_str().to_owned(), values.collect::<Vec<_>>().into())
            })
            .collect();
        serde::Serialize::serialize(
            &RecordedJson {
                seq: self.seq,
                received_at: self
                    .received_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                method: self.method.as_str(),
                path: self.url.path(),
                query: self.url.query(),
                headers,
                body_size: self.body_size,
                body_sha256: &self.body_sha256,
                vendor: self.vendor,
                operation: self.operation.as_deref(),
                target: self.target.as_deref(),
                status: self.status,
                error: self.error.as_deref(),
                fault: self.fault.as_deref(),
                duration_ms: self.duration.map(|d| d.as_secs_f64() * 1000.0),
            },
            serializer,
        )
    }
}

/// [`RecordedRequest`] as the admin API lists it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordedJson<'a> {
    seq: u64,
    received_at: String,
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    /// In the order the names first appear (serde_json keeps insertion order here).
    headers: serde_json::Map<String, serde_json::Value>,
    body_size: u64,
    body_sha256: &'a str,
    vendor: Option<Vendor>,
    operation: Option<&'a str>,
    target: Option<&'a str>,
    status: Option<u16>,
    error: Option<&'a str>,
    fault: Option<&'a str>,
    duration_ms: Option<f64>,
}

#[cfg(feature = "wiremock")]
impl From<&RecordedRequest> for wiremock::Request {
    fn from(recorded: &RecordedRequest) -> Self {
        recorded.to_wiremock()
    }
}

/// The most bytes of an answer's body the journal keeps per request, for the dashboard's
/// request detail.
pub(crate) const ANSWER_PREVIEW: usize = 2048;

/// The default number of requests kept.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// The default number of body bytes kept per request.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The most body bytes the whole journal keeps: past it the oldest entries go, so that a
/// journal full of uploads (each with a body prefix) stays small however many it holds.
pub const BODY_BUDGET: usize = 64 * 1024 * 1024;

/// A request as the journal keeps it: what arrived and what was answered, packed into one
/// buffer. Recording happens on every request while reading happens when a test asks, so the
/// URL, the header map and the digest of a small body are built only by [`Journal::snapshot`].
///
/// A full journal drops its oldest entry for every new one, and that entry's memory is long
/// out of the CPU's caches: each allocation it owns costs a cache miss to free. Packed, an
/// entry is one such allocation (two for a body prefix too long to copy) instead of seven.
#[derive(Debug)]
pub(crate) struct Entry {
    seq: u64,
    received_at: OffsetDateTime,
    client: Option<std::net::SocketAddr>,
    method: Method,
    duration: Option<Duration>,
    status: Option<u16>,
    vendor: Option<Vendor>,
    body_size: u64,
    body_sha256: BodyDigest,
    /// Records of `[field: u8][length: u32 LE][bytes]`, appended as the request goes by: the
    /// path and query, each header, then the operation, target, fault and a short body.
    packed: Vec<u8>,
    /// A body prefix longer than [`PACKED_BODY`], kept as read rather than copied.
    long_body: Option<Bytes>,
    /// How many bytes of body prefix the entry keeps, packed or not.
    body_len: usize,
}

/// Body prefixes up to this many bytes are copied into the entry's packed buffer.
const PACKED_BODY: usize = 2048;

/// What a record in [`Entry::packed`] holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Field {
    PathAndQuery = 0,
    /// `[sensitive: u8][name length: u16 LE][name][value]`.
    Header = 1,
    Operation = 2,
    Target = 3,
    Fault = 4,
    Body = 5,
    Error = 6,
    /// An answer header: `[name length: u16 LE][name][value]`.
    AnswerHeader = 7,
    /// The answer's body, up to [`ANSWER_PREVIEW`] bytes.
    AnswerBody = 8,
}

impl Field {
    const ALL: [Field; 9] = [
        Field::PathAndQuery,
        Field::Header,
        Field::Operation,
        Field::Target,
        Field::Fault,
        Field::Body,
        Field::Error,
        Field::AnswerHeader,
        Field::AnswerBody,
    ];
}

impl Entry {
    /// A request that has just arrived: nothing read of its body, no answer yet.
    pub(crate) fn arrived(
        received_at: OffsetDateTime,
        client: Option<std::net::SocketAddr>,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Self {
        let header_bytes: usize = headers
            .iter()
            .map(|(name, value)| 5 + 3 + name.as_str().len() + value.len())
            .sum();
        // Room for a short body (when its length is announced), the operation and the target
        // without growing.
        let body_room = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok()?.parse::<usize>().ok())
            .filter(|length| *length <= PACKED_BODY)
            .map_or(0, |length| 5 + length);
        let mut packed =
            Vec::with_capacity(5 + path_and_query.len() + header_bytes + body_room + 96);
        push_record(
            &mut packed,
            Field::PathAndQuery,
            &[path_and_query.as_bytes()],
        );
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
            push_record(
                &mut packed,
                Field::Header,
                &[
                    &[u8::from(value.is_sensitive())],
                    &name_len.to_le_bytes(),
                    &name[..usize::from(name_len)],
                    value.as_bytes(),
                ],
            );
        }
        Self {
            seq: 0,
            received_at,
            client,
            method,
            duration: None,
            status: None,
            vendor: None,
            body_size: 0,
            body_sha256: BodyDigest::OfBody,
            packed,
            long_body: None,
            body_len: 0,
        }
    }

    /// The body prefix kept.
    fn body(&self) -> Bytes {
        match &self.long_body {
            Some(body) => body.clone(),
            None => self
                .record(Field::Body)
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
        }
    }

    /// Notes the body as read: its kept prefix, its whole size and what is known of its digest.
    /// Called once per request; were it called again, the later body is the one read back.
    pub(crate) fn set_body(&mut self, prefix: Bytes, size: u64, sha256: BodyDigest) {
        let answer = self.record(Field::AnswerBody).map_or(0, <[u8]>::len);
        self.body_len = prefix.len() + answer;
        if prefix.len() > PACKED_BODY {
            self.long_body = Some(prefix);
        } else {
            self.long_body = None;
            push_record(&mut self.packed, Field::Body, &[&prefix]);
        }
        self.body_size = size;
        self.body_sha256 = sha256;
    }

    /// Notes the fault rule applied to the request.
    pub(crate) fn set_fault(&mut self, name: &str) {
        push_record(&mut self.packed, Field::Fault, &[name.as_bytes()]);
    }

    /// Notes the answer: its status, who handled it, the vendor's error if it was one, and how
    /// long it took to get ready.
    pub(crate) fn set_answer(
        &mut self,
        status: u16,
        handled: Option<Handled>,
        error: Option<ErrorCode>,
        took: Duration,
    ) {
        if let Some(ErrorCode(code)) = error {
            push_record(&mut self.packed, Field::Error, &[code.as_bytes()]);
        }
        if let Some(handled) = handled {
            self.vendor = Some(handled.vendor);
            if let Some(operation) = &handled.operation {
                push_record(&mut self.packed, Field::Operation, &[operation.as_bytes()]);
            }
            if let Some(target) = &handled.target {
                push_record(&mut self.packed, Field::Target, &[target.as_bytes()]);
            }
        }
        self.status = Some(status);
        self.duration = Some(took);
    }

    /// Notes the answer's headers.
    pub(crate) fn set_answer_headers(&mut self, headers: &HeaderMap) {
        // One allocation for all of them.
        let room: usize = headers
            .iter()
            .map(|(name, value)| 5 + 2 + name.as_str().len() + value.len())
            .sum();
        self.packed.reserve(room);
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
            push_record(
                &mut self.packed,
                Field::AnswerHeader,
                &[
                    &name_len.to_le_bytes(),
                    &name[..usize::from(name_len)],
                    value.as_bytes(),
                ],
            );
        }
    }

    /// Notes the start of the answer's body (at most [`ANSWER_PREVIEW`] bytes are kept, and
    /// they count against the journal's body budget).
    pub(crate) fn set_answer_body(&mut self, preview: &[u8]) {
        let preview = &preview[..preview.len().min(ANSWER_PREVIEW)];
        push_record(&mut self.packed, Field::AnswerBody, &[preview]);
        self.body_len += preview.len();
    }

    fn answer_headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (_, record) in self.records().filter(|(f, _)| *f == Field::AnswerHeader) {
            let Some((name_len, rest)) = record.split_first_chunk::<2>() else {
                continue;
            };
            let (name, value) =
                rest.split_at(usize::from(u16::from_le_bytes(*name_len)).min(rest.len()));
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            map.append(name, value);
        }
        map
    }

    /// The records in the order they were written.
    fn records(&self) -> impl Iterator<Item = (Field, &[u8])> + '_ {
        let mut rest = &self.packed[..];
        std::iter::from_fn(move || {
            let (&tag, after) = rest.split_first()?;
            let (len, after) = after.split_first_chunk::<4>()?;
            let len = (u32::from_le_bytes(*len) as usize).min(after.len());
            let (bytes, after) = after.split_at(len);
            rest = after;
            let field = *Field::ALL.get(usize::from(tag))?;
            Some((field, bytes))
        })
    }

    /// The last record of `field`.
    fn record(&self, field: Field) -> Option<&[u8]> {
        self.records()
            .filter(|(f, _)| *f == field)
            .last()
            .map(|(_, bytes)| bytes)
    }

    fn text(&self, field: Field) -> Option<String> {
        self.record(field)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (_, record) in self.records().filter(|(f, _)| *f == Field::Header) {
            let Some((&sensitive, rest)) = record.split_first() else {
                continue;
            };
            let Some((name_len, rest)) = rest.split_first_chunk::<2>() else {
                continue;
            };
            let (name, value) =
                rest.split_at(usize::from(u16::from_le_bytes(*name_len)).min(rest.len()));
            // Copied from a valid name and value, so neither can fail; skipped if one ever did.
            let (Ok(name), Ok(mut value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            value.set_sensitive(sensitive != 0);
            map.append(name, value);
        }
        map
    }

    fn to_recorded(&self, base: &Uri) -> RecordedRequest {
        let body = self.body();
        RecordedRequest {
            seq: self.seq,
            received_at: self.received_at,
            client: self.client,
            method: self.method.clone(),
            url: request_uri(
                base,
                &String::from_utf8_lossy(self.record(Field::PathAndQuery).unwrap_or(b"/")),
            ),
            headers: self.headers(),
            body_size: self.body_size,
            body_sha256: match &self.body_sha256 {
                BodyDigest::OfBody => hex::encode(Sha256::digest(&body)),
                BodyDigest::Known(hex) => hex.clone(),
                BodyDigest::Unknown => String::new(),
            },
            body,
            vendor: self.vendor,
            operation: self.text(Field::Operation),
            target: self.text(Field::Target),
            status: self.status,
            fault: self.text(Field::Fault),
            error: self.text(Field::Error),
            duration: self.duration,
            answer_headers: self.answer_headers(),
            answer_body: self
                .record(Field::AnswerBody)
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
        }
    }
}

/// Appends one record of `field` made of `parts` to `packed`.
fn push_record(packed: &mut Vec<u8>, field: Field, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    packed.push(field as u8);
    packed.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    for part in parts {
        packed.extend_from_slice(part);
    }
}

/// What the journal knows of a body's sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyDigest {
    /// The whole body is in the entry: its digest is computed when read.
    OfBody,
    /// Computed as the body streamed by (a body longer than the prefix kept), in hex.
    Known(String),
    /// A body longer than the prefix, not hashed.
    Unknown,
}

/// The bounded request log of one server.
#[derive(Debug)]
pub(crate) struct Journal {
    inner: Mutex<JournalState>,
    /// The server's own URL, which recorded requests' URLs are built on.
    base: Uri,
    /// Maximum entries kept; at least 1.
    capacity: usize,
    /// Maximum body bytes kept per entry.
    body_limit: usize,
    /// Maximum body bytes kept over all entries.
    body_budget: usize,
    /// Whether bodies larger than `body_limit` are hashed too.
    digests: bool,
}

#[derive(Debug, Default)]
struct JournalState {
    /// Entries in arrival order; `seq` strictly increasing front to back.
    entries: VecDeque<Entry>,
    /// The body bytes the entries hold.
    body_bytes: usize,
    /// The `seq` the next request gets.
    next_seq: u64,
    /// When false, nothing new is recorded (for measuring the journal's own cost).
    disabled: bool,
}

impl Journal {
    pub(crate) fn new(base: Uri, capacity: usize, body_limit: usize, digests: bool) -> Self {
        Self::with_budget(base, capacity, body_limit, digests, BODY_BUDGET)
    }

    fn with_budget(
        base: Uri,
        capacity: usize,
        body_limit: usize,
        digests: bool,
        body_budget: usize,
    ) -> Self {
        Self {
            inner: Mutex::new(JournalState {
                next_seq: 1,
                ..Default::default()
            }),
            base,
            capacity: capacity.max(1),
            body_limit,
            body_budget,
            digests,
        }
    }

    /// The server's own URL.
    pub(crate) fn base(&self) -> &Uri {
        &self.base
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.body_limit
    }

    pub(crate) fn digests(&self) -> bool {
        self.digests
    }

    /// Records the arrival of a request; returns its `seq`, or `None` when recording is off.
    pub(crate) fn begin(&self, mut entry: Entry) -> Option<u64> {
        let mut state = self.lock();
        if state.disabled {
            return None;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        entry.seq = seq;
        if state.entries.len() == self.capacity {
            state.drop_oldest();
        } else if state.entries.len() == state.entries.capacity() {
            // Doubling, but never past the capacity: a full journal then writes each new entry
            // into the slot the oldest one just left, still in the cache, instead of cycling
            // through a larger ring.
            let more = state
                .entries
                .len()
                .max(4)
                .min(self.capacity - state.entries.len());
            state.entries.reserve_exact(more);
        }
        state.body_bytes += entry.body_len;
        state.entries.push_back(entry);
        Some(seq)
    }

    /// Completes the entry `seq` (a no-op if it has already fallen off the journal).
    pub(crate) fn complete(&self, seq: u64, update: impl FnOnce(&mut Entry)) {
        let mut state = self.lock();
        let Some(front) = state.entries.front().map(|e| e.seq) else {
            return;
        };
        if seq < front {
            return;
        }
        let index = (seq - front) as usize;
        let Some(entry) = state.entries.get_mut(index) else {
            return;
        };
        debug_assert_eq!(entry.seq, seq);
        let before = entry.body_len;
        update(entry);
        let after = entry.body_len;
        state.body_bytes = state.body_bytes - before + after;
        while state.body_bytes > self.body_budget && state.entries.len() > 1 {
            state.drop_oldest();
        }
    }

    /// The entry `seq`, when the journal still holds it.
    pub(crate) fn get(&self, seq: u64) -> Option<RecordedRequest> {
        let state = self.lock();
        let front = state.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(front)?).ok()?;
        state
            .entries
            .get(index)
            .filter(|entry| entry.seq == seq)
            .map(|entry| entry.to_recorded(&self.base))
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock()
            .entries
            .iter()
            .map(|entry| entry.to_recorded(&self.base))
            .collect()
    }

    pub(crate) fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.body_bytes = 0;
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.lock().disabled = !enabled;
    }

    /// Whether new requests are recorded.
    pub(crate) fn is_enabled(&self) -> bool {
        !self.lock().disabled
    }

    fn lock(&self) -> MutexGuard<'_, JournalState> {
        // Entries are replaced whole under the lock; a poisoned guard still holds a valid deque.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl JournalState {
    fn drop_oldest(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.body_bytes -= entry.body_len;
        }
    }
}

/// The absolute URL of a request addressed to `base` (`http://HOST:PORT`) with
/// `path_and_query` (origin form, as hyper parsed it), without parsing the scheme and host again
/// for every request. Anything else (`*` for OPTIONS, or what is not a valid path) gives the
/// server's own URL.
pub(crate) fn request_uri(base: &Uri, path_and_query: &str) -> Uri {
    if !path_and_query.starts_with('/') {
        return base.clone();
    }
    let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) else {
        return base.clone();
    };
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).unwrap_or_else(|_| base.clone())
}

/// Watches a request body go by: keeps a prefix and counts every byte. Only a body longer than
/// the prefix is hashed as it streams (when asked for); a shorter one is hashed when read.
///
/// A long body is hashed on the request's task until it passes [`BodyTap::POOL_AFTER`] bytes,
/// then on the blocking pool ([`PoolSha256`]): the task that reads the body would otherwise
/// spend as long hashing it as receiving it.
#[derive(Debug)]
pub(crate) struct BodyTap {
    /// At most `limit` bytes: the start of the body.
    prefix: Vec<u8>,
    limit: usize,
    /// Bytes seen so far.
    size: u64,
    /// Once the body outgrows the prefix (and digests are on): every byte so far, hashed.
    hasher: Option<Hashing>,
    /// Hash bodies longer than the prefix; otherwise only bodies that fit get a digest.
    digest_all: bool,
}

#[derive(Debug)]
enum Hashing {
    /// On the request's task.
    Here(Sha256),
    /// On the blocking pool.
    Pool(PoolSha256),
}

/// Room the body's reader must wait for before it goes on: how far the hashing may fall behind.
#[must_use]
pub(crate) struct Backlog {
    room: Arc<Semaphore>,
    bytes: u32,
}

impl Backlog {
    /// Waits until the hashing has room for the chunk just fed.
    pub(crate) async fn wait(self) {
        // Closed once the hashing is over (or gone): nothing to wait for.
        if let Ok(permit) = self.room.acquire_many(self.bytes).await {
            permit.forget();
        }
    }
}

impl BodyTap {
    /// Past this many body bytes, the hashing moves to the blocking pool: a thread hand-off per
    /// request is nothing next to hashing that much, and bodies shorter than that (almost every
    /// request) never pay it.
    pub(crate) const POOL_AFTER: u64 = 1024 * 1024;

    /// A tap keeping up to `limit` bytes of a body announced as `expected` bytes long (0 when
    /// unknown): the prefix is allocated once at its final size, so that the journal holds no
    /// spare capacity for as long as it keeps the entry.
    pub(crate) fn new(limit: usize, digest_all: bool, expected: u64) -> Self {
        let room = usize::try_from(expected).map_or(limit, |expected| expected.min(limit));
        Self {
            prefix: Vec::with_capacity(room),
            limit,
            size: 0,
            hasher: None,
            digest_all,
        }
    }

    /// Notes the body's next chunk. When the chunk went to the blocking pool to be hashed, the
    /// caller waits on the [`Backlog`] before it reads more, so that the hashing never falls
    /// more than [`PoolSha256::ROOM`] bytes behind the reading (and memory stays bounded).
    pub(crate) fn feed(&mut self, chunk: &Bytes) -> Option<Backlog> {
        let room = self.limit.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.size += chunk.len() as u64;
        match &mut self.hasher {
            Some(Hashing::Pool(pool)) => return Some(pool.update(chunk.clone())),
            Some(Hashing::Here(hasher)) => hasher.update(chunk),
            None if self.digest_all && self.size > self.limit as u64 => {
                // The body no longer fits: hash what went by (all of it is in the prefix, whose
                // last bytes are this chunk's first), then everything after.
                let mut hasher = Sha256::new();
                let before = self.prefix.len() - room.min(chunk.len());
                hasher.update(&self.prefix[..before]);
                hasher.update(chunk);
                self.hasher = Some(Hashing::Here(hasher));
            }
            None => {}
        }
        if self.size > Self::POOL_AFTER {
            if let Some(Hashing::Here(hasher)) = self.hasher.take() {
                self.hasher = Some(Hashing::Pool(PoolSha256::start(hasher)));
            }
        }
        None
    }

    /// The prefix, total size and digest of what has been seen so far; the prefix is handed
    /// over, not copied. A digest still being computed on the blocking pool is waited for
    /// with [`Summary::settle`], with no lock held.
    pub(crate) fn summary(&mut self) -> Summary {
        // Whatever is read after the answer is counted, never hashed.
        self.digest_all = false;
        let digest = match self.hasher.take() {
            Some(Hashing::Here(hasher)) => {
                Settling::Ready(BodyDigest::Known(hex::encode(hasher.finalize())))
            }
            Some(Hashing::Pool(pool)) => Settling::Pool(pool),
            None if self.size as usize <= self.limit => Settling::Ready(BodyDigest::OfBody),
            None => Settling::Ready(BodyDigest::Unknown),
        };
        Summary {
            prefix: Bytes::from(std::mem::take(&mut self.prefix)),
            size: self.size,
            digest,
        }
    }
}

/// What a [`BodyTap`] saw, its digest possibly still being computed.
pub(crate) struct Summary {
    prefix: Bytes,
    size: u64,
    digest: Settling,
}

enum Settling {
    Ready(BodyDigest),
    Pool(PoolSha256),
}

impl Summary {
    /// The prefix, total size and digest, once the digest is known.
    pub(crate) async fn settle(self) -> (Bytes, u64, BodyDigest) {
        let digest = match self.digest {
            Settling::Ready(digest) => digest,
            Settling::Pool(pool) => BodyDigest::Known(pool.finish().await),
        };
        (self.prefix, self.size, digest)
    }
}

/// A sha256 computed on the blocking pool from chunks handed over as refcounted [`Bytes`] (no
/// copy), in order, with at most [`PoolSha256::ROOM`] bytes waiting. No pool thread waits for a
/// body's next chunk: a task hashes what has gathered and returns, so that bodies arriving slowly
/// never tie up the blocking pool that other work (spilled writes, upload hashing) needs.
#[derive(Debug)]
struct PoolSha256 {
    shared: Arc<PoolShared>,
}

#[derive(Debug)]
struct PoolShared {
    state: Mutex<PoolState>,
    /// Bytes that may still be queued; the hashing gives them back as it goes.
    room: Arc<Semaphore>,
    /// Signalled once the digest is known.
    done: Notify,
}

#[derive(Debug)]
struct PoolState {
    /// Chunks not hashed yet, and their length.
    queue: VecDeque<Bytes>,
    queued: usize,
    /// `None` while a task on the pool is hashing.
    hasher: Option<Sha256>,
    /// No more chunks will come.
    closed: bool,
    /// The digest, once every chunk is hashed.
    hex: Option<String>,
}

impl PoolSha256 {
    /// How far the hashing may fall behind the body's reading. Room for a few write buffers of
    /// a spilled upload: with less, the reading, the hashing and the spill's writes wait on one
    /// another in turn on a small machine (with 4 MiB and batches of 256 KiB, a 1 GiB upload
    /// with `Retention::Spill` ran at 470–740 MiB/s; with these, at 700–830).
    const ROOM: u32 = 16 * 1024 * 1024;
    /// How many bytes gather before a task is started to hash them: enough that the hand-off
    /// is nothing next to the hashing. Well under [`PoolSha256::ROOM`], so a reader never waits
    /// for room that only an unstarted task would give back.
    const BATCH: usize = 1024 * 1024;

    /// Goes on hashing from `hasher`, on the blocking pool.
    fn start(hasher: Sha256) -> Self {
        Self {
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    queued: 0,
                    hasher: Some(hasher),
                    closed: false,
                    hex: None,
                }),
                room: Arc::new(Semaphore::new(Self::ROOM as usize)),
                done: Notify::new(),
            }),
        }
    }

    /// The room a chunk takes: its length, up to the whole room (a larger chunk waits until the
    /// queue is empty).
    fn charge(chunk: &Bytes) -> u32 {
        u32::try_from(chunk.len()).map_or(Self::ROOM, |len| len.min(Self::ROOM))
    }

    /// Queues `chunk`; the caller waits on the backlog before it reads on.
    fn update(&mut self, chunk: Bytes) -> Backlog {
        let bytes = Self::charge(&chunk);
        let mut state = self.shared.lock();
        state.queued += chunk.len();
        state.queue.push_back(chunk);
        if state.queued >= Self::BATCH {
            self.shared.kick(&mut state);
        }
        Backlog {
            room: self.shared.room.clone(),
            bytes,
        }
    }

    /// No more chunks: the digest, once the ones queued are hashed.
    async fn finish(self) -> String {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            if state.queue.is_empty() {
                if let Some(hasher) = state.hasher.take() {
                    state.hex = Some(hex::encode(hasher.finalize()));
                }
            } else {
                self.shared.kick(&mut state);
            }
        }
        loop {
            let notified = self.shared.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(hex) = &self.shared.lock().hex {
                return hex.clone();
            }
            notified.await;
        }
    }
}

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every critical section leaves the state whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a task hashing the queue, unless one is running.
    fn kick(self: &Arc<Self>, state: &mut PoolState) {
        if let Some(hasher) = state.hasher.take() {
            let shared = self.clone();
            tokio::task::spawn_blocking(move || shared.hash(hasher));
        }
    }

    /// On the pool: hashes the queue until it is empty, then leaves the hasher for the next
    /// task, or, once no more chunks will come, the digest.
    fn hash(&self, mut hasher: Sha256) {
        loop {
            let chunks = {
                let mut state = self.lock();
                if state.queue.is_empty() {
                    if state.closed {
                        state.hex = Some(hex::encode(hasher.finalize()));
                        drop(state);
                        self.room.close();
                        self.done.notify_waiters();
                    } else {
                        state.hasher = Some(hasher);
                    }
                    return;
                }
                state.queued = 0;
                std::mem::take(&mut state.queue)
            };
            for chunk in chunks {
                hasher.update(&chunk);
                self.room.add_permits(PoolSha256::charge(&chunk) as usize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &'static [u8]) -> Entry {
        let mut entry = Entry::arrived(
            OffsetDateTime::UNIX_EPOCH,
            None,
            Method::POST,
            "/",
            &HeaderMap::new(),
        );
        entry.set_body(
            Bytes::from_static(body),
            body.len() as u64,
            BodyDigest::OfBody,
        );
        entry
    }

    fn base() -> Uri {
        Uri::from_static("http://127.0.0.1:8484")
    }

    #[test]
    fn past_the_body_budget_the_oldest_entries_go() {
        let journal = Journal::with_budget(base(), 100, 8, false, 10);
        let first = journal.begin(entry(b"")).unwrap();
        let second = journal.begin(entry(b"")).unwrap();
        let third = journal.begin(entry(b"")).unwrap();

        journal.complete(first, |e| {
            e.set_body(Bytes::from_static(b"aaaa"), 4, BodyDigest::OfBody)
        });
        journal.complete(second, |e| {
            e.set_body(Bytes::from_static(b"bbbb"), 4, BodyDigest::OfBody)
        });
        journal.complete(third, |e| {
            e.set_body(Bytes::from_static(b"cccc"), 4, BodyDigest::OfBody)
        });

        let kept: Vec<u64> = journal.snapshot().iter().map(|e| e.seq).collect();
        assert_eq!(kept, vec![second, third]);
        assert_eq!(journal.lock().body_bytes, 8);
        journal.clear();
        assert_eq!(journal.lock().body_bytes, 0);
    }

    #[test]
    fn request_urls_are_the_server_url_with_the_path_and_query_as_sent() {
        let base = base();
        for path in [
            "/",
            "/upload-tokens",
            "/upload-tokens/to1a2B3c?x=1&y=%20z",
            "/a/../b/./c",
            "//api_v3//service/uploadtoken/action/get?format=1&ks=a+b",
            "/%7Efoo/a%2fb",
            "/x?",
            "/x?a=%zz&b=`",
            "/caf%C3%A9/a~b!$&'()*+,;=:@",
        ] {
            let url = request_uri(&base, path);
            assert_eq!(url.to_string(), format!("http://127.0.0.1:8484{path}"));
            assert_eq!(url.path_and_query().map(|pq| pq.as_str()), Some(path));
        }
        assert_eq!(request_uri(&base, "*"), base);
        // Not what hyper lets through; never a panic.
        assert_eq!(request_uri(&base, "/bad\x00path"), base);
        assert_eq!(request_uri(&base, "/x?b=<>"), base);
        assert_eq!(request_uri(&base, "/a`b"), base);
    }

    /// Feeds `body` to `tap` `split` bytes at a time, waiting for the hashing as the server
    /// does, and settles the summary.
    async fn tapped(mut tap: BodyTap, body: &[u8], split: usize) -> (Bytes, u64, BodyDigest) {
        for chunk in body.chunks(split) {
            if let Some(backlog) = tap.feed(&Bytes::copy_from_slice(chunk)) {
                backlog.wait().await;
            }
        }
        tap.summary().settle().await
    }

    #[tokio::test]
    async fn an_empty_body_has_the_digest_of_no_bytes() {
        for digest_all in [true, false] {
            let (_, size, digest) = tapped(BodyTap::new(16, digest_all, 0), b"", 1).await;
            assert_eq!(size, 0);
            assert_eq!(digest, BodyDigest::OfBody);
        }
        let journal_entry = entry(b"");
        let recorded = journal_entry.to_recorded(&base());
        assert_eq!(recorded.body_sha256, hex::encode(Sha256::digest(b"")));
    }

    #[tokio::test]
    async fn a_body_longer_than_the_prefix_is_hashed_whole_however_it_arrives() {
        let body: Vec<u8> = (0..100u8).collect();
        for (split, expected) in [(1, 0), (7, 100), (16, 0), (17, 100), (50, 0), (100, 100)] {
            let tap = BodyTap::new(16, true, expected);

            let (prefix, size, digest) = tapped(tap, &body, split).await;

            assert_eq!(&prefix[..], &body[..16], "split {split}");
            assert_eq!(size, 100);
            assert_eq!(
                digest,
                BodyDigest::Known(hex::encode(Sha256::digest(&body))),
                "split {split}"
            );
        }
        let undigested = tapped(BodyTap::new(16, false, 0), &body, 100).await;
        assert_eq!(undigested.2, BodyDigest::Unknown);
    }

    #[tokio::test]
    async fn a_body_hashed_on_the_blocking_pool_is_hashed_whole_in_order() {
        let len = BodyTap::POOL_AFTER as usize * 3 + PoolSha256::ROOM as usize + 12_345;
        let body: Vec<u8> = (0..len).map(|i| (i * 31 + i / 7919) as u8).collect();
        // Chunks smaller than the room, and one larger than all of it.
        for split in [65_536, 1_000_003, PoolSha256::ROOM as usize + 1] {
            let tap = BodyTap::new(1024, true, len as u64);

            let (prefix, size, digest) = tapped(tap, &body, split).await;

            assert_eq!(&prefix[..], &body[..1024], "split {split}");
            assert_eq!(size, len as u64);
            assert_eq!(
                digest,
                BodyDigest::Known(hex::encode(Sha256::digest(&body))),
                "split {split}"
            );
        }
    }

    #[test]
    fn a_body_waiting_for_its_next_chunk_holds_no_blocking_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tap = BodyTap::new(16, true, 0);
            let first = Bytes::from(vec![3u8; BodyTap::POOL_AFTER as usize + 1]);
            assert!(tap.feed(&first).is_none());
            let second = Bytes::from(vec![4u8; PoolSha256::BATCH]);
            tap.feed(&second).expect("hashed on the pool").wait().await;

            // The body is still open; other work gets the only blocking thread all the same.
            let other = tokio::task::spawn_blocking(|| 7);
            let answered = tokio::time::timeout(Duration::from_secs(60), other).await;

            assert_eq!(answered.ok().and_then(Result::ok), Some(7));
            let (_, size, digest) = tap.summary().settle().await;
            let body = [&first[..], &second[..]].concat();
            assert_eq!(size, body.len() as u64);
            assert_eq!(
                digest,
                BodyDigest::Known(hex::encode(Sha256::digest(&body)))
            );
        });
    }

    #[tokio::test]
    async fn only_a_body_past_the_threshold_is_handed_to_the_blocking_pool() {
        let mut tap = BodyTap::new(16, true, 0);
        let below = Bytes::from(vec![1u8; BodyTap::POOL_AFTER as usize]);

        assert!(tap.feed(&below).is_none());
        assert!(matches!(tap.hasher, Some(Hashing::Here(_))));
        assert!(tap.feed(&Bytes::from_static(b"x")).is_none());
        assert!(matches!(tap.hasher, Some(Hashing::Pool(_))));
        assert!(tap.feed(&Bytes::from_static(b"y")).is_some());
    }

    #[test]
    fn a_packed_entry_reads_back_as_recorded() {
        let mut headers = HeaderMap::new();
        headers.append("x-custom", HeaderValue::from_static("a\tb"));
        headers.append("host", HeaderValue::from_static("127.0.0.1:8484"));
        for (body, expected_long) in [(vec![7u8; 10], false), (vec![9u8; PACKED_BODY + 1], true)] {
            let mut entry = Entry::arrived(
                OffsetDateTime::UNIX_EPOCH,
                None,
                Method::PUT,
                "/videos/vi1?x=%20",
                &headers,
            );
            entry.set_fault("slow");
            entry.set_body(Bytes::from(body.clone()), 12_345, BodyDigest::Unknown);
            entry.set_answer(
                201,
                Some(Handled {
                    vendor: Vendor::named("one"),
                    operation: Some("updateVideo".into()),
                    target: Some(String::new()),
                }),
                Some(ErrorCode("not-found".into())),
                Duration::from_millis(3),
            );

            let recorded = entry.to_recorded(&base());

            assert_eq!(entry.long_body.is_some(), expected_long);
            assert_eq!(
                recorded.url.to_string(),
                "http://127.0.0.1:8484/videos/vi1?x=%20"
            );
            assert_eq!(recorded.method, Method::PUT);
            assert_eq!(recorded.headers, headers);
            assert_eq!(recorded.body, body);
            assert_eq!(recorded.body_size, 12_345);
            assert_eq!(recorded.body_sha256, "");
            assert_eq!(recorded.vendor, Some(Vendor::named("one")));
            assert_eq!(recorded.operation.as_deref(), Some("updateVideo"));
            assert_eq!(recorded.target.as_deref(), Some(""));
            assert_eq!(recorded.fault.as_deref(), Some("slow"));
            assert_eq!(recorded.error.as_deref(), Some("not-found"));
            assert_eq!(recorded.status, Some(201));
            assert_eq!(recorded.duration, Some(Duration::from_millis(3)));
        }
    }

    #[test]
    fn a_body_set_again_replaces_the_one_before() {
        let long = Bytes::from(vec![1u8; PACKED_BODY + 1]);
        let mut journal_entry = entry(b"first");

        journal_entry.set_body(long.clone(), long.len() as u64, BodyDigest::Unknown);
        assert_eq!(journal_entry.to_recorded(&base()).body, long);
        journal_entry.set_body(Bytes::from_static(b"last"), 4, BodyDigest::OfBody);

        let recorded = journal_entry.to_recorded(&base());
        assert_eq!(recorded.body, "last");
        assert_eq!(recorded.body_size, 4);
        assert_eq!(journal_entry.body_len, 4);
    }

    #[test]
    fn an_unanswered_entry_has_no_operation_target_or_fault() {
        let recorded = entry(b"").to_recorded(&base());

        assert_eq!(recorded.operation, None);
        assert_eq!(recorded.target, None);
        assert_eq!(recorded.fault, None);
        assert_eq!(recorded.status, None);
        assert!(recorded.body.is_empty());
    }

    #[test]
    fn recorded_headers_keep_every_value_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static(""));
        headers.append("content-type", HeaderValue::from_static("text/plain"));
        let mut secret = HeaderValue::from_static("Bearer t");
        secret.set_sensitive(true);
        headers.append("authorization", secret);

        let copy =
            Entry::arrived(OffsetDateTime::UNIX_EPOCH, None, Method::GET, "/", &headers).headers();

        assert_eq!(copy, headers);
        assert!(copy["authorization"].is_sensitive());
        let all: Vec<_> = copy.get_all("x-a").iter().collect();
        assert_eq!(all, ["1", ""]);
    }
}
