//! Entries, minimal but real: the calls that consume an upload token (`media.add` +
//! `media.addContent`, `media.addFromUploadedFile`, `baseEntry.addFromUploadedFile`), the
//! reads, lists, update and delete around them, and `partner.get`, which `kaltura-uploader`
//! calls between uploading and creating its entry (../shared/specs/kaltura.md §4.8, §7).
//!
//! An entry closes the token's life: a token consumed while complete is CLOSED at once; a token
//! attached while incomplete is closed by the very upload that completes it. From then on the
//! entry converts on the server's clock (`lifecycle`); `media.updateContent` replaces its
//! content through a temporary entry, as the server does.

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::limits;
use super::pager::Pager;
use super::params::{Args, Object, Prop};
use super::store::{
    EntryStatus, StoredEntry, StoredToken, Tenant, UploadTokenStatus, ATTACHED_ENTRY,
    ATTACHED_FLAVOR, ENTRY_TYPE_DATA, ENTRY_TYPE_DOCUMENT, ENTRY_TYPE_MEDIA_CLIP,
};
use super::wire::{self, Out};

/// `KalturaMediaType` values.
const MEDIA_TYPES: &[i64] = &[1, 2, 5, 201, 202, 203, 204];
/// `KalturaEntryType` values.
const ENTRY_TYPES: &[i64] = &[-1, 1, 2, 5, 6, 7, 8, 10];
/// Readonly properties of `KalturaBaseEntry` a client could send, in declared order.
const READONLY_ENTRY_PROPERTIES: &[&str] = &[
    "id",
    "partnerId",
    "status",
    "createdAt",
    "updatedAt",
    "rootEntryId",
];

fn required(session: Option<Session>) -> Result<Session, ApiError> {
    session.ok_or_else(|| ApiError::new("MISSING_KS", &[]))
}

fn entry_not_found(id: &str) -> ApiError {
    ApiError::new("ENTRY_ID_NOT_FOUND", &[id])
}

/// The entry object a client sent (`entry`, `mediaEntry`), as read.
struct EntryInput {
    /// The API class the object is (`objectType`, or the parameter's declared class).
    class: &'static str,
    /// The first readonly property sent with a value.
    readonly: Option<&'static str>,
    name: Option<String>,
    description: Option<String>,
    tags: Option<String>,
    reference_id: Option<String>,
    partner_data: Option<String>,
    user_id: Option<String>,
    media_type: Option<i64>,
    entry_type: Option<i64>,
    conversion_profile_id: Option<i64>,
    access_control_id: Option<i64>,
}

