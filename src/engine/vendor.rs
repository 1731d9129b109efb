//! The contract between the engine and an emulated vendor.
//!
//! The engine (clock, ids, journal, faults, expectations, storage) and the server know no
//! vendor: they reach one only through [`Contract`], and find it through the registry
//! (`crate::registry`), the one shared file that names them. A vendor gets a small [`Context`]
//! (the clock, the id generator, the base URL and where uploads spill), never the whole server,
//! so that what a vendor can touch is written down here, and a third vendor is a new folder and
//! a line in the registry.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use crate::engine::body::{Request, Response};
use crate::engine::clock::Clock;
use crate::engine::ids::Ids;
use crate::upload::{Assembly, Digest256, SpillDir};

/// Which emulated API answered a request: a vendor's name, as the admin API, the journal, seeds
/// and state files write it. Each vendor's is a constant (`Vendor::API_VIDEO`, `Vendor::KALTURA`),
/// listed with the vendors themselves.
///
/// # Example
///
/// ```
/// let vendor = vidmock::Vendor::KALTURA;
/// assert_eq!(vendor.as_str(), "kaltura");
/// assert_eq!(serde_json::to_value(vendor).unwrap(), "kaltura");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Vendor(&'static str);

impl Vendor {
    /// The vendor named `name` (the registry makes one per vendor).
    pub(crate) const fn named(name: &'static str) -> Vendor {
        Vendor(name)
    }

    /// The vendor's name as the admin API and the journal print it, and the name of its
    /// section in a seed or a state file.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::Vendor::API_VIDEO.as_str(), "apivideo");
    /// ```
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

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
    /// Where a vendor queues the events it sends to its subscribers.
    pub deliveries: crate::engine::deliveries::Deliveries,
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

    /// The answer, as its content type and body, to a request the HTTP layer refuses before any
    /// vendor sees it (`414 URI Too Long`), when the vendor writes its errors its own way; `None`
    /// leaves the HTTP layer's empty answer.
    fn refused_by_transport(&self, _status: http::StatusCode) -> Option<(&'static str, Bytes)> {
        None
    }

    /// Forgets what requests made; credentials stay.
    fn reset(&self);

    /// Its state as the admin API and the dashboard show it.
    fn state_json(&self, now: OffsetDateTime) -> serde_json::Value;

    /// The digest of every completed upload it keeps.
    fn digests(&self) -> Vec<Digest256>;

    /// Its section of the state file, and the kept files the section names.
    fn snapshot(&self) -> Snapshot;

    /// What changed in its section of the state file since the last call (or the last
    /// snapshot): each changed object as the section holds it, so that saving one change costs
    /// the same however large the state.
    fn changes(&self) -> Changes;

    /// For a recorded request that carried part of an upload: which upload (the token or
    /// video it went to), so that expectations can follow one upload's chunks.
    fn chunk_of(&self, request: &crate::RecordedRequest) -> Option<String>;

    /// A matcher for an operation as the admin API names it, when the name is in this vendor's
    /// form (`createToken`, `uploadtoken.upload`).
    /// `None` when the name is not in its form; an error naming its operations when it is in
    /// its form but names none of them (a misspelt operation would never match).
    fn operation(&self, name: &str) -> Option<Result<Box<dyn crate::Match>, String>>;

    /// Every operation name it serves, as the admin API's fault matchers take them
    /// (`createToken`, `uploadtoken.upload`), from its route table.
    fn operations(&self) -> Vec<String>;

