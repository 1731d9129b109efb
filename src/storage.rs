//! Uploaded bytes, assembled in order from pieces that may arrive in any order.
//!
//! Both vendors let a client send a file in pieces, out of order and concurrently. This module
//! knows nothing of either vendor's rules: it takes pieces keyed by position (a part number or a
//! byte offset), consumes them in order as soon as they are contiguous, hashes them once, and
//! keeps them or not depending on the [`Retention`]. Hashing runs on the blocking pool, outside
//! every lock, and only one task hashes a given file at a time, so concurrent pieces of one file
//! never block each other or the server.
//!
//! Pieces keyed by byte offset may also overlap, repeat or leave gaps (`write_at`): the file
//! keeps the bytes it received first, a piece past a gap waits until the file reaches it, and a
//! task that needs the file to reach a given length can wait for it, for a bounded time, without
//! holding any lock (`wait_for`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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

    /// The piece without its first `n` bytes (segments are sliced, never copied).
    pub(crate) fn skip(self, mut n: u64) -> Piece {
        let mut segments = Vec::with_capacity(self.segments.len());
        for segment in self.segments {
            let len = segment.len() as u64;
            if n >= len {
                n -= len;
                continue;
            }
            // `n < len`, and `len` came from a `usize`.
            segments.push(segment.slice(n as usize..));
            n = 0;
        }
        Piece { segments }
    }
}

