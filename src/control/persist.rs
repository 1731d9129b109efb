//! The state file and the seed file: loading at start, durable saves while serving.
//!
//! This module knows no vendor. Each vendor module owns its own persistence format, and the
//! registry lists them; here the vendors' sections are put side by side in one JSON document
//! with the clock's offset, and read back.
//!
//! Durability rule: a request that changed the state is answered only once its change is on
//! disk (see `persisted`, in `server/pipeline.rs`). Rewriting the whole state for each change
//! made a change cost more the more the state held, so the state is kept in two files:
//!
//! - **the state file** (`FILE`), a whole snapshot, written atomically: a temporary file with a
//!   random name created exclusively in the same directory (so it never follows a planted
//!   symlink), fsync, rename over the state file, fsync of the directory;
//! - **the change log** (`FILE.log`), one JSON line per object changed since that snapshot
//!   (each vendor names its objects and gives their new value), appended and fsynced (data only)
//!   by each save.
//!
//! A save appends what changed since the last one: its cost follows the size of the change, not
//! of the state. When the log outgrows the snapshot, the background task writes a new snapshot
//! and starts a new log (compaction); a reset and a server's first save do so too. Both files
//! carry a generation number, so a log left over from before the last snapshot (a crash between
//! the two writes) is recognised and ignored. A crash in the middle of an append leaves a torn
//! last line, which was never acknowledged and is dropped on reading.
//!
//! Saves are serialised by an async mutex, and run on the blocking pool; no `std::sync` lock is
//! held across an `.await`. Concurrent requests' changes share one append and one fsync.
//!
//! Uploaded bytes, when the server keeps them ([`crate::Retention::Memory`]), go to
//! `FILE.d/<sha256>` beside the state file, each written (atomically too) before the first
//! snapshot or change that names it.

use crate::engine::vendor::{Blob, Change};
use crate::upload::Digest256;
use std::collections::HashSet;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::control::Shared;
use crate::engine::error::{Error, Invalid};
use crate::registry::Seed;

/// The `format` field of every state file.
const FORMAT: &str = "vidmock-state";
/// The `format` field of the first line of every change log.
const LOG_FORMAT: &str = "vidmock-state-log";
/// The version of the state file's layout. Version 1 files are read and upgraded (each vendor's
/// `Plugin::upgrade`); saving writes this version.
const VERSION: u32 = 2;
/// The log is compacted once it is larger than this and than the snapshot.
const COMPACT_ABOVE: u64 = 4 << 20;

/// The state file as written: the clock offset, then each vendor's own section.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    format: String,
    version: u32,
    /// How far the clock had been advanced, in milliseconds.
    clock_offset_millis: u64,
    /// Which change log continues this snapshot (0 in files written before there was one).
    #[serde(default)]
    generation: u64,
    /// Each vendor's section, under its name.
    #[serde(flatten)]
    vendors: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One line of the change log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Line {
    /// The first line: which snapshot the log continues.
    Header { format: String, generation: u64 },
    /// An object of a vendor's section changed.
    Change {
        vendor: String,
        key: serde_json::Value,
        #[serde(default)]
        value: Option<serde_json::Value>,
    },
    /// The clock was advanced.
    Clock {
        #[serde(rename = "clockOffsetMillis")]
        clock_offset_millis: u64,
    },
}

/// A state file read and checked at build time, applied when the server starts.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub clock_offset: Duration,
    pub vendors: crate::registry::Restored,
}

