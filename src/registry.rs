//! The registry: the one file outside the vendors' folders that names them.
//!
//! Everything else (the engine, the server, the control plane) reaches a vendor through
//! [`Contract`] and the lists kept here, so a vendor's feature gate and its name appear here and
//! nowhere else. Adding a vendor means a folder that implements the contract and a line in
//! each list below; a build without a vendor's feature leaves its lines out, and a state file
//! or seed that still has its section is read as if the section were not there.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::engine::error::Invalid;
use crate::engine::vendor::Blob;
use crate::engine::vendor::{Context, Contract};
use crate::upload::Digest256;

/// Which emulated API answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// api.video (`/auth`, `/upload-tokens`, `/upload`, `/videos`).
    #[serde(rename = "apivideo")]
    ApiVideo,
    /// Kaltura API v3 (`/api_v3`).
    Kaltura,
}

impl Vendor {
    /// Every vendor this crate knows, compiled in or not.
    pub(crate) const ALL: [Vendor; 2] = [Vendor::ApiVideo, Vendor::Kaltura];

    /// The vendor's name as the admin API and the journal print it, and the name of its
    /// section in a seed or a state file.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::Vendor::ApiVideo.as_str(), "apivideo");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::ApiVideo => "apivideo",
            Vendor::Kaltura => "kaltura",
        }
    }
}

/// Each vendor's settings, as the builder gathers them.
#[derive(Debug, Default)]
pub(crate) struct Configs {
    #[cfg(feature = "apivideo")]
    pub apivideo: crate::apivideo::Config,
    #[cfg(feature = "kaltura")]
    pub kaltura: crate::kaltura::Config,
}

/// The vendors one server emulates.
pub(crate) struct Vendors {
    #[cfg(feature = "apivideo")]
    pub apivideo: Arc<crate::apivideo::Backend>,
    #[cfg(feature = "kaltura")]
    pub kaltura: Arc<crate::kaltura::Backend>,
    /// The same, in the order they are asked whether a request is theirs: api.video answers
    /// every path Kaltura does not own, so it comes last.
    each: Vec<(Vendor, Arc<dyn Contract>)>,
}

impl Vendors {
    /// The vendors compiled into this build, with their settings.
    pub(crate) fn new(configs: Configs, retention: crate::Retention) -> Self {
        let _ = (&configs, retention);
        #[cfg(feature = "kaltura")]
        let kaltura = Arc::new(crate::kaltura::Backend::new(configs.kaltura, retention));
        #[cfg(feature = "apivideo")]
        let apivideo = Arc::new(crate::apivideo::Backend::new(configs.apivideo, retention));
        let each: Vec<(Vendor, Arc<dyn Contract>)> = vec![
            #[cfg(feature = "kaltura")]
            (Vendor::Kaltura, kaltura.clone()),
            #[cfg(feature = "apivideo")]
            (Vendor::ApiVideo, apivideo.clone()),
        ];
        Vendors {
            #[cfg(feature = "apivideo")]
            apivideo,
            #[cfg(feature = "kaltura")]
            kaltura,
            each,
        }
    }

    /// The vendor that owns a request to `path`, if any.
    pub(crate) fn owner(&self, path: &str) -> Option<&Arc<dyn Contract>> {
        self.each
            .iter()
            .find(|(_, vendor)| vendor.owns(path))
            .map(|(_, vendor)| vendor)
    }

    /// One vendor, when it is compiled in.
    pub(crate) fn get(&self, name: Vendor) -> Option<&Arc<dyn Contract>> {
        self.each
            .iter()
            .find(|(vendor, _)| *vendor == name)
            .map(|(_, vendor)| vendor)
    }

    /// Where in a file a recorded request's chunk goes, as its vendor says it
    /// (`Content-Range: part 2/3`, `resumeAt=1048576`).
    pub(crate) fn chunk_of(&self, request: &crate::RecordedRequest) -> Option<String> {
        self.get(request.vendor?)?.chunk_of(request)
    }

    /// Forgets what requests made, in every vendor; credentials stay.
    pub(crate) fn reset(&self) {
        self.each.iter().for_each(|(_, vendor)| vendor.reset());
    }

    /// Every vendor's state, under its name, as the admin API shows it.
    pub(crate) fn state_json(
        &self,
        now: OffsetDateTime,
    ) -> serde_json::Map<String, serde_json::Value> {
        self.sorted()
            .map(|(name, vendor)| (name.as_str().to_owned(), vendor.state_json(now)))
            .collect()
    }

