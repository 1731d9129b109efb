//! Every request vidmock answers, kept so tests can assert on what their client really sent.
//!
//! The journal is bounded (oldest entries fall off first) so a long-running binary or a soak test
//! keeps flat memory. Bodies are kept up to a limit; the size and the sha256 always cover the
//! whole body as it was read, so a 1 GiB upload is recorded as a prefix plus a digest, never as
//! a copy. Entries convert to [`wiremock::Request`] so any `wiremock::Match` can query them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Which emulated API answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// api.video (`/auth`, `/upload-tokens`, `/upload`, `/videos`).
    #[serde(rename = "apivideo")]
    ApiVideo,
    /// Kaltura API v3 (`/api_v3`).
    Kaltura,
}

impl Vendor {
    /// The vendor's name as the admin API and the journal print it.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::Vendor::ApiVideo.as_str(), "apivideo");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::ApiVideo => "apivideo",
            Vendor::Kaltura => "kaltura",
        }
    }
}

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
    /// The full URL as the client addressed this server.
    pub url: url::Url,
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
    /// Time from arrival to the response head.
    pub duration: Option<Duration>,
}

impl RecordedRequest {
    /// The recorded request as wiremock sees one, so `wiremock::Match` implementations apply.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use wiremock::Match;
    /// let server = vidmock::MockServer::start().await;
    /// let _ = reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
    /// let request = server.received_requests()[0].to_wiremock();
    /// assert!(wiremock::matchers::path("/upload-tokens").matches(&request));
    /// # }
    /// ```
    pub fn to_wiremock(&self) -> wiremock::Request {
        wiremock::Request {
            url: self.url.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.to_vec(),
        }
    }
}

impl From<&RecordedRequest> for wiremock::Request {
    fn from(recorded: &RecordedRequest) -> Self {
        recorded.to_wiremock()
    }
}

/// The default number of requests kept.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// The default number of body bytes kept per request.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The most body bytes the whole journal keeps: past it the oldest entries go, so that a
/// journal full of uploads (each with a body prefix) stays small however many it holds.
pub const BODY_BUDGET: usize = 64 * 1024 * 1024;

/// A request as the journal keeps it: what arrived, as received, in as few allocations as
/// possible. Recording happens on every request while reading happens when a test asks, so the
/// URL, the header map and the digest of a small body are built only by [`Journal::snapshot`].
#[derive(Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub received_at: OffsetDateTime,
    pub client: Option<std::net::SocketAddr>,
    pub method: Method,
    /// Path and query in origin form, as the client sent them.
    pub path_and_query: Box<str>,
    pub headers: Headers,
    pub body: Bytes,
    pub body_size: u64,
    pub body_sha256: BodyDigest,
    pub vendor: Option<Vendor>,
    pub operation: Option<String>,
    pub target: Option<String>,
    pub status: Option<u16>,
    pub fault: Option<String>,
    pub duration: Option<Duration>,
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
        Self {
            seq: 0,
            received_at,
            client,
            method,
            path_and_query: path_and_query.into(),
            headers: Headers::copy(headers),
            body: Bytes::new(),
            body_size: 0,
            body_sha256: BodyDigest::OfBody,
            vendor: None,
            operation: None,
            target: None,
            status: None,
            fault: None,
            duration: None,
        }
    }

    fn to_recorded(&self, base: &url::Url) -> RecordedRequest {
        RecordedRequest {
            seq: self.seq,
            received_at: self.received_at,
            client: self.client,
            method: self.method.clone(),
            url: request_url(base, &self.path_and_query),
            headers: self.headers.to_map(),
            body: self.body.clone(),
            body_size: self.body_size,
            body_sha256: match &self.body_sha256 {
                BodyDigest::OfBody => hex::encode(Sha256::digest(&self.body)),
                BodyDigest::Known(hex) => hex.clone(),
                BodyDigest::Unknown => String::new(),
            },
            vendor: self.vendor,
            operation: self.operation.clone(),
            target: self.target.clone(),
            status: self.status,
            fault: self.fault.clone(),
            duration: self.duration,
        }
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

/// Request headers copied out of hyper's read buffer into one buffer of their own (hyper's
/// values share the connection's buffer, which an upload grows large; keeping them would keep
/// it alive as long as the entry). Two allocations however many headers there are.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    /// Each header's name, where its value ends in `values`, and whether it is sensitive.
    names: Vec<(HeaderName, u32, bool)>,
    values: Bytes,
}

