//! The state file and the seed file: loading at start, atomic saves while serving.
//!
//! This module knows no vendor. Each vendor module owns its own persistence format, and the
//! registry lists them; here the vendors' sections are put side by side in one JSON document
//! with the clock's offset, written atomically, and read back.
//!
//! Durability rule: a request that changed the state is answered only once the state file
//! that holds the change has been renamed into place (see `persisted`, in `server/pipeline.rs`).
//! A save writes a temporary file in the same directory, fsyncs it, renames it over the state
//! file and fsyncs the directory, so a process killed at any instant leaves either the old
//! file or the new one, each complete. Saves are serialised by an async mutex (never held by
//! synchronous code, and no `std::sync` lock is held across its `.await`s); a save whose
//! snapshot equals the last one written writes nothing, so reads cost one serialisation.
//!
//! Uploaded bytes, when the server keeps them ([`crate::Retention::Memory`]), go to
//! `FILE.d/<sha256>` beside the state file, each written (atomically too) before the first
//! state file that names it.

use crate::engine::vendor::Blob;
use crate::upload::Digest256;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::control::Shared;
use crate::engine::error::{Error, Invalid};
use crate::registry::Seed;

/// The `format` field of every state file.
const FORMAT: &str = "vidmock-state";
/// The version of the state file's layout. Version 1 files are read and upgraded (each vendor's
/// `Plugin::upgrade`); saving writes this version.
const VERSION: u32 = 2;

/// The state file as written: the clock offset, then each vendor's own section.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    format: String,
    version: u32,
    /// How far the clock had been advanced, in milliseconds.
    clock_offset_millis: u64,
    /// Each vendor's section, under its name.
    #[serde(flatten)]
    vendors: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A state file read and checked at build time, applied when the server starts.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub clock_offset: Duration,
    pub vendors: crate::registry::Restored,
}

/// Reads the state file at `path`: `Ok(None)` when there is none yet.
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
    let vendors = crate::registry::Restored::read(document.vendors, document.version)
        .map_err(|error| Error::invalid(what(), error))?;
    Ok(Some(Loaded {
        clock_offset: Duration::from_millis(document.clock_offset_millis),
        vendors,
    }))
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
    let mut name = path.as_os_str().to_owned();
    name.push(".d");
    PathBuf::from(name)
}

/// Saves one server's state to its state file.
#[derive(Debug)]
pub(crate) struct Persister {
    /// The state file, exactly as given.
    path: PathBuf,
    /// `PATH.d`, for kept upload bytes.
    blobs: PathBuf,
    /// Held by one save at a time, across its writes. An async mutex: a save awaits the
    /// blocking pool while holding it.
    last: tokio::sync::Mutex<Written>,
}

#[derive(Debug, Default)]
struct Written {
    /// The document last renamed into place.
    json: Option<String>,
    /// Kept files already written to `PATH.d`.
    blobs: HashSet<String>,
}

/// Distinguishes the temporary files of concurrent writers (several servers in one process).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Persister {
    /// The state file, exactly as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            blobs: blob_dir(&path),
            path,
            last: tokio::sync::Mutex::new(Written::default()),
        }
    }

    /// Writes the state if it changed since the last save. Returns once the file holding every
    /// change made before the call is in place.
    pub(crate) async fn save(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        let mut written = self.last.lock().await;
        // Spilled uploads are hashed after their last chunk: finish that off the async threads
        // and outside every lock, before the state names their sha256.
        let digests = digests(shared);
        if !digests.iter().all(Digest256::is_known) {
            tokio::task::spawn_blocking(move || digests.iter().for_each(Digest256::compute))
                .await
                .map_err(std::io::Error::other)?;
        }
        let (json, blobs) = document(shared);
        if written.json.as_deref() == Some(json.as_str()) {
            return Ok(());
        }
        let fresh: Vec<Blob> = blobs
            .into_iter()
            .filter(|blob| !written.blobs.contains(&blob.sha256))
            .collect();
        let path = self.path.clone();
        let dir = self.blobs.clone();
        let bytes = json.clone();
        let names = tokio::task::spawn_blocking(move || write_all(&path, &dir, &bytes, &fresh))
            .await
            .map_err(std::io::Error::other)??;
        written.blobs.extend(names);
        written.json = Some(json);
        Ok(())
    }

    /// A last save from synchronous code (a server dropped without `shutdown`): skipped when a
    /// save is under way, which will have written the state by the time it ends.
    pub(crate) fn save_blocking(&self, shared: &Arc<Shared>) {
        let Ok(mut written) = self.last.try_lock() else {
            return;
        };
        let (json, blobs) = document(shared);
        if written.json.as_deref() == Some(json.as_str()) {
            return;
        }
        let fresh: Vec<Blob> = blobs
            .into_iter()
            .filter(|blob| !written.blobs.contains(&blob.sha256))
            .collect();
        match write_all(&self.path, &self.blobs, &json, &fresh) {
            Ok(names) => {
                written.blobs.extend(names);
                written.json = Some(json);
            }
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot save the state")
            }
        }
    }
}

/// The digest of every completed upload of every vendor.
pub(crate) fn digests(shared: &Shared) -> Vec<Digest256> {
    shared.vendors.digests()
}

/// The whole state as the text of a state file, and the kept files it names.
fn document(shared: &Shared) -> (String, Vec<Blob>) {
    let (vendors, blobs) = shared.vendors.snapshot();
    let document = Document {
        format: FORMAT.to_owned(),
        version: VERSION,
        clock_offset_millis: u64::try_from(shared.cx.clock.offset().as_millis())
            .unwrap_or(u64::MAX),
        vendors,
    };
    // Serialising plain data into a string cannot fail.
    let json = serde_json::to_string_pretty(&document).unwrap_or_default();
    (json, blobs)
}

/// Writes the kept files first, then the state file; returns the kept files written.
fn write_all(path: &Path, dir: &Path, json: &str, blobs: &[Blob]) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    if !blobs.is_empty() {
        std::fs::create_dir_all(dir)?;
    }
    for blob in blobs {
        let target = dir.join(&blob.sha256);
        if !target.exists() {
            if let Some(content) = blob.file.content() {
                write_atomically(&target, &content)?;
            }
        }
        names.push(blob.sha256.clone());
    }
    write_atomically(path, json.as_bytes())?;
    Ok(names)
}

/// Temporary file in the same directory, fsync, rename over `path`, fsync the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let temp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        replace(&temp, path)?;
        #[cfg(unix)]
        if let Ok(dir) = std::fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Renames `from` over `to`. On Windows the rename fails, for a moment, while another process
/// (a reader of the state file, an indexer, a virus scanner) has `to` open: it is tried again
/// a few times, for half a second at most, before the error is returned.
fn replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        /// ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
        const TRANSIENT: [i32; 3] = [5, 32, 33];
        let mut pause = std::time::Duration::from_millis(10);
        for _ in 0..6 {
            match std::fs::rename(from, to) {
                Err(error) if error.raw_os_error().is_some_and(|c| TRANSIENT.contains(&c)) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                done => return done,
            }
        }
    }
    std::fs::rename(from, to)
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
                if let Err(error) = persister.save(&shared).await {
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
