//! Uploaded bytes, assembled in order from pieces that may arrive in any order.
//!
//! Both vendors let a client send a file in pieces, out of order and concurrently. This module
//! knows nothing of either vendor's rules: it takes pieces keyed by position (a part number or a
//! byte offset), consumes them in order as soon as they are contiguous, hashes them once, and
//! keeps them or not depending on the [`Retention`]. Hashing runs on the blocking pool, outside
//! every lock, and only one task hashes a given file at a time, so concurrent pieces of one file
//! never block each other or the server. A retention that keeps the bytes hashes a file only
//! once it is complete, from the bytes it kept; [`Retention::DigestOnly`] has nothing to hash
//! later, so it hashes pieces as they are consumed.
//!
//! Pieces keyed by byte offset may also overlap, repeat or leave gaps (`write_at`): the file
//! keeps the bytes it received first, a piece past a gap waits until the file reaches it, and a
//! task that needs the file to reach a given length can wait for it, for a bounded time, without
//! holding any lock (`wait_for`).
//!
//! Hashing costs more than receiving: sha256 runs at about the speed a loopback socket delivers
//! bytes, so hashing while pieces arrive halves upload throughput. A file whose bytes are kept
//! is therefore hashed once, after its last piece has been answered, on the blocking pool
//! (asking for the digest before then waits for it). With [`Retention::Spill`] a piece goes to a
//! file of its own in the server's [`SpillDir`] as it arrives ([`PartWriter`]). Only std and
//! `tempfile` are used, so it works alike on Linux, macOS and Windows.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::engine::hex;

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
    /// Keep every byte, so tests can read uploads back (the library's default). The sha256 of a
    /// completed file is computed after its last piece has been answered, off the request path
    /// (asking for it before then waits for it).
    #[default]
    Memory,
    /// Keep only size and sha256: memory stays flat however large the files. Pieces that
    /// arrive ahead of a gap are held until the gap is filled.
    DigestOnly,
    /// Keep every byte on disk, in a temporary directory of the server's own under the
    /// system's temporary directory (`TMPDIR` on Unix, `TEMP` on Windows), one file per piece,
    /// written as the bytes arrive: memory stays flat, content stays readable, and the sha256
    /// of a completed file is computed after its last piece has been answered, off the request
    /// path (asking for it before then waits for it). A deleted upload's files are removed with
    /// it, and the directory when the server is dropped. The binary's default.
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

/// The directory a server's spilled pieces go to ([`Retention::Spill`]): made on first use, in
/// the system's temporary directory, and removed (with anything left in it) once the server
/// and every piece spilled into it are gone.
#[derive(Debug, Default)]
pub(crate) struct SpillDir {
    /// `None` when no directory could be made (then pieces stay in memory).
    dir: OnceLock<Option<tempfile::TempDir>>,
    /// The name of the next file.
    next: AtomicU64,
}

impl SpillDir {
    pub(crate) fn new() -> Arc<SpillDir> {
        Arc::new(SpillDir::default())
    }

    /// The directory, made on first use (a blocking call).
    fn path(&self) -> Option<&std::path::Path> {
        self.dir
            .get_or_init(|| {
                let made = tempfile::Builder::new()
                    .prefix(&format!("vidmock-{}-", std::process::id()))
                    .tempdir();
                match made {
                    Ok(dir) => Some(dir),
                    Err(error) => {
                        tracing::warn!(%error, "no temporary directory: uploads stay in memory");
                        None
                    }
                }
            })
            .as_ref()
            .map(tempfile::TempDir::path)
    }

    /// A new, empty file in the directory, open for writing (a blocking call).
    fn create(self: &Arc<Self>) -> std::io::Result<(Arc<SpillFile>, File)> {
        let dir = self
            .path()
            .ok_or_else(|| std::io::Error::other("no temporary directory"))?;
        let path = dir.join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
        let file = File::options().write(true).create_new(true).open(&path)?;
        let spilled = Arc::new(SpillFile {
            path,
            _dir: self.clone(),
        });
        Ok((spilled, file))
    }
}

