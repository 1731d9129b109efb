//! The contract between the engine and an emulated vendor.
//!
//! The engine (clock, ids, journal, faults, expectations, storage) and the server know no
//! vendor: they reach one only through [`Contract`], and find it through the registry
//! (`crate::registry`), the one shared file that names them. A vendor gets a small [`Context`]
//! (the clock, the id generator, the base URL and where uploads spill), never the whole server,
//! so that what a vendor can touch is written down here, and a third vendor is a new folder and
//! a line in the registry.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use crate::engine::body::{Request, Response};
use crate::engine::clock::Clock;
use crate::engine::ids::Ids;
use crate::upload::{Assembly, Digest256, SpillDir};

/// What a vendor reads of the server it runs in.
#[derive(Debug)]
pub(crate) struct Context {
    /// Every expiry reads this clock.
    pub clock: Clock,
    /// The one id generator of this server (seedable).
    pub ids: Ids,
    /// `http://HOST:PORT` of this server, used in URLs it hands out.
    pub base_url: String,
    /// With [`crate::Retention::Spill`]: where this server's uploads are spilled (a temporary
    /// directory, made on first use and removed when the server is dropped).
    pub spill: Option<Arc<SpillDir>>,
}

/// What every emulated vendor does for the engine: answer the requests it owns, and give its
/// state to be reset, listed, saved and checked.
pub(crate) trait Contract: Send + Sync + 'static {
    /// Whether the request to `path` is this vendor's. The registry asks the vendors in its
    /// order; the last one may own every path (its answer to an unknown one is the vendor's own
    /// 404).
    fn owns(&self, path: &str) -> bool;

    /// Answers a request it owns.
    fn handle(self: Arc<Self>, cx: Arc<Context>, request: Request) -> BoxFuture<'static, Response>;

    /// Whether it answers preflights and sets CORS headers itself, as the vendor does, so that
    /// the server's CORS layer leaves its requests alone.
    fn answers_cors(&self) -> bool {
        false
    }

    /// Forgets what requests made; credentials stay.
    fn reset(&self);

    /// Its state as the admin API and the dashboard show it.
    fn state_json(&self, now: OffsetDateTime) -> serde_json::Value;

    /// The digest of every completed upload it keeps.
    fn digests(&self) -> Vec<Digest256>;

    /// Its section of the state file, and the kept files the section names.
    fn snapshot(&self) -> Snapshot;

    /// For a recorded request that carried part of an upload: which upload (the token or
    /// video it went to), so that expectations can follow one upload's chunks.
    fn chunk_of(&self, request: &crate::RecordedRequest) -> Option<String>;
}

/// A completed upload whose bytes are kept, to be written beside the state file.
pub(crate) struct Blob {
    /// Lower-case hex sha256: the file's name under `FILE.d/`.
    pub sha256: String,
    pub file: Arc<Assembly>,
}

/// What a vendor's snapshot yields: its JSON, and the kept files it names.
pub(crate) type Snapshot = (serde_json::Value, Vec<Blob>);
