//! File parts of `multipart/form-data` bodies, received around multer's buffer.
//!
//! Both vendors take uploads as multipart bodies whose file part is nearly all of the body.
//! multer copies every byte it reads into a buffer of its own, which for a large part costs more
//! than the rest of the request together. Here multer still parses every boundary and header
//! block, but a file part's bytes go around it ([`Divert`]) as the server's own read buffers,
//! and the [`Coalescer`] copies them once: into blocks kept in memory, or into a write buffer
//! that goes to the spill file while the next one fills, so that a part never sits in memory.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;

use crate::spill::Extent;
use crate::storage::{Piece, Segment};

/// A multipart body read part by part, file parts around multer.
pub(crate) struct Parts {
    multipart: multer::Multipart<'static>,
    side: Arc<std::sync::Mutex<Side>>,
}

impl Parts {
    /// Reads `body`, whose boundary is `boundary`: at most `whole_limit` bytes in all and
    /// `part_limit` in one part.
    pub(crate) fn new(body: Body, boundary: String, whole_limit: u64, part_limit: u64) -> Parts {
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(whole_limit)
                .per_field(part_limit),
        );
        let side = Arc::new(std::sync::Mutex::new(Side::default()));
        let stream = Divert::new(body, &boundary, whole_limit, part_limit, side.clone());
        Parts {
            multipart: multer::Multipart::with_constraints(stream, boundary, constraints),
            side,
        }
    }

    /// The next part. Read it with [`Parts::file`], or after [`Parts::undiverted`].
    pub(crate) async fn next(&mut self) -> multer::Result<Option<multer::Field<'static>>> {
        self.multipart.next_field().await
    }

    /// Whether the body broke a size limit (which multer, not seeing diverted bytes, may not
    /// tell).
    pub(crate) fn too_large(&self) -> bool {
        lock(&self.side).too_large
    }

    /// Lets multer read `field`'s bytes itself (a plain field, or a file to be read whole).
    pub(crate) fn undiverted(&self, field: &multer::Field<'static>) {
        lock(&self.side).decide(field.index(), false);
    }

    /// Reads a file part into `sink`, around multer when none of its bytes has been read yet.
    pub(crate) async fn file(
        &self,
        mut field: multer::Field<'static>,
        sink: &mut Coalescer,
    ) -> multer::Result<()> {
        use futures_util::StreamExt;

        let diverted = lock(&self.side).decide(field.index(), true);
        loop {
            // Hand the diverted bytes over as they come, so that they reach the coalescer (and
            // the disk) while the rest of the part arrives.
            let step = std::future::poll_fn(|cx| match field.poll_next_unpin(cx) {
                std::task::Poll::Ready(item) => std::task::Poll::Ready(Some(item)),
                std::task::Poll::Pending if diverted && lock(&self.side).len > 0 => {
                    std::task::Poll::Ready(None)
                }
                std::task::Poll::Pending => std::task::Poll::Pending,
            })
            .await;
            if diverted {
                let chunks = lock(&self.side).take();
                for chunk in chunks {
                    sink.push(chunk).await;
                }
            }
            match step {
                None => {}
                Some(None) => return Ok(()),
                // multer sees none of a diverted part's bytes; if it did, the two parsers
                // disagree on where the part is, and no byte of it can be trusted.
                Some(Some(Ok(chunk))) if diverted && !chunk.is_empty() => {
                    return Err(multer::Error::IncompleteStream)
                }
                Some(Some(Ok(chunk))) => sink.push(chunk).await,
                Some(Some(Err(error))) => return Err(error),
            }
        }
    }
}

fn lock(side: &std::sync::Mutex<Side>) -> std::sync::MutexGuard<'_, Side> {
    // Every critical section leaves `Side` consistent.
    side.lock().unwrap_or_else(|e| e.into_inner())
}

/// What [`Divert`] shares with the reader of the multipart body.
#[derive(Debug, Default)]
struct Side {
    /// The index of the part whose header block [`Divert`] passed last.
    part: usize,
    /// Whether that part's bytes wait for [`Side::decide`] (none of them has been read).
    undecided: bool,
    /// The reader's answer: whether that part goes around multer.
    divert: Option<bool>,
    /// The diverted bytes not yet taken, in order, and their length.
    data: Vec<Bytes>,
    len: usize,
    /// The body broke a size limit.
    too_large: bool,
}

