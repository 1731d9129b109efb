//! Shedding connections that hold a socket without using it.
//!
//! A connection costs a file descriptor for as long as it is open, and a process has a fixed
//! number of them. A client that opens a connection and sends nothing, or half a request head,
//! or stops halfway through a body, would otherwise keep its descriptor for ever, and enough
//! such clients (a port scanner, a crashed test, a hostile page) leave the server unable to
//! accept anyone. So each connection has a watchdog that closes it when it stalls, and when the
//! process is out of descriptors anyway the accept loop closes the connections that have no
//! request in progress, the longest-quiet first, to make room (as nginx reuses its keep-alive
//! connections when it runs out).
//!
//! Every limit here is in real time (tokio's timers), never on the server's clock: tests move
//! that clock to expire tokens, and moving it must not cut connections.
//!
//! hyper's own `header_read_timeout` is not used: its timer also runs while a keep-alive
//! connection waits for its next request, so it cannot tell a slow head from an idle
//! connection, and it does not see the bytes read before hyper-util's HTTP/1-or-2 detection
//! has handed the connection over, or HTTP/2 at all. A request in progress (a handler working,
//! a scripted hang or delay, a dribbled answer still going out) is never cut by these limits:
//! only a request body that stops arriving is, by [`Timeouts::body_stall`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

/// How long a connection may take over each thing it does before it is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// From the first byte of a request head to its last (`None`: no limit).
    pub header_read: Option<Duration>,
    /// With no request in progress and no byte of the next one arrived (`None`: no limit).
    pub idle: Option<Duration>,
    /// Between two pieces of a request body the handler is waiting for (`None`: no limit).
    pub body_stall: Option<Duration>,
}

/// 30 s for a head, as hyper's default: a real client sends its head in one go.
pub(crate) const HEADER_READ: Duration = Duration::from_secs(30);
/// 120 s: longer than the 90 s after which hyper's and reqwest's pools drop an idle
/// connection, so those clients close first and never reuse a connection being closed.
pub(crate) const IDLE: Duration = Duration::from_secs(120);
/// 60 s without a byte of a body that a handler is waiting for.
pub(crate) const BODY_STALL: Duration = Duration::from_secs(60);

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Some(HEADER_READ),
            idle: Some(IDLE),
            body_stall: Some(BODY_STALL),
        }
    }
}

/// `first_byte` when no byte of a request has arrived since the connection went quiet.
const NONE: u64 = u64::MAX;

/// What one connection is doing, as far as its watchdog and the accept loop need to know.
/// Written by the connection's socket and service, read by its watchdog; all lock-free, since
/// the socket updates it on every read.
#[derive(Debug)]
pub(crate) struct Activity {
    /// The instant the times below count from.
    started: Instant,
    /// Requests received whose answer has not been sent whole, or dropped.
    busy: AtomicUsize,
    /// Nanoseconds after `started` when `busy` last became 0 (or the connection opened).
    quiet_since: AtomicU64,
    /// Nanoseconds after `started` of the first byte read while `busy` was 0; [`NONE`] if none.
    first_byte: AtomicU64,
    /// Set by the accept loop when the process is short of descriptors: close now.
    shed: AtomicBool,
    /// The connection task, woken when another task changes what its watchdog waits for.
    waker: AtomicWaker,
}

impl Activity {
    /// A connection opened now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            busy: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            first_byte: AtomicU64::new(NONE),
            shed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(NONE - 1)
    }

    /// The socket read some bytes: with no request in progress, a head has begun.
    pub(crate) fn read(&self) {
        if self.busy.load(Ordering::Acquire) == 0 && self.first_byte.load(Ordering::Acquire) == NONE
        {
            let _ = self.first_byte.compare_exchange(
                NONE,
                self.now(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// A request arrived; it is in progress until the guard (moved into its answer) drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// When the watchdog closes the connection, in nanoseconds after `started`: `None` while
    /// a request is in progress or when no limit applies.
    fn deadline(&self, timeouts: &Timeouts) -> Option<u64> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let (from, limit) = match self.first_byte.load(Ordering::Acquire) {
            NONE => (self.quiet_since.load(Ordering::Acquire), timeouts.idle?),
            first => (first, timeouts.header_read?),
        };
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(NONE - 1);
        Some(from.saturating_add(limit))
    }

    /// Asks the connection to close at once.
    fn shed(&self) {
        self.shed.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A request in progress on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.first_byte.store(NONE, Ordering::Release);
            activity
                .quiet_since
                .store(activity.now(), Ordering::Release);
            // The answer may have been dropped on another task (HTTP/2 streams run apart).
            activity.waker.wake();
        }
    }
}

/// Resolves when its connection should close: stalled past a [`Timeouts`] limit, or shed.
/// Polled by the connection task beside the connection itself, so it sees every change that
/// task makes (a byte read, an answer sent) on the same poll; other tasks wake it.
pub(crate) struct Watchdog {
    activity: Arc<Activity>,
    timeouts: Timeouts,
    /// Armed for `armed_for` (nanoseconds after `started`); allocated on first need.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed_for: u64,
}

impl Watchdog {
    pub(crate) fn new(activity: Arc<Activity>, timeouts: Timeouts) -> Self {
        Self {
            activity,
            timeouts,
            timer: None,
            armed_for: NONE,
        }
    }

    /// What the connection's socket and service report to.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// The limits it enforces (the body-stall one is the request bodies' own).
    pub(crate) fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }
}

