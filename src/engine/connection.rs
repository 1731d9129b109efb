//! What request handling can do to the connection a request came in on.
//!
//! Faults that act on the socket (a reset, a close, garbage instead of a response, a reset
//! after so many request bytes) set the connection's fate here; the server's connection task
//! carries it out. Kept in the engine so that the fault engine needs nothing of the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Facts about the connection a request arrived on, available to handlers as an extension.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Lets a fault end or cripple this connection.
    pub control: Arc<ConnControl>,
}

pub(crate) const ALIVE: u8 = 0;
pub(crate) const CLOSE: u8 = 1;
pub(crate) const RESET: u8 = 2;

/// What request handling can do to the socket it came in on.
#[derive(Debug)]
pub(crate) struct ConnControl {
    /// `ALIVE`, or how the connection is to end.
    pub(crate) fate: AtomicU8,
    /// Wakes the connection task when `fate` is set.
    pub(crate) killed: Notify,
    /// Bytes still allowed in from the client before a reset (`u64::MAX`: no limit).
    pub(crate) read_budget: AtomicU64,
    /// Bytes written in place of the next response, after which the connection closes.
    pub(crate) replacement: Mutex<Option<bytes::Bytes>>,
    /// Set when a request reaches the service, cleared when the next bytes are written: an
    /// answer written while it is clear is one the HTTP layer made itself (a request it could
    /// not read).
    pub(crate) served: AtomicBool,
}

impl ConnControl {
    pub(crate) fn new() -> Self {
        Self {
            fate: AtomicU8::new(ALIVE),
            killed: Notify::new(),
            read_budget: AtomicU64::new(u64::MAX),
            replacement: Mutex::new(None),
            served: AtomicBool::new(false),
        }
    }

    fn end(&self, fate: u8) {
        self.fate.store(fate, Ordering::SeqCst);
        self.killed.notify_one();
    }

    /// Closes the connection (FIN) without another byte.
    pub(crate) fn close(&self) {
        self.end(CLOSE);
    }

    /// Resets the connection (RST, through a zero linger).
    pub(crate) fn reset(&self) {
        self.end(RESET);
    }

    /// Resets the connection once `bytes` more bytes have come in from the client.
    pub(crate) fn reset_after_reading(&self, bytes: u64) {
        self.read_budget.store(bytes, Ordering::SeqCst);
    }

    /// Sends `bytes` instead of the response, then closes the connection.
    pub(crate) fn replace_output(&self, bytes: bytes::Bytes) {
        *self.replacement.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
    }
}