    /// The digest of every completed upload of every vendor.
    pub(crate) fn digests(&self) -> Vec<Digest256> {
        self.each
            .iter()
            .flat_map(|(_, vendor)| vendor.digests())
            .collect()
    }

    /// Every vendor's section of the state file, under its name, and the kept files they name.
    pub(crate) fn snapshot(&self) -> (BTreeMap<String, serde_json::Value>, Vec<Blob>) {
        let mut blobs = Vec::new();
        let sections = self
            .sorted()
            .map(|(name, vendor)| {
                let (json, mut kept) = vendor.snapshot();
                blobs.append(&mut kept);
                (name.as_str().to_owned(), json)
            })
            .collect();
        (sections, blobs)
    }

    /// The vendors in the order their sections are written.
    fn sorted(&self) -> impl Iterator<Item = (Vendor, &Arc<dyn Contract>)> {
        Vendor::ALL
            .into_iter()
            .filter_map(|name| self.get(name).map(|vendor| (name, vendor)))
    }
}

/// Response headers that page code may read across origins, for every vendor compiled in.
pub(crate) fn cors_exposed_headers() -> Vec<&'static str> {
    let lists: &[&[&'static str]] = &[
        #[cfg(feature = "apivideo")]
        crate::apivideo::CORS_EXPOSED_HEADERS,
    ];
    lists.concat()
}

/// A seed: tenants and what they hold at start (README, "Seed file"), each vendor's under its
/// name.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Seed {
    /// Free text for the reader; ignored.
    #[serde(default, rename = "$comment")]
    _comment: Option<String>,
    #[cfg(feature = "apivideo")]
    #[serde(default)]
    apivideo: Option<crate::apivideo::persist::Seed>,
    #[cfg(not(feature = "apivideo"))]
    #[serde(default)]
    apivideo: Option<serde::de::IgnoredAny>,
    #[cfg(feature = "kaltura")]
    #[serde(default)]
    kaltura: Option<crate::kaltura::persist::Seed>,
    #[cfg(not(feature = "kaltura"))]
    #[serde(default)]
    kaltura: Option<serde::de::IgnoredAny>,
}

impl Seed {
    /// Checks what the document's syntax cannot say (ids, secrets, references).
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        #[cfg(feature = "apivideo")]
        if let Some(apivideo) = &self.apivideo {
            apivideo.validate()?;
        }
        #[cfg(feature = "kaltura")]
        if let Some(kaltura) = &self.kaltura {
            kaltura.validate()?;
        }
        Ok(())
    }

    /// Gives each vendor its tenants and what they hold.
    pub(crate) fn apply(&self, vendors: &Vendors, cx: &Context) {
        let now = cx.clock.now();
        let _ = (vendors, now);
        #[cfg(feature = "apivideo")]
        if let Some(apivideo) = &self.apivideo {
            vendors.apivideo.apply_seed(apivideo, &cx.ids, now);
        }
        #[cfg(feature = "kaltura")]
        if let Some(kaltura) = &self.kaltura {
            vendors.kaltura.apply_seed(kaltura, &cx.ids, now);
        }
    }
}

/// The vendors' sections of a state file, read and checked, to be restored when the server
/// starts.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    #[cfg(feature = "apivideo")]
    apivideo: Option<crate::apivideo::persist::Snapshot>,
    #[cfg(feature = "kaltura")]
    kaltura: Option<crate::kaltura::persist::Snapshot>,
}

impl Restored {
    /// Reads each vendor's section; a section of a vendor not compiled in is left alone, and
    /// one of no vendor is an error.
    pub(crate) fn read(sections: BTreeMap<String, serde_json::Value>) -> Result<Self, Invalid> {
        #[allow(unused_mut)]
        let mut restored = Restored::default();
        for (name, json) in sections {
            let Some(vendor) = Vendor::ALL.into_iter().find(|v| v.as_str() == name) else {
                return Err(Invalid::at(&name, "is not a section of a vendor"));
            };
            let section =
                |error: serde_json::Error| Invalid::at(&name, format!("section: {error}"));
            match vendor {
                #[cfg(feature = "apivideo")]
                Vendor::ApiVideo => {
                    restored.apivideo = Some(serde_json::from_value(json).map_err(section)?)
                }
                #[cfg(feature = "kaltura")]
                Vendor::Kaltura => {
                    restored.kaltura = Some(serde_json::from_value(json).map_err(section)?)
                }
                #[allow(unreachable_patterns)]
                _ => {
                    let _ = (json, section);
                }
            }
        }
        Ok(restored)
    }