/// Reads the state file at `path`, and the changes its log holds: `Ok(None)` when there is no
/// state file yet.
pub(crate) fn load(path: &Path) -> Result<Option<Loaded>, Error> {
    let what = || crate::Document::StateFile(path.to_path_buf());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                document: what(),
                source,
            })
        }
    };
    let document: Document =
        serde_json::from_str(&text).map_err(|error| Error::json(what(), &error))?;
    if document.format != FORMAT || !(1..=VERSION).contains(&document.version) {
        return Err(Error::invalid(
            what(),
            Invalid::whole(format!(
                "expected format {FORMAT:?} version 1 to {VERSION}, found {:?} version {}",
                document.format, document.version
            )),
        ));
    }
    let mut vendors = crate::registry::Restored::read(document.vendors, document.version)
        .map_err(|error| Error::invalid(what(), error))?;
    let mut clock_offset = Duration::from_millis(document.clock_offset_millis);
    let log = log_path(path);
    let lines = match std::fs::File::open(&log) {
        Ok(file) => read_log(file, document.generation)
            .map_err(|error| Error::invalid(crate::Document::StateFile(log.clone()), error))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Read {
                document: crate::Document::StateFile(log),
                source,
            })
        }
    };
    for line in lines {
        match line {
            Line::Change { vendor, key, value } => {
                vendors.push_change(vendor, Change { key, value })
            }
            Line::Clock {
                clock_offset_millis,
            } => clock_offset = clock_offset.max(Duration::from_millis(clock_offset_millis)),
            Line::Header { .. } => {}
        }
    }
    Ok(Some(Loaded {
        clock_offset,
        vendors,
    }))
}

/// The lines of a change log that continues snapshot `generation`: none when it continues
/// another one. A last line that does not parse was torn by a crash mid-append (and never
/// acknowledged): it is dropped. Any other line that does not parse is an error.
fn read_log(file: std::fs::File, generation: u64) -> Result<Vec<Line>, Invalid> {
    let mut lines = std::io::BufReader::new(file).lines().enumerate().peekable();
    let mut read = Vec::new();
    let header = match lines.next() {
        Some((_, Ok(text))) => serde_json::from_str::<Line>(&text).ok(),
        _ => None,
    };
    match header {
        Some(Line::Header {
            format,
            generation: of,
        }) if format == LOG_FORMAT => {
            if of != generation {
                return Ok(read);
            }
        }
        // An empty or torn first line: nothing was ever appended after it.
        _ => return Ok(read),
    }
    while let Some((number, text)) = lines.next() {
        let last = lines.peek().is_none();
        let parsed = text
            .map_err(|error| error.to_string())
            .and_then(|text| serde_json::from_str::<Line>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(line) => read.push(line),
            Err(_) if last => break,
            Err(error) => {
                return Err(Invalid::whole(format!(
                    "line {} is not a change: {error}",
                    number + 1
                )))
            }
        }
    }
    Ok(read)
}

/// Reads the kept bytes of a completed upload from `dir/<sha256>`; `None` when the file is
/// missing or not `size` bytes long.
pub(crate) fn read_blob(dir: &Path, sha256: &str, size: u64) -> Option<Bytes> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = std::fs::read(dir.join(sha256)).ok()?;
    (bytes.len() as u64 == size).then(|| Bytes::from(bytes))
}

/// Where the kept bytes of the state file at `path` go: `PATH.d`.
pub(crate) fn blob_dir(path: &Path) -> PathBuf {
    beside(path, ".d")
}

/// The change log of the state file at `path`: `PATH.log`.
pub(crate) fn log_path(path: &Path) -> PathBuf {
    beside(path, ".log")
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Saves one server's state to its state file and change log.
#[derive(Debug)]
pub(crate) struct Persister {
    /// The state file, exactly as given.
    path: PathBuf,
    /// `PATH.d`, for kept upload bytes.
    blobs: PathBuf,
    /// Held by one save at a time, across its writes. An async mutex: a save holds it while it
    /// runs on the blocking pool.
    last: Arc<tokio::sync::Mutex<Written>>,
    /// The log is compacted once it is larger than this and than the snapshot.
    compact_above: u64,
}

#[derive(Debug, Default)]
struct Written {
    /// The log that continues the last snapshot; `None` until the first snapshot, and after a
    /// failed append (the next save writes a snapshot).
    log: Option<Log>,
    /// The generation of the last snapshot.
    generation: u64,
    /// The clock offset last written, in milliseconds.
    clock_millis: u64,
    /// Kept files already written to `PATH.d`.
    blobs: HashSet<String>,
}

#[derive(Debug)]
struct Log {
    file: std::fs::File,
    /// Bytes in the log, and in the snapshot it continues.
    bytes: u64,
    snapshot_bytes: u64,
}

/// What a save writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// What changed since the last save (a snapshot when there is no log yet).
    Changes,
    /// What changed, then a snapshot if the log has grown past it.
    Maintain,
    /// A snapshot.
    Snapshot,
}

