//! Uploaded bytes, assembled in order from pieces that may arrive in any order.
//!
//! Both vendors let a client send a file in pieces, out of order and concurrently. This module
//! knows nothing of either vendor's rules: it takes pieces keyed by position (a part number or a
//! byte offset), consumes them in order as soon as they are contiguous, hashes them once, and
//! keeps them or not depending on the [`Retention`]. Hashing runs on the blocking pool, outside
//! every lock, and only one task hashes a given file at a time, so concurrent pieces of one file
//! never block each other or the server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// What vidmock keeps of uploaded files.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::builder()
///     .retention(vidmock::Retention::DigestOnly)
///     .start()
///     .await;
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Keep every byte, so tests can read uploads back (the library's default).
    #[default]
    Memory,
    /// Keep only size and sha256: memory stays flat however large the files (the binary's
    /// default). Pieces that arrive ahead of a gap are held until the gap is filled.
    DigestOnly,
}

/// How piece keys advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keying {
    /// Keys are ordinals (api.video part numbers): the piece after `k` is `k + 1`.
    Ordinal,
    /// Keys are byte offsets: the piece after `k` starts at `k + its length`.
    Offset,
}

/// One piece of a file as received: the body segments, never copied.
#[derive(Clone, Debug, Default)]
pub(crate) struct Piece {
    pub segments: Vec<Bytes>,
}

impl Piece {
    pub(crate) fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }
}

/// A finished file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Digest256 {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// One file being assembled.
#[derive(Debug)]
pub(crate) struct Assembly {
    inner: Mutex<Inner>,
    /// Signalled whenever a batch of pieces has been consumed.
    progress: Notify,
}

#[derive(Debug)]
struct Inner {
    keying: Keying,
    retention: Retention,
    /// The key of the next piece to consume.
    next: u64,
    /// Pieces received ahead of `next`, by key.
    pending: BTreeMap<u64, Piece>,
    /// `None` while a task is hashing (it holds the hasher).
    hasher: Option<Sha256>,
    /// Bytes consumed so far.
    consumed: u64,
    /// With `Retention::Memory`: every consumed segment, in file order.
    kept: Vec<Bytes>,
}

impl Assembly {
    /// An empty file whose first piece has key `first`.
    pub(crate) fn new(keying: Keying, retention: Retention, first: u64) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                keying,
                retention,
                next: first,
                pending: BTreeMap::new(),
                hasher: Some(Sha256::new()),
                consumed: 0,
                kept: Vec::new(),
            }),
            progress: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each critical section below leaves `Inner` consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a piece. The caller has checked that it does not collide with another one.
    pub(crate) fn insert(&self, key: u64, piece: Piece) {
        self.lock().pending.insert(key, piece);
    }

    /// Consumes every piece that is contiguous with what has been consumed so far, hashing
    /// them off the async threads. Returns at once if another task is already doing it (that
    /// task picks up these pieces too).
    pub(crate) async fn drain(self: &Arc<Self>) {
        loop {
            let (mut hasher, batch) = {
                let mut inner = self.lock();
                if inner.hasher.is_none() {
                    return;
                }
                let batch = inner.take_contiguous();
                if batch.is_empty() {
                    return;
                }
                (inner.hasher.take().unwrap_or_default(), batch)
            };
            let hashed = tokio::task::spawn_blocking(move || {
                for piece in &batch {
                    for segment in &piece.segments {
                        hasher.update(segment);
                    }
                }
                (hasher, batch)
            })
            .await;
            let mut inner = self.lock();
            match hashed {
                Ok((hasher, batch)) => {
                    inner.hasher = Some(hasher);
                    for piece in batch {
                        inner.consumed += piece.len();
                        if inner.retention == Retention::Memory {
                            inner.kept.extend(piece.segments);
                        }
                    }
                }
                // The hashing task cannot panic on its own; if the runtime is shutting down,
                // leave the file unfinished rather than report a wrong digest.
                Err(_) => return,
            }
            drop(inner);
            self.progress.notify_waiters();
        }
    }

    /// Waits until pieces up to (not including) key `end` have all been consumed, then returns
    /// the file's size and digest. The caller knows every piece up to `end` has arrived.
    pub(crate) async fn finish(self: &Arc<Self>, end: u64) -> Digest256 {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let inner = self.lock();
                if inner.next >= end {
                    if let Some(hasher) = &inner.hasher {
                        return Digest256 {
                            size: inner.consumed,
                            sha256: hex::encode(hasher.clone().finalize()),
                        };
                    }
                }
            }
            self.drain().await;
            notified.await;
        }
    }

    /// Waits until every piece before key `key` has been consumed, if they have all arrived;
    /// returns at once when some are still missing (they may never come before the caller
    /// answers). Lets a caller answer one piece while it is still being hashed, yet never run
    /// more than one piece ahead of the hashing.
    pub(crate) async fn wait_for_predecessors(self: &Arc<Self>, key: u64) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.lock().predecessors_pending(key) {
                return;
            }
            notified.await;
        }
    }

    /// Bytes consumed so far (the contiguous prefix).
    pub(crate) fn consumed(&self) -> u64 {
        self.lock().consumed
    }

    /// The kept content (`Retention::Memory`), in order; `None` when only digests are kept.
    pub(crate) fn content(&self) -> Option<Vec<u8>> {
        let inner = self.lock();
        (inner.retention == Retention::Memory).then(|| {
            let mut out = Vec::with_capacity(inner.consumed as usize);
            for segment in &inner.kept {
                out.extend_from_slice(segment);
            }
            out
        })
    }
}