/// What became of a piece written with [`Assembly::write_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placed {
    /// It reached past the end of the contiguous bytes: its new bytes were added (and any
    /// waiting piece the file now reaches was applied too).
    Extended,
    /// It adds nothing and never will: every byte of it is already in the file, or it is empty.
    Ignored,
    /// It starts past the end of the contiguous bytes: it waits there (replacing any piece
    /// already waiting at the same offset) until the file reaches it.
    Waiting,
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
    /// Signalled whenever `write_at` extends the contiguous bytes.
    grown: Notify,
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
    /// `write_at` only: the end of the contiguous bytes received (≥ `next`; the pieces between
    /// `next` and here are in `pending`, waiting to be hashed).
    received: u64,
    /// `write_at` only: pieces that start past `received`, by offset.
    ahead: BTreeMap<u64, Piece>,
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
                received: first,
                ahead: BTreeMap::new(),
            }),
            progress: Notify::new(),
            grown: Notify::new(),
        })
    }

    /// A completed file brought back from a state file: `size` bytes consumed, with `content`
    /// kept when the retention keeps bytes (then its hash is the one the file was saved under).
    /// The next piece would have key `next` (a part number past the last, or `size`).
    pub(crate) fn restored(
        keying: Keying,
        retention: Retention,
        next: u64,
        size: u64,
        content: Option<Bytes>,
    ) -> Arc<Self> {
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        // Without its bytes, a restored file reports no content rather than an empty one.
        let retention = if content.is_some() {
            retention
        } else {
            Retention::DigestOnly
        };
        if let Some(content) = content.filter(|_| retention == Retention::Memory) {
            hasher.update(&content);
            kept.push(content);
        }
        Arc::new(Self {
            inner: Mutex::new(Inner {
                keying,
                retention,
                next,
                pending: BTreeMap::new(),
                hasher: Some(hasher),
                consumed: size,
                kept,
                received: match keying {
                    Keying::Ordinal => next,
                    Keying::Offset => size,
                },
                ahead: BTreeMap::new(),
            }),
            progress: Notify::new(),
            grown: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each critical section below leaves `Inner` consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a piece. The caller has checked that it does not collide with another one.
    /// (A file is written either with `insert` or with [`Assembly::write_at`], never both.)
    pub(crate) fn insert(&self, key: u64, piece: Piece) {
        self.lock().pending.insert(key, piece);
    }

    /// Writes `piece` at byte `offset` of an [`Keying::Offset`] file whose pieces may overlap,
    /// repeat or leave gaps. The bytes received first win: a piece that starts at or before the
    /// end of the contiguous bytes keeps only the bytes past that end, a piece wholly inside
    /// them is dropped, and a piece past the end waits until the file reaches it — then it is
    /// applied the same way. Hashing is left to [`Assembly::drain`].
    pub(crate) fn write_at(&self, offset: u64, piece: Piece) -> Placed {
        let placed = {
            let mut inner = self.lock();
            let placed = inner.place(offset, piece);
            if placed == Placed::Extended {
                // Apply, in offset order, every waiting piece the file now reaches.
                while let Some((&at, _)) = inner.ahead.first_key_value() {
                    if at > inner.received {
                        break;
                    }
                    if let Some(waiting) = inner.ahead.remove(&at) {
                        inner.place(at, waiting);
                    }
                }
            }
            placed
        };
        if placed == Placed::Extended {
            self.grown.notify_waiters();
        }
        placed
    }

    /// The end of the contiguous bytes written with [`Assembly::write_at`] (its length so far).
    pub(crate) fn received(&self) -> u64 {
        self.lock().received
    }

    /// The pieces waiting past a gap, as `(offset, length)` in offset order.
    pub(crate) fn waiting(&self) -> Vec<(u64, u64)> {
        self.lock()
            .ahead
            .iter()
            .map(|(at, piece)| (*at, piece.len()))
            .collect()
    }

    /// Waits until the contiguous bytes reach `target` or `limit` has passed, whichever comes
    /// first, and returns [`Assembly::received`] then. Holds no lock while it waits, so other
    /// tasks keep writing the same file.
    pub(crate) async fn wait_for(&self, target: u64, limit: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.grown.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let received = self.received();
            if received >= target {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.received();
            }
        }
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

    /// One step of `write_at`: applies, drops or parks one piece (no waiting piece is touched).
    fn place(&mut self, offset: u64, piece: Piece) -> Placed {
        let len = piece.len();
        if len == 0 {
            return Placed::Ignored;
        }
        if offset > self.received {
            self.ahead.insert(offset, piece);
            return Placed::Waiting;
        }
        let end = offset.saturating_add(len);
        if end <= self.received {
            return Placed::Ignored;
        }
        let fresh = piece.skip(self.received - offset);
        self.pending.insert(self.received, fresh);
        self.received = end;
        Placed::Extended
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

    #[tokio::test]
    async fn overlapping_repeated_and_gapped_pieces_keep_the_first_bytes_received() {
        let file = Assembly::new(Keying::Offset, Retention::Memory, 0);

        assert_eq!(file.write_at(0, piece(b"abc")), Placed::Extended);
        assert_eq!(file.write_at(6, piece(b"ghi")), Placed::Waiting);
        assert_eq!(file.write_at(1, piece(b"XX")), Placed::Ignored);
        assert_eq!(file.write_at(3, piece(b"")), Placed::Ignored);
        assert_eq!(file.waiting(), vec![(6, 3)]);
        // Overlaps the end by one byte and reaches the waiting piece, which is applied too.
        assert_eq!(file.write_at(2, piece(b"Zdef")), Placed::Extended);

        assert_eq!(file.received(), 9);
        assert!(file.waiting().is_empty());
        let digest = file.finish(9).await;
        assert_eq!(file.content().unwrap(), b"abcdefghi");
        assert_eq!(digest.sha256, hex::encode(Sha256::digest(b"abcdefghi")));
    }

    #[tokio::test]
    async fn a_waiting_piece_inside_the_file_once_reached_is_dropped() {
        let file = Assembly::new(Keying::Offset, Retention::Memory, 0);
        file.write_at(2, piece(b"cd"));
        file.write_at(0, piece(b"abcde"));

        assert_eq!(file.received(), 5);
        file.finish(5).await;
        assert_eq!(file.content().unwrap(), b"abcde");
    }

    #[tokio::test]
    async fn waiting_for_a_length_wakes_when_another_task_fills_the_gap() {
        let file = Assembly::new(Keying::Offset, Retention::DigestOnly, 0);
        file.write_at(0, piece(b"ab"));
        file.write_at(4, piece(b"ef"));
        let filler = {
            let file = file.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                file.write_at(2, piece(b"cd"));
            })
        };

        let reached = file.wait_for(6, Duration::from_secs(5)).await;

        assert_eq!(reached, 6);
        filler.await.unwrap();
        assert_eq!(file.wait_for(7, Duration::from_millis(10)).await, 6);
    }

    proptest::proptest! {
        /// Pieces of one file, cut anywhere, overlapping, repeated and written in any order,
        /// always assemble to the file.
        #[test]
        fn written_pieces_assemble_to_the_file_in_any_order(
            len in 1usize..3000,
            cuts in proptest::collection::vec(0usize..3000, 0..12),
            overlaps in proptest::collection::vec(0usize..80, 13),
            keys in proptest::collection::vec(proptest::prelude::any::<u32>(), 26),
            repeats in proptest::collection::vec(proptest::prelude::any::<bool>(), 13),
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut bounds: Vec<usize> = cuts.into_iter().filter(|c| *c < len).collect();
            bounds.push(0);
            bounds.push(len);
            bounds.sort_unstable();
            bounds.dedup();
            let mut writes: Vec<(u32, usize, usize)> = Vec::new();
            for (i, w) in bounds.windows(2).enumerate() {
                let end = (w[1] + overlaps[i % overlaps.len()]).min(len);
                writes.push((keys[i % keys.len()], w[0], end));
                if repeats[i % repeats.len()] {
                    writes.push((keys[(i + 13) % keys.len()], w[0], end));
                }
            }
            writes.sort();
            let file = Assembly::new(Keying::Offset, Retention::Memory, 0);
            for (_, start, end) in writes {
                let piece = Piece {
                    segments: vec![Bytes::copy_from_slice(&data[start..end])],
                };
                file.write_at(start as u64, piece);
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let digest = runtime.block_on(file.finish(len as u64));
            proptest::prop_assert_eq!(file.received(), len as u64);
            proptest::prop_assert!(file.waiting().is_empty());
            proptest::prop_assert_eq!(file.content().unwrap(), data.clone());
            proptest::prop_assert_eq!(digest.sha256, hex::encode(Sha256::digest(&data)));
        }
    }

    #[test]
    fn skipping_slices_across_segments() {
        let piece = Piece {
            segments: vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")],
        };
        let rest = piece.clone().skip(3);
        assert_eq!(rest.segments, vec![Bytes::from_static(b"de")]);
        assert_eq!(piece.clone().skip(2).len(), 3);
        assert_eq!(piece.skip(9).len(), 0);
    }
}
