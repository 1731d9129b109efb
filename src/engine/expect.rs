//! Expectations: "this test must send N requests like this", checked when the server drops.
//!
//! Counting happens as requests arrive (so a bounded journal cannot lose a match), checking
//! happens synchronously in `Drop` or [`crate::MockServer::verify`], with no async work and no
//! lock shared with request handling held for long, so thousands of servers can drop at once.
//! Failure messages speak the vendor's terms: operation, target, Content-Range or resumeAt,
//! status answered.

use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::journal::{Journal, RecordedRequest};

/// How many matching requests an expectation wants.
///
/// # Example
///
/// ```
/// use vidmock::Times;
/// let exactly: Times = 3.into();
/// let at_least: Times = (2..).into();
/// let between: Times = (1..=4).into();
/// assert!(between.contains(4) && !at_least.contains(1) && exactly.contains(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    min: u64,
    max: Option<u64>,
}

impl Times {
    /// Whether `n` requests satisfy this.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(vidmock::Times::from(..3).contains(2));
    /// ```
    pub fn contains(&self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }

    fn from_bounds(range: impl RangeBounds<u64>) -> Self {
        let min = match range.start_bound() {
            Bound::Included(n) => *n,
            Bound::Excluded(n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let max = match range.end_bound() {
            Bound::Included(n) => Some(*n),
            Bound::Excluded(n) => Some(n.saturating_sub(1)),
            Bound::Unbounded => None,
        };
        Self { min, max }
    }
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "exactly {max}"),
            Some(max) => write!(f, "between {} and {max}", self.min),
            None => write!(f, "at least {}", self.min),
        }
    }
}

impl From<u64> for Times {
    fn from(n: u64) -> Self {
        Self {
            min: n,
            max: Some(n),
        }
    }
}

macro_rules! times_from_range {
    ($($range:ty),*) => {$(
        impl From<$range> for Times {
            fn from(range: $range) -> Self {
                Self::from_bounds(range)
            }
        }
    )*};
}
times_from_range!(
    std::ops::Range<u64>,
    std::ops::RangeFrom<u64>,
    std::ops::RangeInclusive<u64>,
    std::ops::RangeTo<u64>,
    std::ops::RangeToInclusive<u64>
);

struct Expectation {
    name: Option<String>,
    matcher: Box<dyn crate::Match>,
    times: Times,
    /// Journal sequence numbers of the matching requests, in arrival order.
    matched: Vec<u64>,
}

/// The expectations of one server, plus strict-mode violations.
#[derive(Default)]
pub(crate) struct Expectations {
    list: Mutex<Vec<Expectation>>,
    /// Strict mode: requests answered as unrecognized.
    strict: bool,
    violations: Mutex<Vec<u64>>,
}

