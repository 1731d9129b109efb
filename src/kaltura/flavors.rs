//! The `flavorAsset` and `conversionProfile` services: what an integration reads once its entry
//! is READY (which flavors exist, in which status, and where to fetch them), and the one
//! conversion profile that made them.
//!
//! Flavors live on their entry (`StoredEntry::flavors`, made by `lifecycle`); a flavor is found
//! by id across the partner's entries that are not deleted, as `assetPeer::retrieveById`
//! finds it (FlavorAssetService.php, `getAction`).

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::lifecycle::{flavor_status, StoredFlavor, DEFAULT_CONVERSION_PROFILE_ID};
use super::pager::Pager;
use super::params::Args;
use super::store::{EntryStatus, StoredEntry, Tenant};
use super::wire::{self, Out};

fn required(session: Option<Session>) -> Result<Session, ApiError> {
    session.ok_or_else(|| ApiError::new("MISSING_KS", &[]))
}

fn flavor_not_found(id: &str) -> ApiError {
    ApiError::new("FLAVOR_ASSET_ID_NOT_FOUND", &[id])
}

/// The flavor `id` of the partner, with its entry.
fn find<'t>(tenant: Option<&'t Tenant>, id: &str) -> Option<(&'t StoredEntry, &'t StoredFlavor)> {
    tenant?
        .entries
        .values()
        .filter(|e| e.status != EntryStatus::Deleted)
        .find_map(|e| e.flavors.iter().find(|f| f.id == id).map(|f| (e, f)))
}

/// `flavorAsset.get(id)`.
pub(crate) struct Get {
    id: String,
}

impl Action for Get {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("id")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        find(tenants.get(&session.partner_id), &self.id)
            .map(|(e, f)| wire::flavor_asset(f, &e.id, e.partner_id))
            .ok_or_else(|| flavor_not_found(&self.id))
    }
}

/// The common fields of `KalturaFlavorAssetFilter`, as read.
#[derive(Default)]
struct FlavorFilter {
    entry_id_equal: Option<String>,
    entry_id_in: Option<String>,
    status_equal: Option<i64>,
    status_in: Option<String>,
    flavor_params_id_equal: Option<i64>,
    flavor_params_id_in: Option<String>,
}

/// A comma-separated filter value; empty means "not set".
fn listed(value: Option<&str>) -> Option<Vec<&str>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::trim).collect())
}

impl FlavorFilter {
    fn read(args: &Args<'_>) -> Result<Self, ApiError> {
        let Some(f) = args.object("filter")? else {
            return Ok(Self::default());
        };
        Ok(Self {
            entry_id_equal: f.string("entryIdEqual")?.filter(|v| !v.is_empty()),
            entry_id_in: f.string("entryIdIn")?,
            status_equal: f.int("statusEqual"),
            status_in: f.string("statusIn")?,
            flavor_params_id_equal: f.int("flavorParamsIdEqual"),
            flavor_params_id_in: f.string("flavorParamsIdIn")?,
        })
    }

    fn matches(&self, entry: &StoredEntry, flavor: &StoredFlavor) -> bool {
        let status = flavor.status.to_string();
        let params = flavor.flavor_params_id.to_string();
        self.entry_id_equal
            .as_ref()
            .is_none_or(|id| *id == entry.id)
            && listed(self.entry_id_in.as_deref())
                .is_none_or(|ids| ids.contains(&entry.id.as_str()))
            && self.status_equal.is_none_or(|s| s == flavor.status)
            && listed(self.status_in.as_deref()).is_none_or(|s| s.contains(&status.as_str()))
            && self
                .flavor_params_id_equal
                .is_none_or(|p| p == flavor.flavor_params_id)
            && listed(self.flavor_params_id_in.as_deref())
                .is_none_or(|p| p.contains(&params.as_str()))
    }
}

/// `flavorAsset.list(filter = null, pager = null)`: the partner's flavors of entries that are
/// not deleted, in their entries' creation order.
pub(crate) struct List {
    filter: FlavorFilter,
    pager: Pager,
}

