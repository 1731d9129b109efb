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
//!
//! [`Retention::Spill`] exists because hashing costs more than receiving: sha256 runs at about
//! the speed a loopback socket delivers bytes, so hashing on the request path halves upload
//! throughput. Spilled pieces go to the process's spill file ([`crate::spill`]) as they arrive,
//! and a completed file is hashed once, after its last piece has been answered.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::hex;
use crate::spill::{self, Extent};

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
    /// Keep only size and sha256: memory stays flat however large the files. Pieces that
    /// arrive ahead of a gap are held until the gap is filled.
    DigestOnly,
    /// Keep every byte in an anonymous temporary file under the system's temporary directory
    /// (`TMPDIR`), written as the bytes arrive: memory stays flat, content stays readable, and
    /// the sha256 of a completed file is computed after its last piece has been answered, off
    /// the request path (asking for it before then waits for it). A deleted upload's disk
    /// space is reused by the next uploads, or given back to the file system within seconds,
    /// and the file vanishes when the process ends. The binary's default.
    Spill,
}

impl Retention {
    /// Whether content can be read back.
    pub(crate) fn keeps_bytes(self) -> bool {
        matches!(self, Retention::Memory | Retention::Spill)
    }
}

/// How piece keys advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keying {
    /// Keys are ordinals (api.video part numbers): the piece after `k` is `k + 1`.
    Ordinal,
    /// Keys are byte offsets: the piece after `k` starts at `k + its length`.
    Offset,
}

/// A run of a piece's bytes: in memory, or a range of a spill file.
#[derive(Clone, Debug)]
pub(crate) enum Segment {
    Memory(Bytes),
    File {
        extent: Arc<Extent>,
        start: u64,
        len: u64,
    },
}

/// Equal bytes in memory, or the same run of the same region of the spill file.
impl PartialEq for Segment {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Segment::Memory(a), Segment::Memory(b)) => a == b,
            (
                Segment::File { extent, start, len },
                Segment::File {
                    extent: other_extent,
                    start: other_start,
                    len: other_len,
                },
            ) => Arc::ptr_eq(extent, other_extent) && (start, len) == (other_start, other_len),
            _ => false,
        }
    }
}

impl Segment {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Segment::Memory(bytes) => bytes.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }

    /// The segment without its first `n` bytes (`n` < its length).
    fn skip(self, n: u64) -> Segment {
        match self {
            // `n < len`, and `len` came from a `usize`.
            Segment::Memory(bytes) => Segment::Memory(bytes.slice(n as usize..)),
            Segment::File { extent, start, len } => Segment::File {
                extent,
                start: start + n,
                len: len - n,
            },
        }
    }

    /// Calls `each` with the segment's bytes, a block at a time.
    fn read(&self, each: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
        match self {
            Segment::Memory(bytes) => each(bytes),
            Segment::File { start, len, .. } => {
                let file =
                    spill::file().ok_or_else(|| std::io::Error::other("the spill file is gone"))?;
                let mut buffer = vec![0; (*len).min(READ_BLOCK) as usize];
                let mut at = *start;
                let end = start + len;
                while at < end {
                    let want = (end - at).min(buffer.len() as u64) as usize;
                    file.read_exact_at(&mut buffer[..want], at)?;
                    each(&buffer[..want]);
                    at += want as u64;
                }
            }
        }
        Ok(())
    }
}

/// How much of a spill file is read at once.
const READ_BLOCK: u64 = 1024 * 1024;

/// One piece of a file as received: the body segments, never copied once received.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Piece {
    pub segments: Vec<Segment>,
}

impl Piece {
    /// A piece held in memory.
    pub(crate) fn memory(segments: Vec<Bytes>) -> Piece {
        Piece {
            segments: segments.into_iter().map(Segment::Memory).collect(),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.segments.iter().map(Segment::len).sum()
    }

    /// The piece's bytes, read back.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for segment in &self.segments {
            segment
                .read(&mut |bytes| out.extend_from_slice(bytes))
                .expect("a readable piece");
        }
        out
    }

    /// The piece without its first `n` bytes (segments are sliced, never copied).
    pub(crate) fn skip(self, mut n: u64) -> Piece {
        let mut segments = Vec::with_capacity(self.segments.len());
        for segment in self.segments {
            let len = segment.len();
            if n >= len {
                n -= len;
                continue;
            }
            segments.push(if n > 0 { segment.skip(n) } else { segment });
            n = 0;
        }
        Piece { segments }
    }

    /// Appends the bytes written at `start` (in the spill file) of `extent`, merging with the
    /// last segment when it is the run just before them in the same extent.
    pub(crate) fn push_file(&mut self, extent: &Arc<Extent>, start: u64, len: u64) {
        if let Some(Segment::File {
            extent: last,
            start: last_start,
            len: last_len,
        }) = self.segments.last_mut()
        {
            if Arc::ptr_eq(last, extent) && *last_start + *last_len == start {
                *last_len += len;
                return;
            }
        }
        self.segments.push(Segment::File {
            extent: extent.clone(),
            start,
            len,
        });
    }

    /// Moves the segments held in memory to a spill file; on any I/O error they stay where they
    /// are (nothing is lost, only memory is spent).
    fn spill(self) -> Piece {
        if self
            .segments
            .iter()
            .all(|s| matches!(s, Segment::File { .. }))
        {
            return self;
        }
        let in_memory: u64 = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Memory(_)))
            .map(Segment::len)
            .sum();
        let Some(extent) = Extent::reserve(in_memory) else {
            return self;
        };
        let mut at = 0;
        let mut out = Piece::default();
        for segment in self.segments {
            match segment {
                Segment::Memory(bytes) if extent.write_at(at, &bytes).is_ok() => {
                    out.push_file(&extent, extent.start + at, bytes.len() as u64);
                    at += bytes.len() as u64;
                }
                other => out.segments.push(other),
            }
        }
        out
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