impl Side {
    /// Called with each part multer hands over: diverts its bytes if it is the file and none
    /// of them has been read. Returns whether they are diverted.
    fn decide(&mut self, index: usize, file: bool) -> bool {
        if !self.undecided || self.part != index {
            return false;
        }
        self.undecided = false;
        self.divert = Some(file);
        file
    }

    fn take(&mut self) -> Vec<Bytes> {
        self.len = 0;
        std::mem::take(&mut self.data)
    }
}

/// Where [`Divert`] is in the body. It follows the body as multer does (multer 3's
/// `StreamingStage`s), so both agree on where every part's header block and bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scan {
    /// Before the first `--boundary`.
    First,
    /// Just past a boundary: `--` ends the body; else padding and CRLF, then headers.
    Boundary,
    /// Past a boundary's first `-`.
    Dash,
    /// In a boundary line's transport padding.
    Padding,
    /// Past a boundary line's CR.
    Cr,
    /// In a header block, until CRLFCRLF.
    Headers,
    /// Past a header block, until the reader says where the part's bytes go.
    Decide,
    /// In a part's bytes, until CRLF `--boundary`; diverted or handed to multer.
    Data { divert: bool },
    /// Past the closing boundary, or lost: everything goes to multer, which has the last word.
    Done,
}

/// A literal searched for in the body.
#[derive(Debug)]
struct Pattern {
    /// A SIMD substring search, built once per body (a literal regex cost about 40 µs of CPU
    /// to build, for every upload request).
    finder: memchr::memmem::Finder<'static>,
}

impl Pattern {
    fn new(bytes: &[u8]) -> Pattern {
        Pattern {
            finder: memchr::memmem::Finder::new(bytes).into_owned(),
        }
    }

    fn len(&self) -> usize {
        self.finder.needle().len()
    }

    fn find(&self, haystack: &[u8]) -> Option<usize> {
        self.finder.find(haystack)
    }

    /// The length of the longest end of `haystack` that begins the pattern (shorter than it).
    fn partial_end(&self, haystack: &[u8]) -> usize {
        let pattern = self.finder.needle();
        let most = pattern.len().saturating_sub(1).min(haystack.len());
        (1..=most)
            .rev()
            .find(|&k| haystack.ends_with(&pattern[..k]))
            .unwrap_or(0)
    }
}

/// The body as multer reads it, with the file part's bytes taken out.
///
/// Every boundary and header block goes to multer as it is, so multer still checks the body and
/// parses each part's headers. Past each header block `Divert` stops once, until the reader has
/// seen the part from multer ([`Side::decide`]): the file part's bytes then go into [`Side`] as
/// the body's own chunks (never copied), and multer sees the part as empty; any other part's
/// bytes go to multer. The body's size limits are enforced here, since multer no longer sees
/// every byte.
struct Divert {
    body: axum::body::BodyDataStream,
    /// Input not scanned yet, in order.
    queue: std::collections::VecDeque<Bytes>,
    /// Scanned input for multer.
    out: std::collections::VecDeque<Bytes>,
    /// The end of the scanned input that may begin the pattern looked for: held back until
    /// the next input tells whether it does.
    tail: Vec<u8>,
    scan: Scan,
    /// Header blocks passed so far (multer's field index of the next part).
    parts: usize,
    /// How many times `Decide` has waited for the reader.
    waits: u32,
    /// `--boundary`, CRLF `--boundary` and CRLFCRLF.
    patterns: [Pattern; 3],
    /// Bytes of the body so far, and of the part being diverted.
    total: u64,
    diverted: u64,
    whole_limit: u64,
    part_limit: u64,
    side: Arc<std::sync::Mutex<Side>>,
    eof: bool,
}

impl Divert {
    /// How much diverted data waits for the reader before the body is read on.
    const WAITING: usize = 1024 * 1024;
    /// How often `Decide` lets multer read on before giving up diverting the part (multer takes
    /// a header block in with at most two reads; past that the parsers disagree).
    const WAITS: u32 = 8;