impl Headers {
    fn copy(headers: &HeaderMap) -> Self {
        let mut names = Vec::with_capacity(headers.len());
        let mut values = Vec::with_capacity(headers.iter().map(|(_, v)| v.len()).sum());
        for (name, value) in headers {
            values.extend_from_slice(value.as_bytes());
            let end = u32::try_from(values.len()).unwrap_or(u32::MAX);
            names.push((name.clone(), end, value.is_sensitive()));
        }
        Self {
            names,
            values: Bytes::from(values),
        }
    }

    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.names.len());
        let mut start = 0usize;
        for (name, end, sensitive) in &self.names {
            let end = (*end as usize).min(self.values.len());
            let bytes = self.values.slice(start.min(end)..end);
            start = end;
            // Copied from a valid value, so this cannot fail; an empty value if it ever did.
            let mut value = HeaderValue::from_maybe_shared(bytes)
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            value.set_sensitive(*sensitive);
            map.append(name.clone(), value);
        }
        map
    }
}

/// The bounded request log of one server.
#[derive(Debug)]
pub(crate) struct Journal {
    inner: Mutex<JournalState>,
    /// The server's own URL, which recorded requests' URLs are built on.
    base: url::Url,
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
    pub(crate) fn new(base: url::Url, capacity: usize, body_limit: usize, digests: bool) -> Self {
        Self::with_budget(base, capacity, body_limit, digests, BODY_BUDGET)
    }

    fn with_budget(
        base: url::Url,
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
        }
        state.body_bytes += entry.body.len();
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
        let before = entry.body.len();
        update(entry);
        let after = entry.body.len();
        state.body_bytes = state.body_bytes - before + after;
        while state.body_bytes > self.body_budget && state.entries.len() > 1 {
            state.drop_oldest();
        }
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
            self.body_bytes -= entry.body.len();
        }
    }
}