impl std::fmt::Debug for Expectations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectations")
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl Expectations {
    pub(crate) fn new(strict: bool) -> Self {
        Self {
            strict,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Expectation>> {
        // Entries are pushed whole; counting is a push; both leave the list valid on panic.
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_idle(&self) -> bool {
        !self.strict && self.lock().is_empty()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Counts a request against every expectation it matches.
    pub(crate) fn observe(&self, seq: u64, request: &crate::Request) {
        for expectation in self.lock().iter_mut() {
            if expectation.matcher.matches(request) {
                expectation.matched.push(seq);
            }
        }
    }

    /// Notes a request the vendor could not route (strict mode only).
    pub(crate) fn unrecognized(&self, seq: u64) {
        if self.strict {
            self.violations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(seq);
        }
    }

    /// Every unmet expectation and strict-mode violation, described; empty when all is well.
    /// `chunk_of` says, in its vendor's terms, which part of an upload a request carried.
    pub(crate) fn failures(
        &self,
        journal: &Journal,
        chunk_of: &dyn Fn(&RecordedRequest) -> Option<String>,
    ) -> Vec<String> {
        // Checked on every server's drop: when all is well, the journal is not copied at all.
        let unmet = self
            .lock()
            .iter()
            .any(|e| !e.times.contains(e.matched.len() as u64));
        let violated = !self
            .violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if !unmet && !violated {
            return Vec::new();
        }
        let recorded = journal.snapshot();
        let describe = |request: &RecordedRequest| describe(request, chunk_of(request));
        let find = |seq: u64| recorded.iter().find(|r| r.seq == seq);
        let mut failures = Vec::new();
        for expectation in self.lock().iter() {
            let count = expectation.matched.len() as u64;
            if expectation.times.contains(count) {
                continue;
            }
            let name = expectation.name.as_deref().map_or_else(
                || "an unnamed expectation".to_owned(),
                |n| format!("expectation `{n}`"),
            );
            let mut message = format!(
                "{name} was not met: expected {} matching requests, received {count}.",
                expectation.times
            );
            if !expectation.matched.is_empty() {
                message.push_str("\n  matching requests:");
                for seq in &expectation.matched {
                    message.push_str("\n    ");
                    message.push_str(
                        &find(*seq)
                            .map_or_else(|| format!("#{seq} (no longer in the journal)"), describe),
                    );
                }
            }
            let misses: Vec<&RecordedRequest> = recorded
                .iter()
                .filter(|r| !expectation.matched.contains(&r.seq))
                .collect();
            if !misses.is_empty() {
                message.push_str("\n  other requests received (near misses):");
                for request in misses.iter().rev().take(5).rev() {
                    message.push_str("\n    ");
                    message.push_str(&describe(request));
                }
            }
            failures.push(message);
        }
        for seq in self
            .violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            failures.push(format!(
                "strict mode: a request was answered as unrecognized: {}",
                find(*seq).map_or_else(|| format!("#{seq}"), describe)
            ));
        }
        failures
    }
}

/// One request in vendor terms: `#3 POST /upload?token=… uploadWithUploadToken → vi… Content-Range: part 1/3 → 201`,
/// where `chunk` is the part of an upload it carried, as its vendor says it.
pub(crate) fn describe(request: &RecordedRequest, chunk: Option<String>) -> String {
    let mut line = format!("#{} {} {}", request.seq, request.method, request.url.path());
    if let Some(query) = request.url.query() {
        line.push('?');
        line.push_str(query);
    }
    line.push_str(&format!(
        " ({})",
        request.operation.as_deref().unwrap_or("unrecognized")
    ));
    if let Some(target) = &request.target {
        line.push_str(&format!(" to {target}"));
    }
    if let Some(chunk) = chunk {
        line.push(' ');
        line.push_str(&chunk);
    }
    match request.status {
        Some(status) => line.push_str(&format!(" -> {status}")),
        None => line.push_str(" -> no answer"),
    }
    if let Some(fault) = &request.fault {
        line.push_str(&format!(" [fault: {fault}]"));
    }
    line
}

/// Sets how many matching requests an expectation wants, and its name. The expectation is
/// registered when [`crate::MockServer::expect`] is called; this only refines it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.expect(vidmock::apivideo::op("createToken")).times(0).named("no tokens");
/// server.verify();
/// # }
/// ```
pub struct ExpectationBuilder {
    expectations: Arc<Expectations>,
    index: usize,
}

impl ExpectationBuilder {
    pub(crate) fn register(
        expectations: &Arc<Expectations>,
        matcher: Box<dyn crate::Match>,
    ) -> Self {
        let mut list = expectations.lock();
        list.push(Expectation {
            name: None,
            matcher,
            times: (1..).into(),
            matched: Vec::new(),
        });
        Self {
            expectations: expectations.clone(),
            index: list.len() - 1,
        }
    }

    /// How many matching requests are expected: `3`, `2..`, `1..=4`, `..5` (default `1..`).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.expect(vidmock::matchers::any()).times(0..=1);
    /// # }
    /// ```
    pub fn times(self, times: impl Into<Times>) -> Self {
        if let Some(e) = self.expectations.lock().get_mut(self.index) {
            e.times = times.into();
        }
        self
    }

    /// Names the expectation in failure messages.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = vidmock::MockServer::start().await;
    /// server.expect(vidmock::matchers::any()).times(0).named("quiet");
    /// # }
    /// ```
    pub fn named(self, name: impl Into<String>) -> Self {
        if let Some(e) = self.expectations.lock().get_mut(self.index) {
            e.name = Some(name.into());
        }
        self
    }
}