/// One spilled piece's file, removed with the last segment that points into it. No file is
/// kept open while it is stored: it is reopened to be read.
#[derive(Debug)]
pub(crate) struct SpillFile {
    path: PathBuf,
    /// The directory stays as long as a file in it does.
    _dir: Arc<SpillDir>,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Nothing else holds it open, so this works on every platform; if it fails anyway, the
        // directory's removal takes it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A run of a piece's bytes: in memory, or a range of a spilled piece's file.
#[derive(Clone, Debug)]
pub(crate) enum Segment {
    Memory(Bytes),
    File {
        file: Arc<SpillFile>,
        start: u64,
        len: u64,
    },
}

/// Equal bytes in memory, or the same run of the same spilled file.
impl PartialEq for Segment {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Segment::Memory(a), Segment::Memory(b)) => a == b,
            (
                Segment::File { file, start, len },
                Segment::File {
                    file: other_file,
                    start: other_start,
                    len: other_len,
                },
            ) => Arc::ptr_eq(file, other_file) && (start, len) == (other_start, other_len),
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
            Segment::File { file, start, len } => Segment::File {
                file,
                start: start + n,
                len: len - n,
            },
        }
    }

    /// Calls `each` with the segment's bytes, a block at a time (a blocking call).
    fn read(&self, each: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
        match self {
            Segment::Memory(bytes) => each(bytes),
            Segment::File { file, start, len } => {
                let mut reader = File::open(&file.path)?;
                reader.seek(SeekFrom::Start(*start))?;
                let mut buffer = vec![0; (*len).min(READ_BLOCK) as usize];
                let mut left = *len;
                while left > 0 {
                    // At most `READ_BLOCK`, so it fits in a usize.
                    let want = left.min(buffer.len() as u64) as usize;
                    reader.read_exact(&mut buffer[..want])?;
                    each(&buffer[..want]);
                    left -= want as u64;
                }
            }
        }
        Ok(())
    }
}

/// How much of a spilled file is read at once.
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

    /// Appends the bytes written at `start` of `file`, merging with the last segment when it
    /// is the run just before them in the same file.
    pub(crate) fn push_file(&mut self, file: &Arc<SpillFile>, start: u64, len: u64) {
        if let Some(Segment::File {
            file: last,
            start: last_start,
            len: last_len,
        }) = self.segments.last_mut()
        {
            if Arc::ptr_eq(last, file) && *last_start + *last_len == start {
                *last_len += len;
                return;
            }
        }
        self.segments.push(Segment::File {
            file: file.clone(),
            start,
            len,
        });
    }
}

/// Gathers one file part's bytes as they arrive: copied into blocks kept in memory, or, given a
/// [`SpillDir`], into write buffers that go to a file of the part's own on the blocking pool,
/// one while the next fills, so that a part never sits in memory and the runtime's threads never
/// wait for the disk. A disk that refuses a write leaves that batch, and the rest of the part,
/// in memory: nothing is lost, only memory is spent.
pub(crate) struct PartWriter {
    piece: Piece,
    /// In memory: the block being filled.
    block: BytesMut,
    /// `None` in memory, or once the disk refused a write.
    spill: Option<Spilling>,
}

struct Spilling {
    dir: Arc<SpillDir>,
    /// The write buffer being filled.
    filling: Vec<u8>,
    /// The part's file once made, open while the part arrives (not while it is stored).
    open: Option<(Arc<SpillFile>, File)>,
    /// The bytes written to it so far.
    written: u64,
    /// The batch being written.
    writing: Option<tokio::task::JoinHandle<Written>>,
}

/// A written batch: the part's file, the batch's buffer (to be filled again) and how the write
/// went.
type Written = (Option<(Arc<SpillFile>, File)>, Vec<u8>, std::io::Result<()>);

impl PartWriter {
    /// How much is copied into one block in memory, and written at once to disk: large enough
    /// that a system call and a thread hand-off are nothing next to the copy.
    const BATCH: usize = 1024 * 1024;

    /// A part kept in memory, or spilled into `spill`.
    pub(crate) fn new(spill: Option<&Arc<SpillDir>>) -> Self {
        PartWriter {
            piece: Piece::default(),
            block: BytesMut::new(),
            spill: spill.map(|dir| Spilling {
                dir: dir.clone(),
                filling: Vec::new(),
                open: None,
                written: 0,
                writing: None,
            }),
        }
    }