/// The URL a request addressed to `base` (`http://HOST:PORT`) with `path_and_query` (origin
/// form, as hyper parsed it) has: what `Url::parse` gives for the concatenation, without parsing
/// the scheme and host again for every request.
pub(crate) fn request_url(base: &url::Url, path_and_query: &str) -> url::Url {
    if !path_and_query.starts_with('/') {
        // `*` (OPTIONS) and other forms without a path: the server's own URL.
        return base.clone();
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(query);
    url
}

/// Watches a request body go by: keeps a prefix and counts every byte. Only a body longer than
/// the prefix is hashed as it streams (when asked for); a shorter one is hashed when read.
#[derive(Debug)]
pub(crate) struct BodyTap {
    /// At most `limit` bytes: the start of the body.
    prefix: Vec<u8>,
    limit: usize,
    /// Bytes seen so far.
    size: u64,
    /// Once the body outgrows the prefix (and digests are on): every byte so far, hashed.
    hasher: Option<Sha256>,
    /// Hash bodies longer than the prefix; otherwise only bodies that fit get a digest.
    digest_all: bool,
}

impl BodyTap {
    pub(crate) fn new(limit: usize, digest_all: bool) -> Self {
        Self {
            prefix: Vec::new(),
            limit,
            size: 0,
            hasher: None,
            digest_all,
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let room = self.limit.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.size += chunk.len() as u64;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(chunk);
        } else if self.digest_all && self.size > self.limit as u64 {
            // The body no longer fits: hash what went by (all of it is in the prefix, whose
            // last bytes are this chunk's first), then everything after.
            let mut hasher = Sha256::new();
            let before = self.prefix.len() - room.min(chunk.len());
            hasher.update(&self.prefix[..before]);
            hasher.update(chunk);
            self.hasher = Some(hasher);
        }
    }

    /// The prefix, total size and digest of what has been seen so far; the prefix is handed
    /// over, not copied.
    pub(crate) fn summary(&mut self) -> (Bytes, u64, BodyDigest) {
        let digest = match &self.hasher {
            Some(hasher) => BodyDigest::Known(hex::encode(hasher.clone().finalize())),
            None if self.size as usize <= self.limit => BodyDigest::OfBody,
            None => BodyDigest::Unknown,
        };
        (
            Bytes::from(std::mem::take(&mut self.prefix)),
            self.size,
            digest,
        )
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
        entry.body = Bytes::from_static(body);
        entry.body_size = body.len() as u64;
        entry
    }

    fn base() -> url::Url {
        url::Url::parse("http://127.0.0.1:8484").unwrap()
    }

    #[test]
    fn past_the_body_budget_the_oldest_entries_go() {
        let journal = Journal::with_budget(base(), 100, 8, false, 10);
        let first = journal.begin(entry(b"")).unwrap();
        let second = journal.begin(entry(b"")).unwrap();
        let third = journal.begin(entry(b"")).unwrap();

        journal.complete(first, |e| e.body = Bytes::from_static(b"aaaa"));
        journal.complete(second, |e| e.body = Bytes::from_static(b"bbbb"));
        journal.complete(third, |e| e.body = Bytes::from_static(b"cccc"));

        let kept: Vec<u64> = journal.snapshot().iter().map(|e| e.seq).collect();
        assert_eq!(kept, vec![second, third]);
        assert_eq!(journal.lock().body_bytes, 8);
        journal.clear();
        assert_eq!(journal.lock().body_bytes, 0);
    }

    #[test]
    fn request_urls_are_what_parsing_the_whole_url_gives() {
        let base = url::Url::parse("http://127.0.0.1:8484").unwrap();
        for path in [
            "/",
            "/upload-tokens",
            "/upload-tokens/to1a2B3c?x=1&y=%20z",
            "/a/../b/./c",
            "//api_v3//service/uploadtoken/action/get?format=1&ks=a+b",
            "/%7Efoo/a%2fb",
            "/x?",
            "/x?a=%zz&b=<>\"",
            "/caf%C3%A9/{id}|^`",
        ] {
            let parsed = url::Url::parse(&format!("http://127.0.0.1:8484{path}")).unwrap();
            assert_eq!(request_url(&base, path), parsed, "{path}");
        }
        assert_eq!(request_url(&base, "*"), base);
    }

    #[test]
    fn an_empty_body_has_the_digest_of_no_bytes() {
        for digest_all in [true, false] {
            let (_, size, digest) = BodyTap::new(16, digest_all).summary();
            assert_eq!(size, 0);
            assert_eq!(digest, BodyDigest::OfBody);
        }
        let mut journal_entry = entry(b"");
        journal_entry.body_sha256 = BodyDigest::OfBody;
        let recorded = journal_entry.to_recorded(&base());
        assert_eq!(recorded.body_sha256, hex::encode(Sha256::digest(b"")));
    }

    #[test]
    fn a_body_longer_than_the_prefix_is_hashed_whole_however_it_arrives() {
        let body: Vec<u8> = (0..100u8).collect();
        for split in [1, 7, 16, 17, 50, 100] {
            let mut tap = BodyTap::new(16, true);
            for chunk in body.chunks(split) {
                tap.feed(chunk);
            }
            let (prefix, size, digest) = tap.summary();
            assert_eq!(&prefix[..], &body[..16], "split {split}");
            assert_eq!(size, 100);
            assert_eq!(
                digest,
                BodyDigest::Known(hex::encode(Sha256::digest(&body))),
                "split {split}"
            );
        }
        let mut undigested = BodyTap::new(16, false);
        undigested.feed(&body);
        assert_eq!(undigested.summary().2, BodyDigest::Unknown);
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

        let copy = Headers::copy(&headers).to_map();

        assert_eq!(copy, headers);
        assert!(copy["authorization"].is_sensitive());
        let all: Vec<_> = copy.get_all("x-a").iter().collect();
        assert_eq!(all, ["1", ""]);
    }
}