/// A finished file: its size, and its sha256 — known at once, or computed on first use from
/// spilled bytes ([`Retention::Spill`]).
#[derive(Clone, Debug)]
pub(crate) struct Digest256 {
    pub size: u64,
    sha256: Arc<Sha256Hex>,
    /// Made from spilled bytes, to be hashed off the path that finished the file (read by the
    /// tests, which cannot observe the race between that hashing and a caller).
    #[cfg_attr(not(test), allow(dead_code))]
    deferred: bool,
}

#[derive(Debug)]
struct Sha256Hex {
    hex: OnceLock<String>,
    /// The file's bytes in order, until hashed.
    source: Mutex<Vec<Segment>>,
}

impl Digest256 {
    /// A digest already computed (lower-case hex).
    pub(crate) fn known(size: u64, sha256: String) -> Self {
        Digest256 {
            size,
            sha256: Arc::new(Sha256Hex {
                hex: OnceLock::from(sha256),
                source: Mutex::new(Vec::new()),
            }),
            deferred: false,
        }
    }

    /// A digest of `segments`, computed on first use.
    fn deferred(size: u64, segments: Vec<Segment>) -> Self {
        Digest256 {
            size,
            sha256: Arc::new(Sha256Hex {
                hex: OnceLock::new(),
                source: Mutex::new(segments),
            }),
            deferred: true,
        }
    }

    /// Lower-case hex sha256. With spilled bytes, the first call hashes them (later and
    /// concurrent callers wait for that one).
    pub(crate) fn sha256(&self) -> &str {
        self.sha256.hex.get_or_init(|| {
            let segments =
                std::mem::take(&mut *self.sha256.source.lock().unwrap_or_else(|e| e.into_inner()));
            let mut hasher = Sha256::new();
            for segment in &segments {
                if let Err(error) = segment.read(&mut |bytes| hasher.update(bytes)) {
                    // The spill file is this process's own; losing it means the disk failed.
                    tracing::error!(%error, "reading a spilled upload back failed");
                }
            }
            hex::encode(hasher.finalize())
        })
    }

    /// Computes the sha256 now if it is not known yet.
    pub(crate) fn compute(&self) {
        self.sha256();
    }

    /// Whether the sha256 is known without hashing.
    pub(crate) fn is_known(&self) -> bool {
        self.sha256.hex.get().is_some()
    }

    /// Whether the file was finished without hashing it there (its sha256 is computed on the
    /// blocking pool, or by the first caller, whichever comes first).
    #[cfg(test)]
    fn is_deferred(&self) -> bool {
        self.deferred
    }
}

impl PartialEq for Digest256 {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.sha256() == other.sha256()
    }
}