/// The class a declared `KalturaBaseEntry` parameter takes from its `objectType`.
fn entry_class(object_type: Option<&str>, declared: &'static str) -> &'static str {
    match object_type {
        Some("KalturaMediaEntry") => "KalturaMediaEntry",
        Some("KalturaDataEntry") if declared == "KalturaBaseEntry" => "KalturaDataEntry",
        Some("KalturaDocumentEntry") if declared == "KalturaBaseEntry" => "KalturaDocumentEntry",
        _ => declared,
    }
}

impl EntryInput {
    fn read(object: Option<Object<'_>>, declared: &'static str) -> Result<Self, ApiError> {
        let mut input = EntryInput {
            class: declared,
            readonly: None,
            name: None,
            description: None,
            tags: None,
            reference_id: None,
            partner_data: None,
            user_id: None,
            media_type: None,
            entry_type: None,
            conversion_profile_id: None,
            access_control_id: None,
        };
        let Some(object) = object else {
            return Ok(input);
        };
        input.class = entry_class(object.string("objectType")?.as_deref(), declared);
        for name in READONLY_ENTRY_PROPERTIES {
            if matches!(object.prop(name), Prop::Value(_)) {
                input.readonly = Some(name);
                break;
            }
        }
        // Cut to the width of their columns, as MySQL stores them; `userId` is bounded by the
        // API itself.
        let cut = |value: Option<String>, width: fn(String) -> String| value.map(width);
        input.name = cut(object.string("name")?, |v| {
            limits::varchar(v, limits::ENTRY_NAME_CHARS)
        });
        input.description = cut(object.string("description")?, |v| {
            limits::text(v, limits::TEXT_BYTES)
        });
        input.user_id = object.string("userId")?;
        limits::max_length(
            "userId",
            input.user_id.as_deref(),
            limits::ENTRY_USER_ID_BYTES,
        )?;
        input.tags = cut(object.string("tags")?, |v| {
            limits::text(v, limits::TEXT_BYTES)
        });
        input.partner_data = cut(object.string("partnerData")?, |v| {
            limits::varchar(v, limits::PARTNER_DATA_CHARS)
        });
        input.access_control_id = object.int("accessControlId");
        input.reference_id = object.string("referenceId")?;
        input.conversion_profile_id = object.int("conversionProfileId");
        input.entry_type = object.int_enum("type", "KalturaEntryType", ENTRY_TYPES)?;
        if input.class == "KalturaMediaEntry" {
            input.media_type = object.int_enum("mediaType", "KalturaMediaType", MEDIA_TYPES)?;
        }
        Ok(input)
    }

    /// `validateForInsert`: readonly properties, then the media type a media entry needs.
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(name) = self.readonly {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_NOT_UPDATABLE",
                &[&format!("{}::{name}", self.class)],
            ));
        }
        if self.class == "KalturaMediaEntry" && self.media_type.is_none() {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_CANNOT_BE_NULL",
                &["KalturaMediaEntry::mediaType"],
            ));
        }
        Ok(())
    }

    /// A new entry of this input, owned by the session's user (or `userId`, for an admin).
    fn create(self, call: &Call, session: &Session, status: EntryStatus) -> StoredEntry {
        let now = call.served.cx.clock.now();
        let entry_type = match self.class {
            "KalturaMediaEntry" => ENTRY_TYPE_MEDIA_CLIP,
            "KalturaDataEntry" => ENTRY_TYPE_DATA,
            "KalturaDocumentEntry" => ENTRY_TYPE_DOCUMENT,
            _ => self
                .entry_type
                .filter(|t| *t > 0)
                .unwrap_or(ENTRY_TYPE_MEDIA_CLIP),
        };
        let owner = match self.user_id {
            Some(user) if session.is_admin() && !user.is_empty() => user,
            _ => session.user_id.clone(),
        };
        StoredEntry {
            id: call.served.cx.ids.hex("0_", 8),
            partner_id: session.partner_id,
            user_id: owner,
            creator_id: session.user_id.clone(),
            class: self.class,
            entry_type,
            media_type: self.media_type,
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            reference_id: self.reference_id,
            partner_data: self.partner_data,
            conversion_profile_id: self.conversion_profile_id,
            access_control_id: self.access_control_id,
            status,
            created_at: now,
            updated_at: now,
            upload_token_id: None,
            source_flavor_id: None,
            flavors: Vec::new(),
            flavor_params_ids: String::new(),
            conversion: None,
            media: None,
            replacing_entry_id: None,
            replaced_entry_id: None,
            replacement_status: 0,
            version: 0,
            changes: Vec::new(),
        }
    }
}

/// An entry `session` may read: same partner, not deleted.
fn readable<'t>(tenant: Option<&'t Tenant>, id: &str) -> Option<&'t StoredEntry> {
    tenant
        .and_then(|t| t.entries.get(id))
        .filter(|e| e.status != EntryStatus::Deleted)
}

/// `KalturaMediaType::IMAGE`.
const MEDIA_TYPE_IMAGE: i64 = 2;

/// Whether the entry calls may use `token`: any token of the session's partner that is not
/// deleted, whoever created it. Only `UploadTokenService` restricts a USER session to its own
/// tokens (`restrictPeerToCurrentUser`); the media service reads the token with
/// `UploadTokenPeer::retrieveByPK`, whose default criteria exclude only DELETED
/// (`KalturaUploadedFileTokenResource::toObject`, `kUploadTokenMgr::getFullPathByUploadTokenId`).
fn usable(token: &StoredToken, session: &Session) -> bool {
    token.partner_id == session.partner_id && token.status != UploadTokenStatus::Deleted
}