    /// The faults a person reaches for on this vendor, each a name and the admin API's fault
    /// `action` JSON (its own error format, a status it answers with): the dashboard offers
    /// them. None by default.
    fn fault_presets(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    /// An uploaded file by the id the admin state shows it under (an api.video video, a
    /// Kaltura upload token or entry): a file name for it, and its bytes.
    fn upload(&self, id: &str) -> Option<(String, Arc<crate::upload::Assembly>)>;

    /// A matcher for requests that carry this vendor's upload token `token`.
    fn upload_token(&self, token: &str) -> Box<dyn crate::Match>;

    /// One of the vendor's own admin actions, `POST /__vidmock/vendors/{vendor}/{path}` with a
    /// JSON body (`Value::Null` when empty), for what a test drives in the vendor's terms (an
    /// encoding finished or failed now). `None` when the vendor has no action at `path`;
    /// otherwise the status and JSON to answer.
    fn admin_action(
        &self,
        _cx: &Context,
        _path: &str,
        _body: &serde_json::Value,
    ) -> Option<(http::StatusCode, serde_json::Value)> {
        None
    }

    /// A `failProcessing` fault applied to `request`, which this vendor is about to handle:
    /// the next processing of an upload (an encoding, a conversion) that the request's tenant
    /// starts must fail as the vendor reports such a failure, this request's own included.
    /// `false` when the vendor processes nothing or cannot tell whose the request is.
    fn fail_next_processing(&self, _cx: &Context, _request: &crate::Request) -> bool {
        false
    }

    /// How the vendor retries an event its subscriber did not accept (one attempt unless it
    /// says otherwise); its deliveries carry it.
    fn delivery_policy(&self) -> crate::engine::deliveries::RetryPolicy {
        crate::engine::deliveries::RetryPolicy::new(1, std::time::Duration::ZERO)
    }

    /// After its state was restored from the state file, queues again the deliveries its
    /// objects will cause later on `cx`'s clock: the queue itself is not kept in the file, and
    /// an event due after the restart must still come. None by default.
    fn resume(&self, _cx: &Context) {}

    /// A matcher for the `n`-th part of an upload, when the vendor numbers parts.
    fn part(&self, _n: u64) -> Option<Box<dyn crate::Match>> {
        None
    }
}

/// What the registry needs to make a vendor and fill it: its settings, its seed and
/// state-file sections, and what it reads of the admin API's fault JSON. The registry lists
/// each vendor once, by the type that implements this; everything else follows from it.
pub(crate) trait Plugin: Contract + Sized {
    /// Settings gathered by the builder (`apivideo_key`, `kaltura_partner`…).
    type Config: Default + std::fmt::Debug;
    /// Its section of a seed.
    type Seed: serde::de::DeserializeOwned + std::fmt::Debug;
    /// Its section of a state file, as [`Contract::snapshot`] writes it.
    type Snapshot: serde::de::DeserializeOwned + std::fmt::Debug;
    /// Response headers page code may read across origins.
    const CORS_EXPOSED_HEADERS: &'static [&'static str] = &[];

    /// The vendor with its settings, before any seed or state.
    fn new(config: Self::Config, retention: crate::Retention) -> Self;

    /// Checks what a seed's syntax cannot say (ids, secrets, references).
    fn validate(seed: &Self::Seed) -> Result<(), crate::engine::error::Invalid>;

    /// Gives it the tenants and objects of its seed section.
    fn seed(&self, seed: &Self::Seed, cx: &Context);

    /// Puts its state-file section back; `blob` reads a kept upload's bytes by sha256 and size.
    fn restore(
        &self,
        snapshot: Self::Snapshot,
        blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
        now: OffsetDateTime,
    );

    /// Applies changes [`Contract::changes`] described, in order, after its section was
    /// restored. A change it cannot read is skipped with a warning (it could only come from a
    /// file edited by hand).
    fn replay(&self, changes: Vec<Change>, blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>);

    /// Moves its section of a state file written by an earlier `version` of the file's layout
    /// to today's, before it is read.
    fn upgrade(section: &mut serde_json::Value, version: u32) {
        let _ = (section, version);
    }

    /// A fault in its own error format, from the admin API's JSON, when `kind` (the action's
    /// `type`) is one of its own.
    fn fault_from_json(
        kind: &str,
        action: &serde_json::Value,
    ) -> Option<Result<crate::VendorFault, String>>;

    /// Fuzzing: reads a multipart body `boundary`-delimited as its own readers do.
    #[cfg(feature = "fuzzing")]
    fn fuzz_multipart(
        _body: bytes::Bytes,
        _boundary: &str,
    ) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Fuzzing: placeholders a fuzzed request may hold, and the credential each becomes.
    #[cfg(feature = "fuzzing")]
    fn fuzz_placeholders() -> Vec<(&'static [u8], String)> {
        Vec::new()
    }
}

/// A completed upload whose bytes are kept, to be written beside the state file.
pub(crate) struct Blob {
    /// Lower-case hex sha256: the file's name under `FILE.d/`.
    pub sha256: String,
    pub file: Arc<Assembly>,
}

/// What a vendor's snapshot yields: its JSON, and the kept files it names.
pub(crate) type Snapshot = (serde_json::Value, Vec<Blob>);

/// One object of a vendor's state-file section that changed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Change {
    /// Which object, in the vendor's own terms (`["video", apiKey, videoId]`).
    pub key: serde_json::Value,
    /// The object as the section holds it; `None` once it is gone.
    pub value: Option<serde_json::Value>,
}

/// What [`Contract::changes`] reports.
pub(crate) enum Changes {
    /// These objects changed (none, when nothing did).
    Objects {
        changes: Vec<Change>,
        /// The kept files the changed objects name.
        blobs: Vec<Blob>,
        /// Finished uploads whose sha256 is not known yet: their objects are left out (and
        /// stay changed) until it is computed, which the caller does off the lock.
        unhashed: Vec<Digest256>,
    },
    /// The state was cleared (a reset): only a whole snapshot describes it.
    Everything,
}