impl Persister {
    /// The state file, exactly as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            blobs: blob_dir(&path),
            path,
            last: Arc::new(tokio::sync::Mutex::new(Written::default())),
            compact_above: COMPACT_ABOVE,
        }
    }

    /// Writes what changed since the last save. Returns once every change made before the call
    /// is on disk.
    pub(crate) async fn save(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        self.run(shared, Mode::Changes).await
    }

    /// Writes a whole snapshot and starts a new log (at a clean shutdown).
    pub(crate) async fn snapshot(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        self.run(shared, Mode::Snapshot).await
    }

    /// Writes what changed, and compacts the log once it has outgrown the snapshot.
    async fn maintain(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        self.run(shared, Mode::Maintain).await
    }

    async fn run(&self, shared: &Arc<Shared>, mode: Mode) -> std::io::Result<()> {
        let mut written = self.last.clone().lock_owned().await;
        let (shared, path, blobs) = (shared.clone(), self.path.clone(), self.blobs.clone());
        let compact_above = self.compact_above;
        tokio::task::spawn_blocking(move || {
            let files = Files {
                path: &path,
                blobs: &blobs,
                compact_above,
            };
            files.save(&mut written, &shared, mode)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// A last save from synchronous code (a server dropped without `shutdown`): skipped when a
    /// save is under way, which will have written the state by the time it ends.
    pub(crate) fn save_blocking(&self, shared: &Arc<Shared>) {
        let Ok(mut written) = self.last.try_lock() else {
            return;
        };
        let files = Files {
            path: &self.path,
            blobs: &self.blobs,
            compact_above: self.compact_above,
        };
        if let Err(error) = files.save(&mut written, shared, Mode::Changes) {
            tracing::warn!(path = %self.path.display(), %error, "cannot save the state");
        }
    }
}

/// The files of one state file, for the synchronous work of a save.
struct Files<'a> {
    path: &'a Path,
    blobs: &'a Path,
    compact_above: u64,
}

impl Files<'_> {
    fn save(&self, written: &mut Written, shared: &Shared, mode: Mode) -> std::io::Result<()> {
        if mode == Mode::Snapshot || written.log.is_none() {
            return self.snapshot(written, shared);
        }
        let Some((lines, blobs)) = changes(shared) else {
            return self.snapshot(written, shared);
        };
        let mut text = String::new();
        for (vendor, change) in lines {
            let line = Line::Change {
                vendor,
                key: change.key,
                value: change.value,
            };
            push_line(&mut text, &line);
        }
        let clock_millis = clock_millis(shared);
        if clock_millis != written.clock_millis {
            push_line(
                &mut text,
                &Line::Clock {
                    clock_offset_millis: clock_millis,
                },
            );
        }
        if !text.is_empty() {
            self.write_blobs(written, &blobs)?;
            let appended = written
                .log
                .as_mut()
                .map_or(Ok(()), |log| log.append(text.as_bytes()));
            if let Err(error) = appended {
                // The changes taken are in no file: the next save writes them in a snapshot.
                written.log = None;
                return Err(error);
            }
            written.clock_millis = clock_millis;
        }
        let due = written
            .log
            .as_ref()
            .is_some_and(|log| log.bytes > self.compact_above && log.bytes > log.snapshot_bytes);
        if mode == Mode::Maintain && due {
            self.snapshot(written, shared)?;
        }
        Ok(())
    }

    /// Writes the whole state and starts a new, empty log.
    fn snapshot(&self, written: &mut Written, shared: &Shared) -> std::io::Result<()> {
        // Changes taken now are in the snapshot taken after them.
        let _ = shared.vendors.changes();
        // Finished uploads are hashed before the snapshot names their sha256.
        shared.vendors.digests().iter().for_each(Digest256::compute);
        let generation = written.generation + 1;
        let clock_millis = clock_millis(shared);
        let (vendors, blobs) = shared.vendors.snapshot();
        let document = Document {
            format: FORMAT.to_owned(),
            version: VERSION,
            clock_offset_millis: clock_millis,
            generation,
            vendors,
        };
        // Serialising plain data into a string cannot fail.
        let json = serde_json::to_string_pretty(&document).unwrap_or_default();
        self.write_blobs(written, &blobs)?;
        written.log = None;
        write_atomically(self.path, json.as_bytes())?;
        let mut header = String::new();
        push_line(
            &mut header,
            &Line::Header {
                format: LOG_FORMAT.to_owned(),
                generation,
            },
        );
        let mut file = write_atomically(&log_path(self.path), header.as_bytes())?;
        file.seek(std::io::SeekFrom::End(0))?;
        written.log = Some(Log {
            file,
            bytes: header.len() as u64,
            snapshot_bytes: json.len() as u64,
        });
        written.generation = generation;
        written.clock_millis = clock_millis;
        Ok(())
    }

    /// Writes the kept files not written yet.
    fn write_blobs(&self, written: &mut Written, blobs: &[Blob]) -> std::io::Result<()> {
        for blob in blobs {
            if written.blobs.contains(&blob.sha256) {
                continue;
            }
            std::fs::create_dir_all(self.blobs)?;
            let target = self.blobs.join(&blob.sha256);
            if !target.exists() {
                if let Some(content) = blob.file.content() {
                    write_atomically(&target, &content)?;
                }
            }
            written.blobs.insert(blob.sha256.clone());
        }
        Ok(())
    }
}

