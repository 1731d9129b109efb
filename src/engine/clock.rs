//! The one source of "now" for every expiry in vidmock.
//!
//! Tokens, access tokens, sessions and rate-limit windows all expire by reading this clock, so a
//! test can move time forward instead of sleeping. The clock is real time plus an offset, or a
//! frozen instant; it never goes backwards on its own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

/// The date a document's object gets when it leaves one out (the Unix epoch), until whoever
/// reads the document gives it a real one (a seed's objects are dated at the server's start).
pub(crate) fn unset() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

/// Whether `at` is [`unset`].
pub(crate) fn is_unset(at: OffsetDateTime) -> bool {
    at == OffsetDateTime::UNIX_EPOCH
}

/// A shared, adjustable clock.
///
/// Cloning a `Clock` gives another handle to the same clock: advancing one advances all.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vidmock::Clock;
///
/// let clock = Clock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert!(clock.now() - before >= time::Duration::hours(1));
/// assert_eq!(clock.offset(), Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock {
    inner: Arc<Mutex<ClockState>>,
    /// Woken on every advance, so that what is scheduled on the clock (outbound deliveries)
    /// falls due at once instead of when real time catches up.
    advanced: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct ClockState {
    /// Added to the wall clock; only ever grows through `advance`.
    offset: Duration,
    /// When set, `now()` answers this instant (plus later advances) instead of the wall clock.
    frozen_at: Option<OffsetDateTime>,
}

impl Clock {
    /// A clock that follows real time.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// assert_eq!(clock.offset(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The current instant, in UTC, as every vendor module sees it.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// assert_eq!(clock.now().offset(), time::UtcOffset::UTC);
    /// ```
    pub fn now(&self) -> OffsetDateTime {
        let state = self.lock();
        match state.frozen_at {
            Some(at) => at,
            None => OffsetDateTime::now_utc() + state.offset,
        }
    }

    /// Moves the clock forward by `by`. Whatever expires in that span is expired afterwards.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = vidmock::Clock::new();
    /// clock.freeze();
    /// let t0 = clock.now();
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!((clock.now() - t0).whole_seconds(), 61);
    /// ```
    pub fn advance(&self, by: Duration) {
        {
            let mut state = self.lock();
            state.offset += by;
            if let Some(at) = state.frozen_at.as_mut() {
                *at += by;
            }
        }
        self.advanced.notify_waiters();
    }

    /// Completes at the next [`Clock::advance`] (create it, then read the clock, to miss none).
    pub(crate) fn advanced(&self) -> tokio::sync::futures::Notified<'_> {
        self.advanced.notified()
    }

    /// Stops the clock at the current instant; only [`Clock::advance`] moves it after that.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// clock.freeze();
    /// let t0 = clock.now();
    /// std::thread::sleep(std::time::Duration::from_millis(5));
    /// assert_eq!(clock.now(), t0);
    /// ```
    pub fn freeze(&self) {
        let mut state = self.lock();
        if state.frozen_at.is_none() {
            state.frozen_at = Some(OffsetDateTime::now_utc() + state.offset);
        }
    }

    /// Lets a frozen clock follow real time again, keeping the total offset advanced so far.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// clock.freeze();
    /// clock.unfreeze();
    /// assert!(!clock.is_frozen());
    /// ```
    pub fn unfreeze(&self) {
        self.lock().frozen_at = None;
    }

    /// Whether the clock is frozen.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// assert!(!clock.is_frozen());
    /// ```
    pub fn is_frozen(&self) -> bool {
        self.lock().frozen_at.is_some()
    }

    /// How far the clock has been advanced in total.
    ///
    /// # Example
    ///
    /// ```
    /// let clock = vidmock::Clock::new();
    /// clock.advance(std::time::Duration::from_secs(5));
    /// assert_eq!(clock.offset().as_secs(), 5);
    /// ```
    pub fn offset(&self) -> Duration {
        self.lock().offset
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        // The state is two plain values, always consistent: a panic elsewhere cannot poison it
        // into an invalid state, so recovering the guard is sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// When a store of expiring records is next due to forget the expired ones: once what it keeps
/// has doubled since the last sweep. A sweep scans every record, so sweeping that seldom costs a
/// constant per record added, and a store fed records that all expire in the end never holds
/// more than twice what is still alive (or [`SweepSchedule::FLOOR`]).
#[derive(Debug, Default)]
pub(crate) struct SweepSchedule {
    next: usize,
}

impl SweepSchedule {
    /// Fewest records kept before a sweep is worth its scan.
    pub(crate) const FLOOR: usize = 1024;

    /// Whether a store keeping `kept` records is to sweep before adding one more.
    pub(crate) fn due(&self, kept: usize) -> bool {
        kept >= self.next
    }

    /// Notes a sweep that left `left` records.
    pub(crate) fn swept(&mut self, left: usize) {
        self.next = (2 * left).max(Self::FLOOR);
    }
}