impl Action for List {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            filter: FlavorFilter::read(&args)?,
            pager: Pager::read(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        let matched: Vec<(&StoredEntry, &StoredFlavor)> = tenants
            .get(&session.partner_id)
            .map(|t| {
                t.entries
                    .values()
                    .filter(|e| e.status != EntryStatus::Deleted)
                    .flat_map(|e| e.flavors.iter().map(move |f| (e, f)))
                    .filter(|(e, f)| self.filter.matches(e, f))
                    .collect()
            })
            .unwrap_or_default();
        let total = matched.len();
        let page = self
            .pager
            .page(matched)
            .into_iter()
            .map(|(e, f)| wire::flavor_asset(f, &e.id, e.partner_id))
            .collect();
        Ok(wire::list_response(
            "KalturaFlavorAssetListResponse",
            page,
            total,
        ))
    }
}

/// `flavorAsset.getUrl(id, storageId = null, forceProxy = false, options = null)` (`GET_URL`)
/// and `flavorAsset.getDownloadUrl(id, useCdn = false)` (`DOWNLOAD_URL`).
pub(crate) struct GetUrl<const DOWNLOAD: bool> {
    id: String,
}

impl<const DOWNLOAD: bool> Action for GetUrl<DOWNLOAD> {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let id = args.required_string("id")?;
        if DOWNLOAD {
            args.bool("useCdn", false);
        } else {
            args.optional_int("storageId");
            args.bool("forceProxy", false);
        }
        Ok(Self { id })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        let (entry, flavor) = find(tenants.get(&session.partner_id), &self.id)
            .ok_or_else(|| flavor_not_found(&self.id))?;
        if flavor.status != flavor_status::READY {
            return Err(ApiError::new("FLAVOR_ASSET_IS_NOT_READY", &[]));
        }
        let base = &call.served.cx.base_url;
        let partner_path = format!("{base}/p/{0}/sp/{0}00", entry.partner_id);
        let url = if DOWNLOAD {
            // `asset::getFinalDownloadUrlPathWithoutKs`.
            format!(
                "{partner_path}/download/entry_id/{}/flavor/{}",
                entry.id, flavor.id
            )
        } else {
            // `flavorAsset::getPlayManifestUrl`, which names the flavor and its extension.
            let protocol = base.split("://").next().unwrap_or("http");
            format!(
                "{partner_path}/playManifest/entryId/{}/flavorId/{}/protocol/{protocol}/format/url/a.{}",
                entry.id, flavor.id, flavor.file_ext
            )
        };
        Ok(Out::Str(url))
    }
}

/// `conversionProfile.get(id)`: the default profile is the only one.
pub(crate) struct ProfileGet {
    id: i64,
}

impl Action for ProfileGet {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let id = args
            .optional_int("id")
            .ok_or_else(|| ApiError::missing_parameter("id"))?;
        Ok(Self { id })
    }

    async fn run(self, _call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        if self.id != DEFAULT_CONVERSION_PROFILE_ID {
            return Err(ApiError::new(
                "CONVERSION_PROFILE_ID_NOT_FOUND",
                &[&self.id.to_string()],
            ));
        }
        Ok(wire::conversion_profile(session.partner_id))
    }
}

/// `conversionProfile.list(filter = null, pager = null)`.
pub(crate) struct ProfileList {
    id_equal: Option<i64>,
    pager: Pager,
}

impl Action for ProfileList {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let id_equal = match args.object("filter")? {
            Some(filter) => filter.int("idEqual"),
            None => None,
        };
        Ok(Self {
            id_equal,
            pager: Pager::read(&args)?,
        })
    }

    async fn run(self, _call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let profiles: Vec<Out> = std::iter::once(wire::conversion_profile(session.partner_id))
            .filter(|_| {
                self.id_equal
                    .is_none_or(|id| id == DEFAULT_CONVERSION_PROFILE_ID)
            })
            .collect();
        let total = profiles.len();
        Ok(wire::list_response(
            "KalturaConversionProfileListResponse",
            self.pager.page(profiles),
            total,
        ))
    }
}