    /// Adds the part's next bytes.
    pub(crate) async fn push(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let Some(spill) = &mut self.spill else {
                break;
            };
            if spill.filling.capacity() == 0 {
                spill.filling = Vec::with_capacity(Self::BATCH);
            }
            let room = Self::BATCH - spill.filling.len().min(Self::BATCH);
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            spill.filling.extend_from_slice(now);
            chunk = later;
            if spill.filling.len() >= Self::BATCH {
                self.write_batch().await;
            }
        }
        self.keep(chunk);
    }

    /// The part, once its last bytes have been pushed (and written).
    pub(crate) async fn finish(mut self) -> Piece {
        if self.spill.is_some() {
            self.write_batch().await;
            self.settle().await;
        }
        // Closes the part's file: a stored piece holds no file descriptor.
        self.spill = None;
        self.flush_block();
        self.piece
    }

    /// Copies `chunk` into the blocks kept in memory.
    fn keep(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            if self.block.capacity() == self.block.len() {
                self.flush_block();
                self.block = BytesMut::with_capacity(Self::BATCH);
            }
            let room = self.block.capacity() - self.block.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.block.extend_from_slice(now);
            chunk = later;
        }
    }

    fn flush_block(&mut self) {
        if !self.block.is_empty() {
            let block = std::mem::take(&mut self.block).freeze();
            self.piece.segments.push(Segment::Memory(block));
        }
    }

    /// Keeps `batch`, which could not be written, in memory, and the rest of the part with it.
    fn unspill(&mut self, batch: Vec<u8>) {
        self.spill = None;
        if !batch.is_empty() {
            self.flush_block();
            self.piece
                .segments
                .push(Segment::Memory(Bytes::from(batch)));
        }
    }

    /// Waits for the batch being written, and records where it went.
    async fn settle(&mut self) {
        let Some(writing) = self.spill.as_mut().and_then(|s| s.writing.take()) else {
            return;
        };
        match writing.await {
            Ok((open, mut buffer, Ok(()))) => {
                let len = buffer.len() as u64;
                if let (Some(spill), Some((file, _))) = (&mut self.spill, &open) {
                    self.piece.push_file(file, spill.written, len);
                    spill.written += len;
                    buffer.clear();
                    spill.filling = buffer;
                    spill.open = open;
                }
            }
            Ok((_, buffer, Err(error))) => {
                tracing::warn!(%error, "writing a spilled upload failed: the rest stays in memory");
                self.unspill(buffer);
            }
            // Only a runtime shutting down cancels the write; the request dies with it.
            Err(_) => self.unspill(Vec::new()),
        }
    }

    /// Hands the buffer being filled to a write on the blocking pool.
    async fn write_batch(&mut self) {
        let batch = match &mut self.spill {
            Some(spill) => std::mem::take(&mut spill.filling),
            None => return,
        };
        self.settle().await;
        let Some(spill) = &mut self.spill else {
            // Spilling stopped while this batch gathered.
            return self.unspill(batch);
        };
        if batch.is_empty() {
            return;
        }
        // The buffer handed back by the last write, if any, is filled next.
        let refill = std::mem::take(&mut spill.filling);
        let open = spill.open.take();
        let dir = spill.dir.clone();
        spill.writing = Some(tokio::task::spawn_blocking(move || {
            let (spilled, mut file) = match open {
                Some(open) => open,
                None => match dir.create() {
                    Ok(made) => made,
                    Err(error) => return (None, batch, Err(error)),
                },
            };
            let written = file.write_all(&batch);
            (Some((spilled, file)), batch, written)
        }));
        spill.filling = refill;
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
/// the bytes kept ([`Retention::Memory`], [`Retention::Spill`]).
#[derive(Clone, Debug)]
pub(crate) struct Digest256 {
    pub size: u64,
    sha256: Arc<Sha256Hex>,
    /// Made from kept bytes, to be hashed off the path that finished the file (read by the
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

    /// Lower-case hex sha256. From kept bytes, the first call hashes them (later and concurrent
    /// callers wait for that one).
    pub(crate) fn sha256(&self) -> &str {
        self.sha256.hex.get_or_init(|| {
            let segments =
                std::mem::take(&mut *self.sha256.source.lock().unwrap_or_else(|e| e.into_inner()));
            let mut hasher = Sha256::new();
            for segment in &segments {
                if let Err(error) = segment.read(&mut |bytes| hasher.update(bytes)) {
                    // The spilled files are the server's own; losing one means the disk failed.
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

/// A finished file's digest in a document: `{"size": n, "sha256": "…"}`, or `null`.
///
/// A sha256 not computed yet is left out rather than computed while the state is locked, and a
/// digest read back without one is no digest: its file is treated as unfinished.
pub(crate) mod kept;
pub(crate) mod ranged;

pub(crate) mod digest_doc {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Digest256;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc<'a> {
        size: u64,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        sha256: Option<std::borrow::Cow<'a, str>>,
    }

    pub(crate) fn serialize<S: Serializer>(
        digest: &Option<Digest256>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        digest
            .as_ref()
            .map(|digest| Doc {
                size: digest.size,
                sha256: digest.is_known().then(|| digest.sha256().into()),
            })
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Digest256>, D::Error> {
        let Some(doc) = Option::<Doc>::deserialize(deserializer)? else {
            return Ok(None);
        };
        match doc.sha256 {
            // It names the file of kept bytes: 64 lower-case hex digits and nothing else.
            Some(sha256)
                if sha256.len() != 64
                    || !sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Err(serde::de::Error::custom(
                    "sha256 is not 64 lower-case hex digits",
                ))
            }
            Some(sha256) => Ok(Some(Digest256::known(doc.size, sha256.into_owned()))),
            None => Ok(None),
        }
    }
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
    /// With a retention that keeps bytes: every consumed segment, in file order.
    kept: Vec<Segment>,
    /// A retention that keeps bytes: the completed file's digest, once asked for.
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
        let mut kept = Vec::new();
        // Without its bytes, a restored file reports no content rather than an empty one.
        let retention = match content {
            Some(_) if retention.keeps_bytes() => Retention::Memory,
            _ => Retention::DigestOnly,
        };
        if let Some(content) = content.filter(|_| retention == Retention::Memory) {
            kept.push(Segment::Memory(content));
        }
        Arc::new(Self {
            inner: Mutex::new(Inner {
                keying,
                retention,
                next,
                pending: BTreeMap::new(),
                hasher: Some(Sha256::new()),
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

    /// A completed file of one piece already received whole (a small file read at once),
    /// kept as `retention` says: in memory or, when the piece was spilled, on disk.
    pub(crate) fn whole(piece: Piece, retention: Retention) -> Arc<Self> {
        let size = piece.len();
        Arc::new(Self {
            inner: Mutex::new(Inner {
                keying: Keying::Offset,
                retention,
                next: size,
                pending: BTreeMap::new(),
                hasher: Some(Sha256::new()),
                consumed: size,
                kept: piece.segments,
                deferred: None,
                received: size,
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
    /// them off the async threads (with a retention that keeps bytes, they are hashed once the
    /// file is complete, from [`Assembly::finish`] on). Returns at once if another task is already doing it
    /// (that task picks up these pieces too).
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
                if inner.retention.keeps_bytes() {
                    inner.keep(batch);
                    drop(inner);
                    self.progress.notify_waiters();
                    continue;
                }
                (inner.hasher.take().unwrap_or_default(), batch)
            };
            let hashed = tokio::task::spawn_blocking(move || {
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
                    inner.keep(batch);
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
    /// the file's size and digest. The caller knows every piece up to `end` has arrived. With a
    /// retention that keeps bytes the digest is computed on the blocking pool from then on, and
    /// asking for it before it is done waits.
    pub(crate) async fn finish(self: &Arc<Self>, end: u64) -> Digest256 {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.lock();
                if inner.next >= end {
                    if let Some(hasher) = &inner.hasher {
                        if !inner.retention.keeps_bytes() {
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

    /// The kept content as a reader that can seek (`Retention::Memory` or `Spill`), so a part
    /// of a file can be read without reading the rest: a probe reads the index boxes of a media
    /// file, a ranged download one range. `None` when only digests are kept.
    pub(crate) fn reader(&self) -> Option<ContentReader> {
        let inner = self.lock();
        if !inner.retention.keeps_bytes() {
            return None;
        }
        Some(ContentReader::new(inner.kept.clone()))
    }
}

/// A completed file's kept bytes, read (and sought) across its segments; spilled segments are
/// opened as they are reached. Reading is blocking.
#[derive(Debug)]
pub(crate) struct ContentReader {
    segments: Vec<Segment>,
    /// Where each segment starts in the file (same length as `segments`, ascending).
    starts: Vec<u64>,
    /// The file's length.
    len: u64,
    /// The position of the next read (may be past `len`: reads there return nothing).
    pos: u64,
    /// The spilled segment last read, open: its index and the file.
    open: Option<(usize, File)>,
}

impl ContentReader {
    fn new(segments: Vec<Segment>) -> Self {
        let mut starts = Vec::with_capacity(segments.len());
        let mut len = 0u64;
        for segment in &segments {
            starts.push(len);
            len += segment.len();
        }
        Self {
            segments,
            starts,
            len,
            pos: 0,
            open: None,
        }
    }
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        // The last segment starting at or before `pos`; empty segments are skipped over.
        let index = self.starts.partition_point(|&start| start <= self.pos) - 1;
        let within = self.pos - self.starts[index];
        let segment = &self.segments[index];
        let left = segment.len() - within;
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let read = match segment {
            Segment::Memory(bytes) => {
                // `within < len`, and `len` came from a `usize`.
                let from = within as usize;
                buf[..want].copy_from_slice(&bytes[from..from + want]);
                want
            }
            Segment::File { file, start, .. } => {
                let file_handle = match &mut self.open {
                    Some((open, handle)) if *open == index => handle,
                    slot => &mut slot.insert((index, File::open(&file.path)?)).1,
                };
                file_handle.seek(SeekFrom::Start(start + within))?;
                file_handle.read(&mut buf[..want])?
            }
        };
        self.pos += read as u64;
        Ok(read)
    }
}

impl Seek for ContentReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
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

    /// Counts consumed pieces, and keeps their segments if the retention keeps bytes.
    fn keep(&mut self, batch: Vec<Piece>) {
        for piece in batch {
            self.consumed += piece.len();
            if self.retention.keeps_bytes() {
                self.kept.extend(piece.segments);
            }
        }
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
    async fn kept_bytes_are_hashed_once_complete_and_digest_only_as_they_come() {
        for (retention, deferred) in [(Retention::Memory, true), (Retention::DigestOnly, false)] {
            let file = Assembly::new(Keying::Ordinal, retention, 1);
            file.insert(1, piece(b"ab"));
            file.drain().await;
            file.insert(2, piece(b"c"));

            let digest = file.finish(3).await;

            assert_eq!(digest.is_deferred(), deferred, "{retention:?}");
            assert_eq!(digest.sha256(), hex::encode(Sha256::digest(b"abc")));
        }
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

    /// `bytes` gathered by a [`PartWriter`], `cut` bytes at a time.
    async fn written(bytes: &[u8], cut: usize, spill: Option<&Arc<SpillDir>>) -> Piece {
        let mut writer = PartWriter::new(spill);
        for chunk in bytes.chunks(cut) {
            writer.push(chunk).await;
        }
        writer.finish().await
    }

    fn files_in(dir: &SpillDir) -> usize {
        let path = dir.path().expect("a temporary directory");
        std::fs::read_dir(path).unwrap().count()
    }

    #[tokio::test]
    async fn spilled_pieces_keep_their_bytes_on_disk_and_hash_once_complete() {
        let dir = SpillDir::new();
        let file = Assembly::new(Keying::Offset, Retention::Spill, 0);
        file.write_at(3, written(b"defg", 3, Some(&dir)).await);
        file.write_at(0, written(b"abcd", 1, Some(&dir)).await);

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

    #[tokio::test]
    async fn a_part_larger_than_a_batch_spills_to_one_file_read_back_byte_for_byte() {
        let dir = SpillDir::new();
        let data: Vec<u8> = (0..PartWriter::BATCH * 5 / 2)
            .map(|i| (i * 31 + i / 4093) as u8)
            .collect();

        let piece = written(&data, 70_001, Some(&dir)).await;

        assert_eq!(piece.segments.len(), 1, "{:?}", piece.segments);
        assert_eq!(piece.bytes(), data);
        assert_eq!(files_in(&dir), 1);
        let in_memory = written(&data, 70_001, None).await;
        assert_eq!(in_memory.bytes(), data);
    }

    #[tokio::test]
    async fn dropping_spilled_pieces_removes_their_files_and_the_last_one_the_directory() {
        let dir = SpillDir::new();
        let kept = written(b"kept", 2, Some(&dir)).await;
        let dropped = written(b"dropped", 2, Some(&dir)).await;
        let path = dir.path().unwrap().to_owned();
        assert_eq!(files_in(&dir), 2);

        drop(dropped);
        assert_eq!(files_in(&dir), 1);
        drop(dir);

        assert!(path.exists(), "a piece still in use keeps its directory");
        assert_eq!(kept.bytes(), b"kept");
        drop(kept);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn file_segments_of_one_file_merge_and_skip_into_the_middle() {
        let dir = SpillDir::new();
        let whole = written(b"0123456789", 10, Some(&dir)).await;
        let Some(Segment::File { file, .. }) = whole.segments.first() else {
            panic!("a spilled piece: {:?}", whole.segments);
        };
        let mut piece = Piece::default();
        piece.push_file(file, 0, 4);
        piece.push_file(file, 4, 6);

        let rest = piece.skip(3);

        assert_eq!(rest.segments.len(), 1);
        assert_eq!(rest.bytes(), b"3456789");
    }

    /// Counts this process's open descriptors, which only Linux lists this way; the property
    /// holds everywhere.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn spilled_pieces_hold_no_file_descriptor_once_written() {
        let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let dir = SpillDir::new();
        let before = open();

        let mut pieces = Vec::new();
        for i in 0..100u8 {
            pieces.push(written(&[i; 100], 30, Some(&dir)).await);
        }

        // Other tests of this process may open a few files meanwhile; a descriptor per piece
        // would be a hundred.
        assert!(
            open() <= before + 10,
            "{} descriptors, {before} before",
            open()
        );
        assert_eq!(pieces[99].bytes(), vec![99u8; 100]);
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
