//! Every request vidmock answers, kept so tests can assert on what their client really sent.
//!
//! The journal is bounded (oldest entries fall off first) so a long-running binary or a soak test
//! keeps flat memory. Bodies are kept up to a limit; the size and the sha256 always cover the
//! whole body as it was read, so a 1 GiB upload is recorded as a prefix plus a digest, never as
//! a copy. Entries convert to [`wiremock::Request`] so any `wiremock::Match` can query them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, Method};
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

/// The bounded request log of one server.
#[derive(Debug)]
pub(crate) struct Journal {
    inner: Mutex<JournalState>,
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
    entries: VecDeque<RecordedRequest>,
    /// The body bytes the entries hold.
    body_bytes: usize,
    /// The `seq` the next request gets.
    next_seq: u64,
    /// When false, nothing new is recorded (for measuring the journal's own cost).
    disabled: bool,
}

impl Journal {
    pub(crate) fn new(capacity: usize, body_limit: usize, digests: bool) -> Self {
        Self::with_budget(capacity, body_limit, digests, BODY_BUDGET)
    }

    fn with_budget(capacity: usize, body_limit: usize, digests: bool, body_budget: usize) -> Self {
        Self {
            inner: Mutex::new(JournalState {
                next_seq: 1,
                ..Default::default()
            }),
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
    pub(crate) fn begin(&self, mut entry: RecordedRequest) -> Option<u64> {
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
    pub(crate) fn complete(&self, seq: u64, update: impl FnOnce(&mut RecordedRequest)) {
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
        self.lock().entries.iter().cloned().collect()
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

/// The sha256 of no bytes at all, in hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Watches a request body go by: keeps a prefix, counts and hashes every byte.
#[derive(Debug)]
pub(crate) struct BodyTap {
    /// At most `limit` bytes: the start of the body.
    prefix: Vec<u8>,
    limit: usize,
    /// Bytes seen so far.
    size: u64,
    hasher: Sha256,
    /// Hash every byte; otherwise only bodies that fit in the prefix get a digest.
    digest_all: bool,
}

impl BodyTap {
    pub(crate) fn new(limit: usize, digest_all: bool) -> Self {
        Self {
            prefix: Vec::new(),
            limit,
            size: 0,
            hasher: Sha256::new(),
            digest_all,
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let room = self.limit.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.size += chunk.len() as u64;
        if self.digest_all {
            self.hasher.update(chunk);
        }
    }

    /// The prefix, total size and hex digest of what has been seen so far.
    pub(crate) fn summary(&self) -> (Bytes, u64, String) {
        let digest = if self.size == 0 {
            EMPTY_SHA256.to_owned()
        } else if self.digest_all {
            hex::encode(self.hasher.clone().finalize())
        } else if self.size as usize <= self.limit {
            hex::encode(Sha256::digest(&self.prefix))
        } else {
            String::new()
        };
        (Bytes::copy_from_slice(&self.prefix), self.size, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &'static [u8]) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            received_at: OffsetDateTime::UNIX_EPOCH,
            client: None,
            method: Method::POST,
            url: url::Url::parse("http://127.0.0.1/").unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
            body_size: body.len() as u64,
            body_sha256: String::new(),
            vendor: None,
            operation: None,
            target: None,
            status: None,
            fault: None,
            duration: None,
        }
    }

    #[test]
    fn past_the_body_budget_the_oldest_entries_go() {
        let journal = Journal::with_budget(100, 8, false, 10);
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
            let (_, size, sha256) = BodyTap::new(16, digest_all).summary();
            assert_eq!(size, 0);
            assert_eq!(sha256, hex::encode(Sha256::digest(b"")));
        }
    }
}