    fn new(
        body: Body,
        boundary: &str,
        whole_limit: u64,
        part_limit: u64,
        side: Arc<std::sync::Mutex<Side>>,
    ) -> Divert {
        let patterns = [
            Pattern::new(format!("--{boundary}").as_bytes()),
            Pattern::new(format!("\r\n--{boundary}").as_bytes()),
            Pattern::new(b"\r\n\r\n"),
        ];
        Divert {
            body: body.into_data_stream(),
            queue: Default::default(),
            out: Default::default(),
            tail: Vec::new(),
            scan: Scan::First,
            parts: 0,
            waits: 0,
            patterns,
            total: 0,
            diverted: 0,
            whole_limit,
            part_limit,
            side,
            eof: false,
        }
    }

    fn too_large(&self) -> axum::Error {
        lock(&self.side).too_large = true;
        axum::Error::new(std::io::Error::other("the body is too large"))
    }

    /// The next input: put back by a scan, or the body's next chunk.
    fn next_input(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, axum::Error>>> {
        use futures_util::StreamExt;
        use std::task::Poll;
        if let Some(chunk) = self.queue.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if self.eof {
            return Poll::Ready(None);
        }
        match self.body.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.total += chunk.len() as u64;
                if self.total > self.whole_limit {
                    return Poll::Ready(Some(Err(self.too_large())));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                self.eof = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    /// Diverts `bytes` of the current part to the reader.
    fn divert(&mut self, bytes: Bytes) -> Result<(), axum::Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.diverted += bytes.len() as u64;
        if self.diverted > self.part_limit {
            return Err(self.too_large());
        }
        let mut side = lock(&self.side);
        side.len += bytes.len();
        side.data.push(bytes);
        Ok(())
    }

    /// Bytes before a pattern, or that cannot begin it: diverted, or for multer.
    fn settled(&mut self, bytes: Bytes) -> Result<(), axum::Error> {
        if matches!(self.scan, Scan::Data { divert: true }) {
            self.divert(bytes)
        } else {
            if !bytes.is_empty() {
                self.out.push_back(bytes);
            }
            Ok(())
        }
    }

    /// The pattern of the current scan was found (and went to multer).
    fn found(&mut self) {
        self.scan = match self.scan {
            Scan::Headers => {
                let mut side = lock(&self.side);
                side.part = self.parts;
                side.undecided = true;
                side.divert = None;
                self.parts += 1;
                self.waits = 0;
                Scan::Decide
            }
            _ => Scan::Boundary,
        };
    }

    fn find(&self, which: usize, haystack: &[u8]) -> Option<usize> {
        self.patterns[which].find(haystack)
    }

    /// Scans one input.
    fn scan(&mut self, mut chunk: Bytes) -> Result<(), axum::Error> {
        let which = match self.scan {
            Scan::First => 0,
            Scan::Data { .. } => 1,
            Scan::Headers => 2,
            Scan::Boundary | Scan::Dash | Scan::Padding | Scan::Cr => {
                let mut used = 0;
                for &byte in chunk.iter() {
                    used += 1;
                    self.scan = match (self.scan, byte) {
                        (Scan::Boundary, b'-') => Scan::Dash,
                        (Scan::Boundary | Scan::Padding, b' ' | b'\t') => Scan::Padding,
                        (Scan::Boundary | Scan::Padding, b'\r') => Scan::Cr,
                        (Scan::Cr, b'\n') => Scan::Headers,
                        // The closing boundary, or something multer rejects.
                        _ => Scan::Done,
                    };
                    if matches!(self.scan, Scan::Headers | Scan::Done) {
                        break;
                    }
                }
                self.out.push_back(chunk.slice(..used));
                if used < chunk.len() {
                    self.queue.push_front(chunk.slice(used..));
                }
                return Ok(());
            }
            Scan::Decide | Scan::Done => {
                self.out.push_back(chunk);
                return Ok(());
            }
        };
        let len = self.patterns[which].len();
        if !self.tail.is_empty() {
            let tail = std::mem::take(&mut self.tail);
            if chunk.len() < len {
                // Too short to settle the tail on its own: scan both together.
                let mut joined = tail;
                joined.extend_from_slice(&chunk);
                chunk = Bytes::from(joined);
            } else {
                let mut probe = tail.clone();
                probe.extend_from_slice(&chunk[..len - 1]);
                match self.find(which, &probe).filter(|at| *at < tail.len()) {
                    Some(at) => {
                        let end = at + len - tail.len();
                        self.settled(Bytes::copy_from_slice(&tail[..at]))?;
                        probe.truncate(at + len);
                        self.out.push_back(Bytes::from(probe.split_off(at)));
                        if end < chunk.len() {
                            self.queue.push_front(chunk.slice(end..));
                        }
                        self.found();
                        return Ok(());
                    }
                    None => self.settled(Bytes::from(tail))?,
                }
            }
        }
        match self.find(which, &chunk) {
            Some(at) => {
                if matches!(self.scan, Scan::Data { divert: true }) {
                    self.divert(chunk.slice(..at))?;
                    self.out.push_back(chunk.slice(at..at + len));
                } else {
                    self.out.push_back(chunk.slice(..at + len));
                }
                if at + len < chunk.len() {
                    self.queue.push_front(chunk.slice(at + len..));
                }
                self.found();
            }
            None => {
                let keep = self.patterns[which].partial_end(&chunk);
                let settled = chunk.len() - keep;
                self.tail = chunk[settled..].to_vec();
                self.settled(chunk.slice(..settled))?;
            }
        }
        Ok(())
    }
}

impl futures_util::Stream for Divert {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(bytes)));
            }
            match this.scan {
                Scan::Decide => {
                    let divert = lock(&this.side).divert.take();
                    match divert {
                        Some(divert) => {
                            this.scan = Scan::Data { divert };
                            this.diverted = 0;
                        }
                        None if this.waits < Self::WAITS => {
                            // Let multer hand the part over before any of its bytes is read.
                            this.waits += 1;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        None => {
                            lock(&this.side).undecided = false;
                            this.scan = Scan::Data { divert: false };
                        }
                    }
                }
                Scan::Data { divert: true } if lock(&this.side).len >= Self::WAITING => {
                    // Let the reader take what waits.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                _ => {}
            }
            match this.next_input(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(error) = this.scan(chunk) {
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    // The body ended: what was held back goes to multer, which tells whether
                    // the body was complete.
                    let tail = std::mem::take(&mut this.tail);
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(tail))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Gathers a streamed file part: copied into blocks of its own, or, when spilling, into a
/// write buffer that is written to the spill file on the blocking pool while the next one
/// fills.
///
/// The chunks are slices of the server's read buffers; keeping them would keep every buffer
/// they came from alive (easily twice the part's size), and make the server read into fresh
/// memory: every page of it faulted in, and given back to the system when freed. One copy into
/// a buffer that stays hot costs less than that, and lets the server reuse its read buffer at
/// once. A part's bytes go to one region of the spill file reserved for it, which the file
/// system allocates ahead of the writes. A batch that cannot be written is kept in memory:
/// nothing received is lost to a full disk.
pub(crate) struct Coalescer {
    piece: Piece,
    /// In memory: the block being filled.
    current: bytes::BytesMut,
    /// When spilling: the write buffer being filled.
    filling: Vec<u8>,
    /// Whether batches go to the spill file; false once the disk refused one.
    spill: bool,
    /// The region the part is written to, and how much of it is written.
    region: Option<Arc<Extent>>,
    used: u64,
    /// An upper bound on what is left of the part (to size its region).
    left: u64,
    /// The batch being written.
    writing: Option<tokio::task::JoinHandle<Written>>,
}

/// Where a batch was written (its region and offset in it) and its buffer, or the buffer when
/// the disk refused it.
type Written = Result<(Arc<Extent>, u64, Vec<u8>), Vec<u8>>;

/// Write buffers left by finished parts, for the next ones.
static SPARE_BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

impl Coalescer {
    const BLOCK: usize = 1024 * 1024;
    /// What one write takes: large enough that a system call and a thread hand-off are
    /// nothing next to the copy, small enough to stay in the processor's caches between the
    /// copy into it and the write.
    const BATCH: usize = 1024 * 1024;
    /// How many write buffers are kept between parts.
    const SPARES: usize = 4;
    /// The largest region reserved at once, when the part's length is not known.
    const REGION: u64 = 1024 * 1024 * 1024;

    /// `bound`: no more bytes than this are expected (more go to further regions).
    pub(crate) fn new(spill: bool, bound: u64) -> Self {
        Coalescer {
            piece: Piece::default(),
            current: bytes::BytesMut::new(),
            filling: Vec::new(),
            spill,
            region: None,
            used: 0,
            left: bound,
            writing: None,
        }
    }

    fn buffer() -> Vec<u8> {
        let spare = SPARE_BUFFERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        spare.unwrap_or_else(|| Vec::with_capacity(Self::BATCH))
    }

    fn give_back(mut buffer: Vec<u8>) {
        buffer.clear();
        if buffer.capacity() == Self::BATCH {
            let mut spare = SPARE_BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
            if spare.len() < Self::SPARES {
                spare.push(buffer);
            }
        }
    }

    pub(crate) async fn push(&mut self, chunk: Bytes) {
        let mut chunk = &chunk[..];
        while self.spill && !chunk.is_empty() {
            if self.filling.capacity() == 0 {
                self.filling = Self::buffer();
            }
            let room = Self::BATCH - self.filling.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.filling.extend_from_slice(now);
            chunk = later;
            if self.filling.len() >= Self::BATCH {
                self.write_batch(false).await;
            }
        }
        self.keep(chunk);
    }

    /// Copies `chunk` into the blocks kept in memory.
    fn keep(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            if self.current.capacity() == self.current.len() {
                self.flush_block();
                self.current = bytes::BytesMut::with_capacity(Self::BLOCK);
            }
            let room = self.current.capacity() - self.current.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.current.extend_from_slice(now);
            chunk = later;
        }
    }

    fn flush_block(&mut self) {
        if !self.current.is_empty() {
            let block = std::mem::take(&mut self.current).freeze();
            self.piece.segments.push(Segment::Memory(block));
        }
    }

    /// Keeps a batch that could not be written in memory, and the rest of the part with it;
    /// the region's unwritten tail goes back to the spill pool, as nothing more is written to it.
    fn unspill(&mut self, batch: Vec<u8>) {
        self.spill = false;
        if let Some(region) = &self.region {
            region.release_after(self.used);
        }
        if !batch.is_empty() {
            self.piece
                .segments
                .push(Segment::Memory(Bytes::from(batch)));
        }
    }

    /// Waits for the batch being written, and records where it went.
    async fn settle(&mut self) {
        let Some(writing) = self.writing.take() else {
            return;
        };
        match writing.await {
            Ok(Ok((region, at, buffer))) => {
                let len = buffer.len() as u64;
                self.piece.push_file(&region, region.start + at, len);
                self.used = at + len;
                self.left = self.left.saturating_sub(len);
                self.region = Some(region);
                Self::give_back(buffer);
            }
            // The disk refused it: keep it, and the rest of the part, in memory.
            Ok(Err(batch)) => self.unspill(batch),
            // Only a runtime shutting down cancels the write; the request dies with it.
            Err(_) => self.unspill(Vec::new()),
        }
    }

    /// Hands the buffer being filled to a write; `last`: no more will follow.
    async fn write_batch(&mut self, last: bool) {
        self.settle().await;
        let batch = std::mem::take(&mut self.filling);
        if !self.spill {
            // Spilling stopped while this batch gathered.
            return self.unspill(batch);
        }
        let region = self.region.clone();
        let used = self.used;
        if batch.is_empty() {
            if let (Some(region), true) = (region, last) {
                // Only hands the tail to the spill pool: no system call, nothing to wait for.
                region.release_after(used);
            }
            return Self::give_back(batch);
        }
        let len = batch.len() as u64;
        let size = self.left.clamp(len, Self::REGION.max(len));
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let (region, at) = match region {
                Some(region) if used + len <= region.len() => (region, used),
                full => {
                    if let Some(full) = full {
                        full.release_after(used);
                    }
                    match Extent::reserve(size) {
                        Some(region) => (region, 0),
                        None => return Err(batch),
                    }
                }
            };
            if region.write_at(at, &batch).is_err() {
                return Err(batch);
            }
            if last {
                region.release_after(at + len);
            }
            Ok((region, at, batch))
        }));
    }

    pub(crate) async fn finish(mut self) -> Piece {
        if self.spill {
            self.write_batch(true).await;
            self.settle().await;
        }
        self.flush_block();
        self.piece
    }
}