impl Log {
    /// Appends `bytes` and waits until they are on disk.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.sync_data()?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

/// Every vendor's changes as log lines, hashing first the finished uploads they wait for;
/// `None` when only a snapshot describes the state (a reset).
#[allow(clippy::type_complexity)]
fn changes(shared: &Shared) -> Option<(Vec<(String, Change)>, Vec<Blob>)> {
    let (mut lines, mut blobs, unhashed) = shared.vendors.changes()?;
    if !unhashed.is_empty() {
        // Off every lock; the objects waiting for these stay changed, and are taken now.
        unhashed.iter().for_each(Digest256::compute);
        let (mut more, mut kept, _) = shared.vendors.changes()?;
        lines.append(&mut more);
        blobs.append(&mut kept);
    }
    Some((lines, blobs))
}

fn push_line(text: &mut String, line: &Line) {
    // Serialising plain data cannot fail.
    text.push_str(&serde_json::to_string(line).unwrap_or_default());
    text.push('\n');
}

fn clock_millis(shared: &Shared) -> u64 {
    u64::try_from(shared.cx.clock.offset().as_millis()).unwrap_or(u64::MAX)
}

/// The digest of every completed upload of every vendor.
pub(crate) fn digests(shared: &Shared) -> Vec<Digest256> {
    shared.vendors.digests()
}

/// Writes `bytes` to a temporary file created exclusively, with a random name, in `path`'s
/// directory (never following a symlink planted there), fsyncs it, renames it over `path` and
/// fsyncs the directory. Returns the file, open for writing.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<std::fs::File> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    let file = replace(temp, path)?;
    #[cfg(unix)]
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(file)
}

/// Renames `temp` over `to` (a temporary file that is not renamed is removed). On Windows the
/// rename fails, for a moment, while another process (a reader of the state file, an indexer,
/// a virus scanner) has `to` open: it is tried again a few times, for half a second at most,
/// before the error is returned.
fn replace(temp: tempfile::NamedTempFile, to: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(windows)]
    let temp = {
        /// ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
        const TRANSIENT: [i32; 3] = [5, 32, 33];
        let mut temp = temp;
        let mut pause = std::time::Duration::from_millis(10);
        for _ in 0..6 {
            match temp.persist(to) {
                Err(error)
                    if error
                        .error
                        .raw_os_error()
                        .is_some_and(|c| TRANSIENT.contains(&c)) =>
                {
                    temp = error.file;
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                done => return done.map_err(|error| error.error),
            }
        }
        temp
    };
    temp.persist(to).map_err(|error| error.error)
}

/// Saves every `interval` while the server runs, so changes made through the Rust API (not
/// over HTTP) reach the file too; stops when `stop` is cancelled.
pub(crate) async fn background(
    shared: Arc<Shared>,
    persister: Arc<Persister>,
    interval: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = persister.maintain(&shared).await {
                    tracing::warn!(%error, "cannot save the state");
                }
            }
        }
    }
}

