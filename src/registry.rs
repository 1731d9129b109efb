//! The registry: the one file outside the vendors' folders that names them.
//!
//! Everything else (the engine, the server, the control plane) reaches a vendor through
//! [`Contract`] and the lists made here, so a vendor's feature gate and its name appear here and
//! nowhere else. The lists come from one line per vendor at the bottom of this file: its cargo
//! feature (which is also its name in seeds, state files, the admin API and the journal), the
//! field that holds it, its [`Vendor`] constant, and the type that implements [`Plugin`].
//! Adding a vendor is a folder that implements the contract and one more line. A build without
//! a vendor's feature leaves its line out; a seed or state file that still has its section is
//! read as if the section were not there.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::engine::error::Invalid;
use crate::engine::vendor::{Blob, Change, Changes, Context, Contract, Plugin, Vendor};
use crate::upload::Digest256;

/// Makes every list of vendors from one line per vendor (see the module's docs).
macro_rules! vendors {
    ($( $(#[$doc:meta])* $name:literal => $field:ident, $variant:ident, $plugin:ty; )*) => {
        impl Vendor {
            $( $(#[$doc])* pub const $variant: Vendor = Vendor::named($name); )*

            /// Every vendor this crate knows, compiled in or not, in the order requests are
            /// offered to them.
            pub(crate) const ALL: &'static [Vendor] = &[$(Vendor::$variant),*];
        }

        /// Each vendor's settings, as the builder gathers them.
        #[derive(Debug, Default)]
        pub(crate) struct Configs {
            $( #[cfg(feature = $name)] pub $field: <$plugin as Plugin>::Config, )*
        }

        /// The vendors one server emulates.
        pub(crate) struct Vendors {
            $( #[cfg(feature = $name)] pub $field: Arc<$plugin>, )*
            /// The same, in the order they are asked whether a request is theirs.
            each: Vec<(Vendor, Arc<dyn Contract>)>,
        }

        impl Vendors {
            /// The vendors compiled into this build, with their settings.
            pub(crate) fn new(configs: Configs, retention: crate::Retention) -> Self {
                let _ = (&configs, retention);
                $(
                    #[cfg(feature = $name)]
                    let $field = Arc::new(<$plugin as Plugin>::new(configs.$field, retention));
                )*
                let each: Vec<(Vendor, Arc<dyn Contract>)> = vec![
                    $( #[cfg(feature = $name)] (Vendor::$variant, $field.clone()), )*
                ];
                Vendors {
                    $( #[cfg(feature = $name)] $field, )*
                    each,
                }
            }
        }

        /// Response headers that page code may read across origins, for every vendor compiled
        /// in.
        pub(crate) fn cors_exposed_headers() -> Vec<&'static str> {
            let lists: &[&[&'static str]] = &[
                $( #[cfg(feature = $name)] <$plugin as Plugin>::CORS_EXPOSED_HEADERS, )*
            ];
            lists.concat()
        }

        /// A seed: tenants and what they hold at start (README, "Seed file"), each vendor's
        /// under its name.
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct Seed {
            /// Free text for the reader; ignored.
            #[serde(default, rename = "$comment")]
            _comment: Option<String>,
            $(
                #[cfg(feature = $name)]
                #[serde(default, rename = $name)]
                $field: Option<<$plugin as Plugin>::Seed>,
                #[cfg(not(feature = $name))]
                #[serde(default, rename = $name)]
                $field: Option<serde::de::IgnoredAny>,
            )*
        }

        impl Seed {
            /// Checks what the document's syntax cannot say (ids, secrets, references).
            pub(crate) fn validate(&self) -> Result<(), Invalid> {
                $(
                    #[cfg(feature = $name)]
                    if let Some(seed) = &self.$field {
                        <$plugin as Plugin>::validate(seed)?;
                    }
                )*
                Ok(())
            }

            /// Gives each vendor its tenants and what they hold.
            pub(crate) fn apply(&self, vendors: &Vendors, cx: &Context) {
                let _ = (vendors, cx);
                $(
                    #[cfg(feature = $name)]
                    if let Some(seed) = &self.$field {
                        <$plugin as Plugin>::seed(&vendors.$field, seed, cx);
                    }
                )*
            }
        }

        /// The vendors' sections of a state file, read and checked, to be restored when the
        /// server starts.
        #[derive(Debug, Default)]
        pub(crate) struct Restored {
            $( #[cfg(feature = $name)] $field: Option<<$plugin as Plugin>::Snapshot>, )*
            /// Changes saved after the sections, by vendor name, in order.
            changes: Vec<(String, Change)>,
        }

        impl Restored {
            /// Reads each vendor's section; a section of a vendor not compiled in is left
            /// alone, and one of no vendor is an error.
            /// `version` is the file's layout version; older sections are upgraded first.
            pub(crate) fn read(
                sections: BTreeMap<String, serde_json::Value>,
                version: u32,
            ) -> Result<Self, Invalid> {
                #[allow(unused_mut)]
                let mut restored = Restored::default();
                for (name, json) in sections {
                    let section =
                        |error: serde_json::Error| Invalid::at(&name, format!("section: {error}"));
                    match name.as_str() {
                        $(
                            $name => {
                                #[cfg(feature = $name)]
                                {
                                    let mut json = json;
                                    <$plugin as Plugin>::upgrade(&mut json, version);
                                    restored.$field =
                                        Some(serde_json::from_value(json).map_err(section)?);
                                }
                                #[cfg(not(feature = $name))]
                                let _ = (json, section, version);
                            }
                        )*
                        _ => return Err(Invalid::at(&name, "is not a section of a vendor")),
                    }
                }
                Ok(restored)
            }

            /// Adds changes saved after the sections (a vendor not compiled in is left alone).
            pub(crate) fn push_change(&mut self, vendor: String, change: Change) {
                self.changes.push((vendor, change));
            }

            /// Puts each vendor's state back, then replays the changes saved after it; `blob`
            /// reads a kept upload's bytes by sha256 and size.
            pub(crate) fn apply(
                self,
                vendors: &Vendors,
                blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>,
                now: OffsetDateTime,
            ) {
                let _ = (vendors, blob, now);
                $(
                    #[cfg(feature = $name)]
                    if let Some(snapshot) = self.$field {
                        <$plugin as Plugin>::restore(&vendors.$field, snapshot, blob, now);
                    }
                )*
                #[allow(unused_mut)]
                let mut changes = self.changes;
                $(
                    #[cfg(feature = $name)]
                    {
                        let (mine, others) =
                            changes.into_iter().partition::<Vec<_>, _>(|(v, _)| v == $name);
                        changes = others;
                        let mine = mine.into_iter().map(|(_, change)| change).collect();
                        <$plugin as Plugin>::replay(&vendors.$field, mine, blob);
                    }
                )*
                let _ = changes;
            }
        }

        /// A vendor's fault from the admin API's JSON, by the action's `type`: `None` when the
        /// type is no vendor's (of this build), an error when the action is malformed.
        pub(crate) fn fault_from_json(
            kind: &str,
            action: &serde_json::Value,
        ) -> Option<Result<crate::VendorFault, String>> {
            let _ = (kind, action);
            $(
                #[cfg(feature = $name)]
                if let Some(fault) = <$plugin as Plugin>::fault_from_json(kind, action) {
                    return Some(fault);
                }
            )*
            None
        }

        /// Fuzzing (feature `fuzzing`): a multipart body through every vendor's reader.
        #[cfg(feature = "fuzzing")]
        pub(crate) async fn fuzz_multipart(body: bytes::Bytes, boundary: &str) {
            let _ = (&body, boundary);
            $(
                #[cfg(feature = $name)]
                <$plugin as Plugin>::fuzz_multipart(body.clone(), boundary).await;
            )*
        }

        /// Fuzzing (feature `fuzzing`): placeholders a fuzzed request may hold, and the
        /// credential each becomes.
        #[cfg(feature = "fuzzing")]
        pub(crate) fn fuzz_placeholders() -> Vec<(&'static [u8], String)> {
            #[allow(unused_mut)]
            let mut all = Vec::new();
            $(
                #[cfg(feature = $name)]
                all.extend(<$plugin as Plugin>::fuzz_placeholders());
            )*
            all
        }
    };
}

/// An action of the admin API's fault JSON: a vendor's error type (`apivideoProblem`,
/// `kalturaError`) is read by that vendor, any other by the engine's derived reader. Here, not
/// beside [`crate::Action`], so that the engine never calls up into the vendors.
impl<'de> serde::Deserialize<'de> for crate::Action {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let json = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
        let kind = json
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        // A vendor's error format is read by the vendor; the rest is the engine's own.
        if let Some(vendor) = fault_from_json(kind, &json) {
            return vendor.map(crate::Action::Vendor).map_err(D::Error::custom);
        }
        crate::Action::deserialize(json).map_err(D::Error::custom)
    }
}

impl Vendors {
    /// The vendor that owns a request to `path`, if any.
    pub(crate) fn owner(&self, path: &str) -> Option<&Arc<dyn Contract>> {
        self.each
            .iter()
            .find(|(_, vendor)| vendor.owns(path))
            .map(|(_, vendor)| vendor)
    }

    /// The vendor whose name (`Vendor::as_str`) is `name`, when it is compiled in.
    pub(crate) fn named(&self, name: &str) -> Option<&Arc<dyn Contract>> {
        self.each
            .iter()
            .find(|(vendor, _)| vendor.as_str() == name)
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

    /// After a restore, each vendor queues again the deliveries still to come.
    pub(crate) fn resume(&self, cx: &Context) {
        self.each.iter().for_each(|(_, vendor)| vendor.resume(cx));
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

    /// What changed in every vendor's section since the last call: `None` when a vendor's
    /// state was cleared and only a whole snapshot describes it. Else each change under its
    /// vendor's name, the kept files they name, and the digests to compute before the objects
    /// that hold them can be written (those objects stay changed until then).
    #[allow(clippy::type_complexity)]
    pub(crate) fn changes(&self) -> Option<(Vec<(String, Change)>, Vec<Blob>, Vec<Digest256>)> {
        let mut all = (Vec::new(), Vec::new(), Vec::new());
        let mut everything = false;
        for (name, vendor) in self.sorted() {
            match vendor.changes() {
                Changes::Objects {
                    changes,
                    mut blobs,
                    mut unhashed,
                } => {
                    let name = name.as_str();
                    all.0
                        .extend(changes.into_iter().map(|c| (name.to_owned(), c)));
                    all.1.append(&mut blobs);
                    all.2.append(&mut unhashed);
                }
                // The others are still asked, so that their changes are taken too: the whole
                // snapshot that follows holds them.
                Changes::Everything => everything = true,
            }
        }
        (!everything).then_some(all)
    }

    /// The matcher for an operation as the admin API names it (`createToken`,
    /// `uploadtoken.upload`), from the vendor whose form it is.
    pub(crate) fn operation(&self, name: &str) -> Result<Box<dyn crate::Match>, String> {
        self.each
            .iter()
            .find_map(|(_, vendor)| vendor.operation(name))
            .unwrap_or_else(|| {
                Err(format!(
                    "no vendor of this build has an operation named {name:?}"
                ))
            })
    }

    /// A matcher for the requests vendor `name` answers (the first vendor to own a request's
    /// path answers it, as for the server).
    pub(crate) fn owned_by(&self, name: &str) -> Result<Box<dyn crate::Match>, String> {
        let vendor = self
            .each
            .iter()
            .map(|(vendor, _)| *vendor)
            .find(|vendor| vendor.as_str() == name)
            .ok_or_else(|| format!("no vendor of this build is named {name:?}"))?;
        Ok(Box::new(OwnedBy {
            vendor,
            each: self.each.clone(),
        }))
    }

    /// Each vendor's operations and the faults a person reaches for on it, under its name
    /// (`GET /__vidmock/vendors`, which the dashboard reads).
    pub(crate) fn described(&self) -> serde_json::Map<String, serde_json::Value> {
        self.sorted()
            .map(|(name, vendor)| {
                let presets: Vec<serde_json::Value> = vendor
                    .fault_presets()
                    .into_iter()
                    .map(|(label, action)| serde_json::json!({ "name": label, "action": action }))
                    .collect();
                (
                    name.as_str().to_owned(),
                    serde_json::json!({
                        "operations": vendor.operations(),
                        "faultPresets": presets,
                    }),
                )
            })
            .collect()
    }

    /// Every vendor's operations, under its name.
    pub(crate) fn operations(&self) -> serde_json::Map<String, serde_json::Value> {
        self.sorted()
            .map(|(name, vendor)| (name.as_str().to_owned(), vendor.operations().into()))
            .collect()
    }

    /// The uploaded file shown as `id` in the admin state, from whichever vendor has it.
    pub(crate) fn upload(&self, id: &str) -> Option<(String, Arc<crate::upload::Assembly>)> {
        self.each.iter().find_map(|(_, vendor)| vendor.upload(id))
    }

    /// Matchers for an upload token, one per vendor: a rule matches when any does.
    pub(crate) fn upload_token(&self, token: &str) -> Vec<Box<dyn crate::Match>> {
        self.each
            .iter()
            .map(|(_, vendor)| vendor.upload_token(token))
            .collect()
    }

    /// The matcher for an upload's `n`-th part, from the vendor that numbers parts.
    pub(crate) fn part(&self, n: u64) -> Result<Box<dyn crate::Match>, String> {
        self.each
            .iter()
            .find_map(|(_, vendor)| vendor.part(n))
            .ok_or_else(|| "no vendor of this build numbers the parts of an upload".to_owned())
    }

    /// The vendors compiled in, by name (the order their sections are written in).
    fn sorted(&self) -> impl Iterator<Item = (Vendor, &Arc<dyn Contract>)> {
        let mut names: Vec<Vendor> = Vendor::ALL.to_vec();
        names.sort_by_key(|name| name.as_str());
        names
            .into_iter()
            .filter_map(|name| self.get(name).map(|vendor| (name, vendor)))
    }
}

/// Matches the requests one vendor answers: see [`Vendors::owned_by`].
struct OwnedBy {
    vendor: Vendor,
    each: Vec<(Vendor, Arc<dyn Contract>)>,
}

impl crate::Match for OwnedBy {
    fn matches(&self, request: &crate::Request) -> bool {
        let path = request.url.path();
        self.each
            .iter()
            .find(|(_, contract)| contract.owns(path))
            .is_some_and(|(vendor, _)| *vendor == self.vendor)
    }
}

// The vendors, in the order a request is offered to them: Kaltura owns `/api_v3`, and
// api.video answers every other path (an unknown one with its own 404), so it comes last.
vendors! {
    /// Kaltura API v3 (`/api_v3`).
    "kaltura" => kaltura, KALTURA, crate::kaltura::Backend;
    /// api.video (`/auth`, `/upload-tokens`, `/upload`, `/videos`).
    "apivideo" => apivideo, API_VIDEO, crate::apivideo::Backend;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendors() -> Vendors {
        Vendors::new(Configs::default(), crate::Retention::Memory)
    }

    #[test]
    fn a_request_goes_to_the_first_vendor_that_owns_its_path() {
        // Arrange
        let vendors = vendors();
        let owner = |path: &str| {
            let owner = vendors.owner(path).expect("every path has an owner");
            Vendor::ALL
                .iter()
                .copied()
                .find(|name| vendors.get(*name).is_some_and(|v| Arc::ptr_eq(v, owner)))
        };

        // Act
        let kaltura = owner("/api_v3/service/system/action/ping");
        let apivideo = owner("/upload-tokens");
        let unknown = owner("/no/such/route");

        // Assert
        assert_eq!(kaltura, Some(Vendor::KALTURA));
        assert_eq!(apivideo, Some(Vendor::API_VIDEO));
        assert_eq!(unknown, Some(Vendor::API_VIDEO));
    }

    #[test]
    fn a_state_file_section_of_no_vendor_is_refused_with_its_name() {
        // Arrange
        let sections = BTreeMap::from([("vimeo".to_owned(), serde_json::json!({}))]);

        // Act
        let read = Restored::read(sections, 2);

        // Assert
        let error = read.expect_err("an unknown section");
        let message = crate::Error::invalid(crate::Document::Seed, error).to_string();
        assert!(
            message.ends_with("vimeo is not a section of a vendor"),
            "{message}"
        );
    }

    #[test]
    fn each_vendor_reads_only_its_own_fault_types() {
        // Arrange
        let problem = serde_json::json!({"type": "apivideoProblem", "status": 404, "slug": "x", "title": "X"});
        let error = serde_json::json!({"type": "kalturaError", "code": "INVALID_KS"});

        // Act
        let read_problem = fault_from_json("apivideoProblem", &problem);
        let read_error = fault_from_json("kalturaError", &error);
        let read_other = fault_from_json("delay", &serde_json::json!({"type": "delay", "ms": 1}));

        // Assert
        assert!(matches!(read_problem, Some(Ok(_))));
        assert!(matches!(read_error, Some(Ok(_))));
        assert!(read_other.is_none());
    }
}