/// `@validateUser entry entryId edit`: a USER session edits only its own entries.
fn check_owner(entry: &StoredEntry, session: &Session) -> Result<(), ApiError> {
    if session.is_admin() || entry.user_id == session.user_id {
        Ok(())
    } else {
        Err(ApiError::new("PERMISSION_DENIED_TO_UPDATE_ENTRY", &[]))
    }
}

/// The media clip `id` that `session` may change (`media.addContent`, `media.update`,
/// `media.delete`): not deleted, a media clip, and the session's own unless it is ADMIN.
fn editable_media<'t>(
    tenant: &'t Tenant,
    id: &str,
    session: &Session,
) -> Result<&'t StoredEntry, ApiError> {
    let entry = readable(Some(tenant), id)
        .filter(|e| e.entry_type == ENTRY_TYPE_MEDIA_CLIP)
        .ok_or_else(|| entry_not_found(id))?;
    check_owner(entry, session)?;
    Ok(entry)
}

// ---------------------------------------------------------------------------------------------
// media.add, media.addContent
// ---------------------------------------------------------------------------------------------

/// `media.add(entry)`: a media entry without content (NO_CONTENT).
pub(crate) struct MediaAdd {
    entry: EntryInput,
}

impl Action for MediaAdd {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let object = args
            .object("entry")?
            .ok_or_else(|| ApiError::missing_parameter("entry"))?;
        Ok(Self {
            entry: EntryInput::read(Some(object), "KalturaMediaEntry")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        self.entry.validate()?;
        let entry = self.entry.create(call, &session, EntryStatus::NoContent);
        let out = wire::entry(&entry, &call.served.cx.base_url);
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        tenant.entries.insert(entry.id.clone(), entry);
        Ok(out)
    }
}

/// The `resource` of `media.addContent`.
enum Resource {
    /// `KalturaUploadedFileTokenResource` with its `token` (None when null).
    Token(Option<String>),
    /// Any other resource class.
    Other(String),
}

/// `media.addContent(entryId, resource = null)`.
pub(crate) struct MediaAddContent {
    entry_id: String,
    resource: Option<Resource>,
}

impl Action for MediaAddContent {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let entry_id = args.required_string("entryId")?;
        let resource = match args.object("resource")? {
            None => None,
            Some(object) => {
                let class = object.string("objectType")?;
                match class.as_deref() {
                    None | Some("KalturaUploadedFileTokenResource") => {
                        Some(Resource::Token(object.string("token")?))
                    }
                    Some(other) => Some(Resource::Other(other.to_owned())),
                }
            }
        };
        Ok(Self { entry_id, resource })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        let entry = editable_media(tenant, &self.entry_id, &session)?;
        if entry.status != EntryStatus::NoContent {
            return Err(ApiError::new("ENTRY_ALREADY_WITH_CONTENT", &[]));
        }
        attach_resource(call, tenant, &self.entry_id, self.resource, &session, now)?;
        tenant
            .entries
            .get(&self.entry_id)
            .map(|e| wire::entry(e, &call.served.cx.base_url))
            .ok_or_else(|| entry_not_found(&self.entry_id))
    }
}