impl Eq for Digest256 {}

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
    /// With a retention that keeps bytes: every consumed segment, in file order.
    kept: Vec<Segment>,
    /// `Retention::Spill`: the completed file's digest, once asked for.
    deferred: Option<Digest256>,
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
                deferred: None,
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
        let retention = match content {
            Some(_) if retention.keeps_bytes() => Retention::Memory,
            _ => Retention::DigestOnly,
        };
        if let Some(content) = content.filter(|_| retention == Retention::Memory) {
            hasher.update(&content);
            kept.push(Segment::Memory(content));
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
                deferred: None,
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
    /// them (or, with [`Retention::Spill`], moving what is still in memory to a spill file)
    /// off the async threads. Returns at once if another task is already doing it (that task
    /// picks up these pieces too).
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
            let spill = self.lock().retention == Retention::Spill;
            let hashed = tokio::task::spawn_blocking(move || {
                if spill {
                    // Hashed once complete, from the files.
                    let batch: Vec<Piece> = batch.into_iter().map(Piece::spill).collect();
                    return (hasher, batch);
                }
                for piece in &batch {
                    for segment in &piece.segments {
                        if let Err(error) = segment.read(&mut |bytes| hasher.update(bytes)) {
                            tracing::error!(%error, "reading a spilled piece back failed");
                        }
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
                        if inner.retention.keeps_bytes() {
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
    /// the file's size and digest. The caller knows every piece up to `end` has arrived. With
    /// [`Retention::Spill`] the digest is computed on the blocking pool from then on, and asking
    /// for it before it is done waits.
    pub(crate) async fn finish(self: &Arc<Self>, end: u64) -> Digest256 {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.lock();
                if inner.next >= end {
                    if let Some(hasher) = &inner.hasher {
                        if inner.retention != Retention::Spill {
                            return Digest256::known(
                                inner.consumed,
                                hex::encode(hasher.clone().finalize()),
                            );
                        }
                        if let Some(digest) = &inner.deferred {
                            return digest.clone();
                        }
                        let digest = Digest256::deferred(inner.consumed, inner.kept.clone());
                        inner.deferred = Some(digest.clone());
                        // Start hashing now, so the sha256 is usually known by the time anyone
                        // asks for it.
                        let hashing = digest.clone();
                        tokio::task::spawn_blocking(move || hashing.compute());
                        return digest;
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

    /// The kept content (`Retention::Memory` or `Spill`), in order; `None` when only digests
    /// are kept.
    pub(crate) fn content(&self) -> Option<Vec<u8>> {
        let (segments, size) = {
            let inner = self.lock();
            if !inner.retention.keeps_bytes() {
                return None;
            }
            (inner.kept.clone(), inner.consumed)
        };
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        for segment in &segments {
            if let Err(error) = segment.read(&mut |bytes| out.extend_from_slice(bytes)) {
                tracing::error!(%error, "reading a spilled upload back failed");
            }
        }
        Some(out)
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
        Piece::memory(vec![Bytes::from_static(s)])
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
        assert_eq!(digest.sha256(), hex::encode(Sha256::digest(b"abc")));
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
        assert_eq!(digest.sha256(), hex::encode(Sha256::digest(b"abcd")));
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
        assert_eq!(digest.sha256(), hex::encode(Sha256::digest(b"abcdefghi")));
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
                let piece = Piece::memory(vec![Bytes::copy_from_slice(&data[start..end])]);
                file.write_at(start as u64, piece);
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let digest = runtime.block_on(file.finish(len as u64));
            proptest::prop_assert_eq!(file.received(), len as u64);
            proptest::prop_assert!(file.waiting().is_empty());
            proptest::prop_assert_eq!(file.content().unwrap(), data.clone());
            proptest::prop_assert_eq!(digest.sha256(), hex::encode(Sha256::digest(&data)));
        }
    }

    #[tokio::test]
    async fn spilled_pieces_keep_their_bytes_on_disk_and_hash_once_complete() {
        let file = Assembly::new(Keying::Offset, Retention::Spill, 0);
        file.write_at(3, piece(b"defg"));
        file.write_at(0, piece(b"abcd"));

        let digest = file.finish(7).await;

        // Whether the background hashing has already finished is a race; that finishing the
        // file left the hashing to it is not.
        assert!(digest.is_deferred());
        assert_eq!(digest.sha256(), hex::encode(Sha256::digest(b"abcdefg")));
        assert_eq!(digest.size, 7);
        assert_eq!(file.content().unwrap(), b"abcdefg");
        let inner = file.lock();
        assert!(
            inner.kept.iter().all(|s| matches!(s, Segment::File { .. })),
            "{:?}",
            inner.kept
        );
    }

    #[test]
    fn file_segments_of_one_extent_merge_and_skip_into_the_middle() {
        let extent = Extent::reserve(10).unwrap();
        extent.write_at(0, b"0123456789").unwrap();
        let mut piece = Piece::default();
        piece.push_file(&extent, extent.start, 4);
        piece.push_file(&extent, extent.start + 4, 6);

        let rest = piece.skip(3);

        assert_eq!(rest.segments.len(), 1);
        let mut read = Vec::new();
        rest.segments[0]
            .read(&mut |b| read.extend_from_slice(b))
            .unwrap();
        assert_eq!(read, b"3456789");
    }

    #[test]
    fn spilling_many_pieces_takes_no_file_descriptor_per_piece() {
        let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        Extent::reserve(0);
        let before = open();

        let pieces: Vec<Piece> = (0..200u8)
            .map(|i| Piece::memory(vec![Bytes::from(vec![i; 100])]).spill())
            .collect();

        assert!(
            open() <= before + 2,
            "{} descriptors, {before} before",
            open()
        );
        let mut read = Vec::new();
        pieces[199].segments[0]
            .read(&mut |b| read.extend_from_slice(b))
            .unwrap();
        assert_eq!(read, vec![199u8; 100]);
    }

    #[test]
    fn skipping_slices_across_segments() {
        let piece = Piece::memory(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")]);
        let rest = piece.clone().skip(3);
        assert!(matches!(&rest.segments[..], [Segment::Memory(b)] if b == &b"de"[..]));
        assert_eq!(piece.clone().skip(2).len(), 3);
        assert_eq!(piece.skip(9).len(), 0);
    }
}