impl Future for Watchdog {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.activity.waker.register(cx.waker());
        if this.activity.shed.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let Some(deadline) = this.activity.deadline(&this.timeouts) else {
            return Poll::Pending;
        };
        let at = this.activity.started + Duration::from_nanos(deadline);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
        if this.armed_for != deadline {
            timer.as_mut().reset(at.into());
            this.armed_for = deadline;
        }
        timer.as_mut().poll(cx)
    }
}

/// Every open connection of one server, so that the accept loop can shed some.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    /// Keyed by a number given at registration; an entry leaves when its connection ends.
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next: AtomicU64,
}

impl Connections {
    /// Counts `activity` among the open connections until the returned guard drops.
    pub(crate) fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registered {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, activity);
        Registered {
            connections: self.clone(),
            key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes up to `most` connections with no request in progress, those quiet the longest
    /// first; how many it asked to close.
    pub(crate) fn shed_idle(&self, most: usize) -> usize {
        let mut idle: Vec<(u64, Arc<Activity>)> = self
            .lock()
            .values()
            .filter(|a| a.busy.load(Ordering::Acquire) == 0 && !a.shed.load(Ordering::Acquire))
            .map(|a| {
                // Quiet since, on one time line for every connection.
                let since = a.started + Duration::from_nanos(a.quiet_since.load(Ordering::Acquire));
                let age = u64::try_from(since.elapsed().as_nanos()).unwrap_or(NONE);
                (age, a.clone())
            })
            .collect();
        idle.sort_unstable_by_key(|(age, _)| std::cmp::Reverse(*age));
        idle.truncate(most);
        for (_, activity) in &idle {
            activity.shed();
        }
        idle.len()
    }
}

/// A connection counted in [`Connections`]; dropping it (the connection ended) removes it.
pub(crate) struct Registered {
    connections: Arc<Connections>,
    key: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts(header: u64, idle: u64) -> Timeouts {
        Timeouts {
            header_read: Some(Duration::from_millis(header)),
            idle: Some(Duration::from_millis(idle)),
            body_stall: None,
        }
    }

    #[test]
    fn a_quiet_connection_is_due_after_the_idle_limit_and_a_started_head_after_the_header_limit() {
        let activity = Activity::new();
        let limits = timeouts(100, 1_000);

        let quiet = activity.deadline(&limits);
        activity.read();
        let heading = activity.deadline(&limits);
        let busy = activity.begin();
        let working = activity.deadline(&limits);
        drop(busy);
        let after = activity.deadline(&limits);

        assert_eq!(quiet, Some(1_000_000_000));
        let heading = heading.expect("a deadline");
        assert!((100_000_000..1_000_000_000).contains(&heading), "{heading}");
        assert_eq!(working, None, "a request in progress is never cut");
        assert!(after.expect("a deadline") >= 1_000_000_000, "{after:?}");
    }

    #[test]
    fn shedding_takes_the_longest_quiet_connections_and_spares_busy_ones() {
        let connections = Arc::new(Connections::default());
        let old = Activity::new();
        let busy = Activity::new();
        let _working = busy.begin();
        std::thread::sleep(Duration::from_millis(5));
        let new = Activity::new();
        let _a = connections.register(old.clone());
        let _b = connections.register(busy.clone());
        let _c = connections.register(new.clone());

        let shed = connections.shed_idle(1);

        assert_eq!(shed, 1);
        assert!(old.shed.load(Ordering::Acquire));
        assert!(!new.shed.load(Ordering::Acquire));
        assert!(!busy.shed.load(Ordering::Acquire));
    }
}