impl Inner {
    /// Whether all pieces before `key` have arrived and some of them are not yet consumed.
    fn predecessors_pending(&self, key: u64) -> bool {
        let mut at = self.next;
        if at >= key {
            return false;
        }
        // Pieces taken by a running drain are gone from `pending` but not yet consumed.
        if self.hasher.is_none() {
            return true;
        }
        while at < key {
            match self.pending.get(&at) {
                Some(piece) => {
                    at += match self.keying {
                        Keying::Ordinal => 1,
                        Keying::Offset => piece.len().max(1),
                    }
                }
                None => return false,
            }
        }
        true
    }

    fn take_contiguous(&mut self) -> Vec<Piece> {
        let mut batch = Vec::new();
        while let Some(piece) = self.pending.remove(&self.next) {
            self.next += match self.keying {
                Keying::Ordinal => 1,
                Keying::Offset => piece.len(),
            };
            batch.push(piece);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(s: &'static [u8]) -> Piece {
        Piece {
            segments: vec![Bytes::from_static(s)],
        }
    }

    #[tokio::test]
    async fn pieces_in_any_order_assemble_in_key_order() {
        let file = Assembly::new(Keying::Ordinal, Retention::Memory, 1);
        file.insert(3, piece(b"c"));
        file.drain().await;
        file.insert(1, piece(b"a"));
        file.drain().await;
        assert_eq!(file.consumed(), 1);
        file.insert(2, piece(b"b"));

        let digest = file.finish(4).await;

        assert_eq!(file.content().unwrap(), b"abc");
        assert_eq!(digest.size, 3);
        assert_eq!(digest.sha256, hex::encode(Sha256::digest(b"abc")));
    }

    #[tokio::test]
    async fn waiting_for_predecessors_returns_at_once_when_one_is_missing() {
        let file = Assembly::new(Keying::Ordinal, Retention::Memory, 1);
        file.insert(3, piece(b"c"));

        // Piece 1 and 2 never came: nothing to wait for.
        file.wait_for_predecessors(3).await;
        file.insert(1, piece(b"a"));
        file.insert(2, piece(b"b"));
        tokio::spawn({
            let file = file.clone();
            async move { file.drain().await }
        });
        file.wait_for_predecessors(3).await;

        assert!(file.consumed() >= 2);
    }

    #[tokio::test]
    async fn offsets_advance_by_piece_length_and_digest_only_keeps_nothing() {
        let file = Assembly::new(Keying::Offset, Retention::DigestOnly, 0);
        file.insert(2, piece(b"cd"));
        file.insert(0, piece(b"ab"));

        let digest = file.finish(4).await;

        assert_eq!(file.content(), None);
        assert_eq!(digest.sha256, hex::encode(Sha256::digest(b"abcd")));
    }
}