/// Parses and checks a seed document; `what` names it in errors.
pub(crate) fn parse_seed(text: &str, what: crate::Document) -> Result<Seed, Error> {
    let seed: Seed =
        serde_json::from_str(text).map_err(|error| Error::json(what.clone(), &error))?;
    seed.validate().map_err(|e| Error::invalid(what, e))?;
    Ok(seed)
}

/// Reads and checks the seed file at `path`.
pub(crate) fn read_seed(path: &Path) -> Result<Seed, Error> {
    let what = crate::Document::SeedFile(path.to_path_buf());
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        document: what.clone(),
        source,
    })?;
    parse_seed(&text, what)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::{header, Method};
    use tower::ServiceExt;

    use super::*;
    use crate::engine::body::Body;

    fn shared() -> Arc<Shared> {
        crate::server::MockServerBuilder::shared_for_tests()
    }

    async fn create_token(shared: &Arc<Shared>) {
        let request = http::Request::builder()
            .method(Method::POST)
            .uri("/upload-tokens")
            .header(header::HOST, "127.0.0.1:8484")
            // The default project's key, `vidmock-api-key:`.
            .header(header::AUTHORIZATION, "Basic dmlkbW9jay1hcGkta2V5Og==")
            .body(Body::from("{}"))
            .expect("a valid request");
        let response = crate::server::app(shared.clone())
            .oneshot(request)
            .await
            .expect("the pipeline never fails");
        assert_eq!(response.status(), http::StatusCode::OK);
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn each_save_appends_only_what_changed_and_a_grown_log_is_compacted_into_the_state_file()
    {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut persister = Persister::new(path.clone());
        persister.compact_above = 2048;
        let server = shared();
        persister.save(&server).await.unwrap();

        // Act
        create_token(&server).await;
        persister.save(&server).await.unwrap();
        let after_one = lines(&log_path(&path));
        persister.save(&server).await.unwrap();
        let after_nothing = lines(&log_path(&path));
        for _ in 0..20 {
            create_token(&server).await;
            persister.save(&server).await.unwrap();
        }
        let before_compaction = lines(&log_path(&path)).len();
        persister.maintain(&server).await.unwrap();

        // Assert
        assert_eq!(
            after_one.len(),
            3,
            "header, the token and its project: {after_one:?}"
        );
        assert!(after_one[1].contains(r#""vendor":"#), "{}", after_one[1]);
        assert_eq!(
            after_nothing, after_one,
            "a save with no change writes nothing"
        );
        assert_eq!(before_compaction, 1 + 2 * 21);
        assert_eq!(lines(&log_path(&path)).len(), 1, "a new log, header only");
        let restored = load(&path).unwrap().expect("a state file");
        let fresh = shared();
        restored
            .vendors
            .apply(&fresh.vendors, &|_, _| None, fresh.cx.clock.now());
        let state = fresh.vendors.state_json(fresh.cx.clock.now());
        let tokens = state
            .values()
            .find_map(|section| section["projects"][0]["uploadTokens"].as_array())
            .expect("the section with projects");
        assert_eq!(tokens.len(), 21);
    }

    #[test]
    fn a_torn_last_line_is_dropped_a_log_of_another_snapshot_is_ignored_and_a_bad_line_is_refused()
    {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("state.json.log");
        let header = r#"{"format":"vidmock-state-log","generation":3}"#;
        let change = r#"{"vendor":"some-vendor","key":{"access":"a"},"value":null}"#;
        let read = |text: &str, generation| {
            std::fs::write(&log, text).unwrap();
            read_log(std::fs::File::open(&log).unwrap(), generation)
        };

        let torn = read(&format!("{header}\n{change}\n{{\"vendor\":\"api"), 3);
        let other = read(&format!("{header}\n{change}\n"), 4);
        let bad = read(&format!("{header}\nnot json\n{change}\n"), 3);

        assert_eq!(torn.map(|lines| lines.len()).ok(), Some(1));
        assert_eq!(other.map(|lines| lines.len()).ok(), Some(0));
        assert!(bad.is_err_and(|e| e.message.contains("line 2")));
    }
}