    /// Puts each vendor's state back; `blob` reads a kept upload's bytes by sha256 and size.
    pub(crate) fn apply(
        self,
        vendors: &Vendors,
        blob: &dyn Fn(&str, u64) -> Option<Bytes>,
        now: OffsetDateTime,
    ) {
        let _ = (vendors, blob, now);
        #[cfg(feature = "apivideo")]
        if let Some(snapshot) = self.apivideo {
            vendors.apivideo.restore(snapshot, blob, now);
        }
        #[cfg(feature = "kaltura")]
        if let Some(snapshot) = self.kaltura {
            vendors.kaltura.restore(snapshot, blob);
        }
    }
}

/// A vendor's fault from the admin API's JSON, by the action's `type`: `None` when the type is
/// no vendor's, an error when the vendor is not compiled in or the action is malformed.
pub(crate) fn fault_from_json(
    kind: &str,
    action: &serde_json::Value,
) -> Option<Result<crate::VendorFault, String>> {
    let _ = action;
    let vendor = match kind {
        "apivideoProblem" => Vendor::ApiVideo,
        "kalturaError" => Vendor::Kaltura,
        _ => return None,
    };
    Some(match vendor {
        #[cfg(feature = "apivideo")]
        Vendor::ApiVideo => {
            crate::apivideo::Problem::from_action(action).map(crate::VendorFault::new)
        }
        #[cfg(feature = "kaltura")]
        Vendor::Kaltura => {
            crate::kaltura::ApiError::from_action(action).map(crate::VendorFault::new)
        }
        #[allow(unreachable_patterns)]
        _ => Err(not_compiled(vendor)),
    })
}

fn not_compiled(vendor: Vendor) -> String {
    format!(
        "vendor {} is not compiled into this build (its feature is off)",
        vendor.as_str()
    )
}

/// The matcher for an operation as the admin API names it: a Kaltura `service.action`, or an
/// api.video operation id (`createToken`).
pub(crate) fn operation(name: &str) -> Result<Box<dyn crate::Match>, String> {
    match name.split_once('.') {
        #[cfg(feature = "kaltura")]
        Some((service, action)) => Ok(Box::new(crate::kaltura::action(service, action))),
        #[cfg(not(feature = "kaltura"))]
        Some(_) => Err(not_compiled(Vendor::Kaltura)),
        #[cfg(feature = "apivideo")]
        None => Ok(Box::new(crate::apivideo::op(name))),
        #[cfg(not(feature = "apivideo"))]
        None => Err(not_compiled(Vendor::ApiVideo)),
    }
}

/// Matchers for an upload token, one per vendor compiled in (api.video's token, Kaltura's
/// upload token id): the rule matches when any does.
pub(crate) fn upload_token(token: &str) -> Vec<Box<dyn crate::Match>> {
    let _ = token;
    vec![
        #[cfg(feature = "apivideo")]
        Box::new(crate::apivideo::upload_token(token)),
        #[cfg(feature = "kaltura")]
        Box::new(crate::kaltura::upload_token(token)),
    ]
}

/// The matcher for an api.video progressive upload's part number (`Content-Range: part n/…`).
pub(crate) fn part(n: u64) -> Result<Box<dyn crate::Match>, String> {
    let _ = n;
    #[cfg(feature = "apivideo")]
    return Ok(Box::new(crate::apivideo::part(n)));
    #[cfg(not(feature = "apivideo"))]
    Err(not_compiled(Vendor::ApiVideo))
}

/// Fuzzing (feature `fuzzing`): a multipart body through every vendor's reader.
#[cfg(feature = "fuzzing")]
pub(crate) async fn fuzz_multipart(body: Bytes, boundary: &str) {
    let _ = (&body, boundary);
    #[cfg(feature = "apivideo")]
    crate::apivideo::fuzzing::multipart(body.clone(), boundary).await;
    #[cfg(feature = "kaltura")]
    crate::kaltura::fuzzing::multipart(body, boundary).await;
}

/// Fuzzing (feature `fuzzing`): placeholders a fuzzed request may hold, and the credential
/// each becomes.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_placeholders() -> Vec<(&'static [u8], String)> {
    vec![
        #[cfg(feature = "kaltura")]
        (
            &b"KS_PLACEHOLDER"[..],
            crate::kaltura::fuzzing::admin_ks().to_owned(),
        ),
    ]
}