/// Gives entry `entry_id` the content of `resource` (`KalturaEntryService::attachResource` for
/// an upload token): a token still uploading is attached and the entry waits in IMPORT; a
/// complete one is taken at once and its conversion starts.
fn attach_resource(
    call: &Call,
    tenant: &mut Tenant,
    entry_id: &str,
    resource: Option<Resource>,
    session: &Session,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    match resource {
        None => {}
        Some(Resource::Other(class)) => {
            return Err(ApiError::new("RESOURCE_TYPE_NOT_SUPPORTED", &[&class]));
        }
        Some(Resource::Token(None)) => {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_CANNOT_BE_NULL",
                &["KalturaUploadedFileTokenResource::token"],
            ));
        }
        Some(Resource::Token(Some(token_id))) => {
            let status = tenant
                .tokens
                .get(&token_id)
                .filter(|t| usable(t, session))
                .map(|t| t.status)
                .ok_or_else(|| ApiError::new("UPLOAD_TOKEN_NOT_FOUND", &[]))?;
            match status {
                UploadTokenStatus::Pending | UploadTokenStatus::PartialUpload => {
                    attach_pending(call, tenant, entry_id, &token_id, now);
                }
                UploadTokenStatus::FullUpload => {
                    // A complete token is a ready local file: the entry takes it at once
                    // and the token is closed without being attached to anything
                    // (`KalturaEntryService::attachLocalFileResource` with `getIsReady`).
                    if let Some(entry) = tenant.entries.get_mut(entry_id) {
                        source_flavor(call, entry);
                    }
                    let starter = call.served.backend.store.starter(&call.served.cx.ids);
                    tenant.consume(&token_id, entry_id, now, &starter);
                }
                _ => {
                    return Err(ApiError::new(
                        "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY",
                        &[],
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The id of a media entry's source flavor asset, made the first time the entry is given
/// content (`kFlowHelper::createOriginalFlavorAsset` returns the existing original when there
/// is one); `None` for an image entry, whose file is the entry's own, and for entries that are
/// not media clips.
fn source_flavor(call: &Call, entry: &mut StoredEntry) -> Option<String> {
    if entry.entry_type != ENTRY_TYPE_MEDIA_CLIP || entry.media_type == Some(MEDIA_TYPE_IMAGE) {
        return None;
    }
    let flavor = entry
        .source_flavor_id
        .get_or_insert_with(|| call.served.cx.ids.hex("0_", 8));
    Some(flavor.clone())
}

/// Attaches a token still uploading to entry `entry_id`, which waits for it (IMPORT), as
/// `KalturaEntryService::attachLocalFileResource` does: an image entry is the attached object
/// itself (`entry`); any other media entry gets its source flavor asset (created once, its id
/// kept on the entry), and the token is attached to that (`flavorAsset`).
fn attach_pending(
    call: &Call,
    tenant: &mut Tenant,
    entry_id: &str,
    token_id: &str,
    now: time::OffsetDateTime,
) {
    let Some(entry) = tenant.entries.get_mut(entry_id) else {
        return;
    };
    super::lifecycle::set_status(entry, EntryStatus::Import, now);
    entry.upload_token_id = Some(token_id.to_owned());
    let (object_type, object_id) = match source_flavor(call, entry) {
        Some(flavor) => (ATTACHED_FLAVOR, flavor),
        None => (ATTACHED_ENTRY, entry.id.clone()),
    };
    if let Some(token) = tenant.tokens.get_mut(token_id) {
        token.attach(object_type, &object_id);
        token.updated_at = now;
    }
}

// ---------------------------------------------------------------------------------------------
// addFromUploadedFile
// ---------------------------------------------------------------------------------------------

/// Creates an entry from a complete token and closes the token.
fn add_from_token(
    call: &Call,
    session: &Session,
    input: EntryInput,
    token_id: &str,
) -> Result<Out, ApiError> {
    let now = call.served.cx.clock.now();
    let mut tenants = call.served.backend.store.lock();
    let tenant = tenants.entry(session.partner_id).or_default();
    let token = tenant
        .tokens
        .get(token_id)
        .filter(|t| usable(t, session))
        .ok_or_else(|| ApiError::new("UPLOADED_FILE_NOT_FOUND_BY_TOKEN", &[]))?;
    if token.status != UploadTokenStatus::FullUpload {
        return Err(ApiError::new(
            "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY",
            &[],
        ));
    }
    input.validate()?;
    let mut entry = input.create(call, session, EntryStatus::Import);
    let entry_id = entry.id.clone();
    entry.upload_token_id = Some(token_id.to_owned());
    source_flavor(call, &mut entry);
    tenant.entries.insert(entry_id.clone(), entry);
    // The file is taken by path and the token closed; nothing is attached to it
    // (`MediaService::addFromUploadedFileAction`).
    let starter = call.served.backend.store.starter(&call.served.cx.ids);
    tenant.consume(token_id, &entry_id, now, &starter);
    tenant
        .entries
        .get(&entry_id)
        .map(|e| wire::entry(e, &call.served.cx.base_url))
        .ok_or_else(|| entry_not_found(&entry_id))
}

/// `media.addFromUploadedFile(mediaEntry, uploadTokenId)`.
pub(crate) struct MediaAddFromUploadedFile {
    entry: EntryInput,
    token_id: String,
}

impl Action for MediaAddFromUploadedFile {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let object = args
            .object("mediaEntry")?
            .ok_or_else(|| ApiError::missing_parameter("mediaEntry"))?;
        Ok(Self {
            entry: EntryInput::read(Some(object), "KalturaMediaEntry")?,
            token_id: args.required_string("uploadTokenId")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        add_from_token(call, &session, self.entry, &self.token_id)
    }
}

/// `baseEntry.addFromUploadedFile(entry, uploadTokenId, type = -1)`.
pub(crate) struct BaseEntryAddFromUploadedFile {
    entry: EntryInput,
    token_id: String,
}

impl Action for BaseEntryAddFromUploadedFile {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let object = args
            .object("entry")?
            .ok_or_else(|| ApiError::missing_parameter("entry"))?;
        let mut entry = EntryInput::read(Some(object), "KalturaBaseEntry")?;
        let token_id = args.required_string("uploadTokenId")?;
        let entry_type = args.int_enum("type", "KalturaEntryType", ENTRY_TYPES, -1)?;
        let entry_type = if entry_type == -1 {
            entry.entry_type.filter(|t| *t > 0)
        } else {
            Some(entry_type)
        };
        if entry.class == "KalturaBaseEntry" {
            entry.class = match entry_type {
                Some(ENTRY_TYPE_DATA) => "KalturaDataEntry",
                Some(ENTRY_TYPE_DOCUMENT) => "KalturaDocumentEntry",
                Some(ENTRY_TYPE_MEDIA_CLIP) | None => "KalturaMediaEntry",
                Some(_) => "KalturaBaseEntry",
            };
        }
        if entry.class == "KalturaMediaEntry" && entry.media_type.is_none() {
            // The server guesses the media type from the file; vidmock calls it a video.
            entry.media_type = Some(1);
        }
        entry.entry_type = entry_type;
        Ok(Self { entry, token_id })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        add_from_token(call, &session, self.entry, &self.token_id)
    }
}

// ---------------------------------------------------------------------------------------------
// get, delete
// ---------------------------------------------------------------------------------------------

/// `media.get(entryId, version = -1)` and `baseEntry.get(entryId, version = -1)`.
pub(crate) struct EntryGet<const MEDIA_ONLY: bool> {
    entry_id: String,
}

impl<const MEDIA_ONLY: bool> Action for EntryGet<MEDIA_ONLY> {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let entry_id = args.required_string("entryId")?;
        args.int("version", -1);
        Ok(Self { entry_id })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        readable(tenants.get(&session.partner_id), &self.entry_id)
            .filter(|e| !MEDIA_ONLY || e.class == "KalturaMediaEntry")
            .map(|e| wire::entry(e, &call.served.cx.base_url))
            .ok_or_else(|| entry_not_found(&self.entry_id))
    }
}

/// `media.delete(entryId)`: the entry becomes DELETED (invisible); the result is void.
pub(crate) struct MediaDelete {
    entry_id: String,
}

impl Action for MediaDelete {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            entry_id: args.required_string("entryId")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        editable_media(tenant, &self.entry_id, &session)?;
        if let Some(entry) = tenant.entries.get_mut(&self.entry_id) {
            super::lifecycle::set_status(entry, EntryStatus::Deleted, now);
        }
        Ok(Out::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// partner.get
// ---------------------------------------------------------------------------------------------

/// `partner.get(id = null)`: the session's own partner.
pub(crate) struct PartnerGet {
    id: Option<i64>,
}

impl Action for PartnerGet {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.optional_int("id"),
        })
    }

    async fn run(self, _call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        match self.id {
            Some(id) if id != session.partner_id => {
                Err(ApiError::new("INVALID_PARTNER_ID", &[&id.to_string()]))
            }
            _ => Ok(wire::partner(session.partner_id)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// media.list, baseEntry.list
// ---------------------------------------------------------------------------------------------

/// The common fields of `KalturaMediaEntryFilter` (and `KalturaBaseEntryFilter`), as read.
#[derive(Default)]
struct EntryFilter {
    id_equal: Option<String>,
    id_in: Option<String>,
    name_like: Option<String>,
    status_equal: Option<String>,
    status_in: Option<String>,
    media_type_equal: Option<i64>,
    user_id_equal: Option<String>,
    tags_like: Option<String>,
    reference_id_equal: Option<String>,
    order_by: Option<String>,
}

/// A comma-separated filter value; empty means "not set".
fn split_list(value: Option<&str>) -> Option<Vec<&str>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::trim).collect())
}

impl EntryFilter {
    fn read(args: &Args<'_>, media: bool) -> Result<Self, ApiError> {
        let mut filter = EntryFilter::default();
        let Some(f) = args.object("filter")? else {
            return Ok(filter);
        };
        filter.order_by = f.string("orderBy")?;
        filter.id_equal = f.string("idEqual")?;
        filter.id_in = f.string("idIn")?;
        filter.name_like = f.string("nameLike")?;
        filter.user_id_equal = f.string("userIdEqual")?;
        filter.tags_like = f.string("tagsLike")?;
        filter.reference_id_equal = f.string("referenceIdEqual")?;
        filter.status_equal = f.string("statusEqual")?;
        filter.status_in = f.string("statusIn")?;
        if media {
            filter.media_type_equal =
                f.int_enum("mediaTypeEqual", "KalturaMediaType", MEDIA_TYPES)?;
        }
        Ok(filter)
    }

    /// Whether the filter names entries by id or reference, which lifts a USER session's
    /// restriction to its own entries (`KalturaEntryService::listEntriesByFilter`).
    fn names_entries(&self) -> bool {
        [&self.id_equal, &self.id_in, &self.reference_id_equal]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    }

    fn matches(&self, e: &StoredEntry) -> bool {
        let set = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        let ids_in = split_list(self.id_in.as_deref());
        let statuses_in = split_list(self.status_in.as_deref());
        let status_equal = set(&self.status_equal);
        // `setDefaultStatus`: READY only, unless a status is asked or one entry is named.
        let status_ok = match (&status_equal, &statuses_in) {
            (Some(status), _) => e.status.code() == status,
            (None, Some(statuses)) => statuses.contains(&e.status.code()),
            (None, None) if set(&self.id_equal).is_some() => e.status != EntryStatus::Deleted,
            (None, None) => e.status == EntryStatus::Ready,
        };
        let lower = |s: &str| s.to_lowercase();
        status_ok
            && set(&self.id_equal).is_none_or(|id| e.id == id)
            && ids_in.is_none_or(|ids| ids.contains(&e.id.as_str()))
            && set(&self.name_like).is_none_or(|n| lower(&e.name).contains(&lower(&n)))
            && self
                .media_type_equal
                .is_none_or(|t| e.media_type == Some(t))
            && set(&self.user_id_equal).is_none_or(|u| e.user_id == u)
            && set(&self.tags_like).is_none_or(|t| lower(&e.tags).contains(&lower(&t)))
            && set(&self.reference_id_equal)
                .is_none_or(|r| e.reference_id.as_deref() == Some(r.as_str()))
    }

    fn sort(&self, entries: &mut [&StoredEntry]) {
        for order in self.order_by.as_deref().unwrap_or("").split(',').rev() {
            match order.trim() {
                "+createdAt" => entries.sort_by_key(|e| e.created_at),
                "-createdAt" => entries.sort_by_key(|e| std::cmp::Reverse(e.created_at)),
                "+updatedAt" => entries.sort_by_key(|e| e.updated_at),
                "-updatedAt" => entries.sort_by_key(|e| std::cmp::Reverse(e.updated_at)),
                "+name" => entries.sort_by(|a, b| a.name.cmp(&b.name)),
                "-name" => entries.sort_by(|a, b| b.name.cmp(&a.name)),
                _ => {}
            }
        }
    }
}

/// `media.list(filter = null, pager = null)` (`MEDIA_ONLY`) and `baseEntry.list`.
pub(crate) struct EntryList<const MEDIA_ONLY: bool> {
    filter: EntryFilter,
    pager: Pager,
}

impl<const MEDIA_ONLY: bool> Action for EntryList<MEDIA_ONLY> {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let filter = EntryFilter::read(&args, MEDIA_ONLY)?;
        Ok(Self {
            filter,
            pager: Pager::read(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        // `KalturaEntryService::initService`: a session neither ADMIN nor with `list:*` sees
        // only its own user's entries, unless the filter names entries.
        let may_list_all =
            session.is_admin() || session.privileges.split(',').any(|p| p.trim() == "list:*");
        let own_only = !may_list_all && !self.filter.names_entries();
        let tenants = call.served.backend.store.lock();
        let mut matched: Vec<&StoredEntry> = tenants
            .get(&session.partner_id)
            .map(|t| t.entries.values().collect())
            .unwrap_or_default();
        matched.retain(|e| {
            (!MEDIA_ONLY || e.class == "KalturaMediaEntry")
                // A replacement's temporary entry is not displayed in search.
                && e.replaced_entry_id.is_none()
                && (!own_only || e.user_id == session.user_id)
                && self.filter.matches(e)
        });
        self.filter.sort(&mut matched);
        let total = matched.len();
        let page = self
            .pager
            .page(matched)
            .into_iter()
            .map(|e| wire::entry(e, &call.served.cx.base_url))
            .collect();
        let class = if MEDIA_ONLY {
            "KalturaMediaListResponse"
        } else {
            "KalturaBaseEntryListResponse"
        };
        Ok(wire::list_response(class, page, total))
    }
}

// ---------------------------------------------------------------------------------------------
// media.update
// ---------------------------------------------------------------------------------------------

/// `media.update(entryId, mediaEntry)` (`@validateUser entry entryId edit`): name,
/// description, tags, referenceId and partnerData; `mediaType` is insert-only.
pub(crate) struct MediaUpdate {
    entry_id: String,
    entry: EntryInput,
    media_type_sent: bool,
}

impl Action for MediaUpdate {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let entry_id = args.required_string("entryId")?;
        let object = args
            .object("mediaEntry")?
            .ok_or_else(|| ApiError::missing_parameter("mediaEntry"))?;
        let media_type_sent = matches!(object.prop("mediaType"), Prop::Value(_));
        Ok(Self {
            entry_id,
            entry: EntryInput::read(Some(object), "KalturaMediaEntry")?,
            media_type_sent,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        editable_media(tenant, &self.entry_id, &session)?;
        let readonly = self
            .entry
            .readonly
            .or(self.media_type_sent.then_some("mediaType"));
        if let Some(name) = readonly {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_NOT_UPDATABLE",
                &[&format!("KalturaMediaEntry::{name}")],
            ));
        }
        let input = self.entry;
        let entry = tenant
            .entries
            .get_mut(&self.entry_id)
            .ok_or_else(|| entry_not_found(&self.entry_id))?;
        if let Some(name) = input.name {
            entry.name = name;
        }
        if let Some(description) = input.description {
            entry.description = description;
        }
        if let Some(tags) = input.tags {
            entry.tags = tags;
        }
        if input.reference_id.is_some() {
            entry.reference_id = input.reference_id;
        }
        if input.partner_data.is_some() {
            entry.partner_data = input.partner_data;
        }
        entry.updated_at = now;
        Ok(wire::entry(entry, &call.served.cx.base_url))
    }
}

// ---------------------------------------------------------------------------------------------
// media.updateContent
// ---------------------------------------------------------------------------------------------

/// Reads a `KalturaResource` parameter: an upload token, or a class vidmock does not take.
fn read_resource(args: &Args<'_>, name: &str) -> Result<Option<Resource>, ApiError> {
    let Some(object) = args.object(name)? else {
        return Ok(None);
    };
    let class = object.string("objectType")?;
    Ok(Some(match class.as_deref() {
        None | Some("KalturaUploadedFileTokenResource") => Resource::Token(object.string("token")?),
        Some(other) => Resource::Other(other.to_owned()),
    }))
}

/// `media.updateContent(entryId, resource, conversionProfileId = null, advancedOptions = null)`
/// (`@validateUser entry entryId edit`): an entry without content (or an image) takes the
/// resource as `addContent` would; any other gets a temporary replacement entry that converts
/// the new file and, once READY, gives the entry its content and flavors
/// (`MediaService::replaceResource`, `KalturaEntryService::replaceResourceByEntry`,
/// `kFlowHelper::handleEntryReplacement`).
pub(crate) struct MediaUpdateContent {
    entry_id: String,
    resource: Resource,
    conversion_profile_id: Option<i64>,
}

impl Action for MediaUpdateContent {
    const ACCESS: Access = Access::Session;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let entry_id = args.required_string("entryId")?;
        let resource = read_resource(&args, "resource")?
            .ok_or_else(|| ApiError::missing_parameter("resource"))?;
        let conversion_profile_id = args.optional_int("conversionProfileId");
        args.object("advancedOptions")?;
        Ok(Self {
            entry_id,
            resource,
            conversion_profile_id,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let base = &call.served.cx.base_url;
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        let entry = editable_media(tenant, &self.entry_id, &session)?;
        if entry.status == EntryStatus::NoContent || entry.media_type == Some(MEDIA_TYPE_IMAGE) {
            if let (Some(id), Some(entry)) = (
                self.conversion_profile_id,
                tenant.entries.get_mut(&self.entry_id),
            ) {
                entry.conversion_profile_id = Some(id);
            }
            attach_resource(
                call,
                tenant,
                &self.entry_id,
                Some(self.resource),
                &session,
                now,
            )?;
        } else {
            if entry.replacing_entry_id.is_some() {
                return Err(ApiError::new("ENTRY_REPLACEMENT_ALREADY_EXISTS", &[]));
            }
            // `$resource->validateEntry`, before anything is created.
            match &self.resource {
                Resource::Other(class) => {
                    return Err(ApiError::new("RESOURCE_TYPE_NOT_SUPPORTED", &[class]));
                }
                Resource::Token(None) => {
                    return Err(ApiError::new(
                        "PROPERTY_VALIDATION_CANNOT_BE_NULL",
                        &["KalturaUploadedFileTokenResource::token"],
                    ));
                }
                Resource::Token(Some(token_id)) => {
                    let status = tenant
                        .tokens
                        .get(token_id)
                        .filter(|t| usable(t, &session))
                        .map(|t| t.status)
                        .ok_or_else(|| ApiError::new("UPLOAD_TOKEN_NOT_FOUND", &[]))?;
                    if !matches!(
                        status,
                        UploadTokenStatus::Pending
                            | UploadTokenStatus::PartialUpload
                            | UploadTokenStatus::FullUpload
                    ) {
                        return Err(ApiError::new(
                            "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY",
                            &[],
                        ));
                    }
                }
            }
            let temp = StoredEntry {
                id: call.served.cx.ids.hex("0_", 8),
                partner_id: entry.partner_id,
                user_id: entry.user_id.clone(),
                creator_id: session.user_id.clone(),
                class: entry.class,
                entry_type: entry.entry_type,
                media_type: entry.media_type,
                name: String::new(),
                description: String::new(),
                tags: String::new(),
                reference_id: None,
                partner_data: None,
                conversion_profile_id: self.conversion_profile_id.or(entry.conversion_profile_id),
                access_control_id: entry.access_control_id,
                status: EntryStatus::NoContent,
                created_at: now,
                updated_at: now,
                upload_token_id: None,
                source_flavor_id: None,
                flavors: Vec::new(),
                flavor_params_ids: String::new(),
                conversion: None,
                media: None,
                replacing_entry_id: None,
                replaced_entry_id: Some(entry.id.clone()),
                replacement_status: 0,
                version: 0,
                changes: Vec::new(),
            };
            let temp_id = temp.id.clone();
            tenant.entries.insert(temp_id.clone(), temp);
            if let Some(original) = tenant.entries.get_mut(&self.entry_id) {
                original.replacing_entry_id = Some(temp_id.clone());
                original.replacement_status =
                    super::lifecycle::replacement_status::APPROVED_BUT_NOT_READY;
                original.updated_at = now;
            }
            attach_resource(call, tenant, &temp_id, Some(self.resource), &session, now)?;
        }
        tenant
            .entries
            .get(&self.entry_id)
            .map(|e| wire::entry(e, base))
            .ok_or_else(|| entry_not_found(&self.entry_id))
    }
}
