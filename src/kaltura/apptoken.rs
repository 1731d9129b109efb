//! The `appToken` service: `add`, `get`, `list`, `delete` and `startSession`
//! (`api_v3/services/AppTokenService.php` in the Kaltura server).
//!
//! An app token lets an application start sessions without a partner secret: it holds a random
//! `token`, and whoever proves to know it — by sending `tokenHash = hash(hashType, ks + token)`
//! with the KS of its (typically widget) session — gets a KS shaped by the app token: its
//! session type, user, duration and privileges. Deleting an app token logs out every session
//! started from it (their KSs carry `sessionid:<appTokenId>`).
//!
//! App tokens live per partner beside upload tokens and entries (`store::Tenant`), and are
//! saved in the state file like them. They are kept across `POST /__vidmock/reset`, like the
//! partners' secrets: they are credentials a client holds.

use std::time::Duration;

use indexmap::IndexMap;
use time::OffsetDateTime;

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::pager::Pager;
use super::params::{Args, Object, Prop};
use super::session::MAX_EXPIRY;
use super::wire::{self, Out};
use super::SessionType;

/// `AppTokenStatus` (alpha/lib/enums/AppTokenStatus.php): 1 DISABLED (only `update` sets it,
/// which vidmock does not serve), 2 ACTIVE, 3 DELETED.
pub(crate) const STATUS_ACTIVE: i64 = 2;
pub(crate) const STATUS_DELETED: i64 = 3;

/// `KalturaAppTokenHashType` values (a string enum).
const HASH_TYPES: &[&str] = &["SHA1", "MD5", "SHA256", "SHA512"];

/// The names of the privileges the server itself reads (`kSessionBase::getServerPrivileges`:
/// every `PRIVILEGE_*` constant): `startSession`'s `sessionPrivileges` may not set them.
const SERVER_PRIVILEGES: &[&str] = &[
    "edit",
    "sview",
    "list",
    "download",
    "downloadasset",
    "editplaylist",
    "sviewplaylist",
    "actionslimit",
    "setrole",
    "restrictingrole",
    "limitentry",
    "iprestrict",
    "urirestrict",
    "enableentitlement",
    "disableentitlement",
    "disableentitlementforentry",
    "disableentitlementforplaylist",
    "privacycontext",
    "enablecategorymoderation",
    "reftime",
    "sessionkey",
    "preview",
    "sessionid",
    "jobtype",
    "apptoken",
    "enablechangeaccount",
    "edituser",
    "enablecaptionmoderation",
    "editadmintags",
    "restrictexplicitliveview",
    "virtualeventid",
    "searchcontext",
    "disablesessiontypecheck",
];

fn default_hash_type() -> String {
    "SHA1".into()
}

fn default_status() -> i64 {
    STATUS_ACTIVE
}

fn default_duration() -> i64 {
    MAX_EXPIRY
}

/// An app token as the server stores it, and (through serde) as the state file and the seed
/// file hold it. A seed may leave out the id, the token and the dates: [`StoredAppToken::fill`]
/// supplies them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredAppToken {
    /// `0_` + 8 lower-case hex from the server's id generator.
    #[serde(default)]
    pub id: String,
    /// The partner's id, which a document gives once for all its app tokens.
    #[serde(skip)]
    pub partner_id: i64,
    /// 32 lower-case hex (`bin2hex` of 16 random bytes): the secret `tokenHash` proves.
    #[serde(default)]
    pub token: String,
    /// 1 DISABLED, 2 ACTIVE, 3 DELETED.
    #[serde(default = "default_status")]
    pub status: i64,
    /// When the app token stops starting sessions (unix seconds); `None` never.
    #[serde(default)]
    pub expiry: Option<i64>,
    /// The session type every session it starts has; `None` lets `startSession` choose.
    #[serde(default)]
    pub session_type: Option<i64>,
    /// The user every session it starts has; `None` lets `startSession` choose.
    #[serde(default)]
    pub session_user_id: Option<String>,
    /// The longest session it starts, in seconds (the partner's maximum by default).
    #[serde(default = "default_duration")]
    pub session_duration: i64,
    /// Privileges added to every session it starts.
    #[serde(default)]
    pub session_privileges: Option<String>,
    /// `SHA1`, `MD5`, `SHA256` or `SHA512`.
    #[serde(default = "default_hash_type")]
    pub hash_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl StoredAppToken {
    /// Supplies what a seed may leave out: an id, a token, and dates (the creation defaults to
    /// `now`, the last change to the creation).
    pub(crate) fn fill(&mut self, ids: &crate::engine::ids::Ids, now: OffsetDateTime) {
        if self.id.is_empty() {
            self.id = ids.hex("0_", 8);
        }
        if self.token.is_empty() {
            self.token = ids.hex("", 32);
        }
        if crate::engine::clock::is_unset(self.created_at) {
            self.created_at = now;
        }
        if crate::engine::clock::is_unset(self.updated_at) {
            self.updated_at = self.created_at;
        }
    }

    /// `AppToken::calcHash`: `hash(hashType, ks . token)`, lower-case hex.
    fn hash(&self, ks: &str) -> String {
        use sha2::Digest as _;
        let input = format!("{ks}{}", self.token);
        let bytes = input.as_bytes();
        match self.hash_type.as_str() {
            "MD5" => crate::engine::hex::encode(md5::Md5::digest(bytes)),
            "SHA256" => crate::engine::hex::encode(sha2::Sha256::digest(bytes)),
            "SHA512" => crate::engine::hex::encode(sha2::Sha512::digest(bytes)),
            _ => crate::engine::hex::encode(sha1::Sha1::digest(bytes)),
        }
    }
}

fn required(session: Option<Session>) -> Result<Session, ApiError> {
    session.ok_or_else(|| ApiError::new("MISSING_KS", &[]))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new("APP_TOKEN_ID_NOT_FOUND", &[id])
}

/// `AppTokenPeer`'s default criteria: not DELETED; `applyPartnerFilterForClass`: the session's
/// partner.
fn find<'t>(
    tenants: &'t std::collections::HashMap<i64, super::store::Tenant>,
    session: &Session,
    id: &str,
) -> Option<&'t StoredAppToken> {
    tenants
        .get(&session.partner_id)
        .and_then(|t| t.app_tokens.get(id))
        .filter(|t| t.status != STATUS_DELETED)
}

// ---------------------------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------------------------

/// `KalturaAppToken`'s properties in declared order, with whether each is readonly.
const PROPERTIES: &[(&str, bool)] = &[
    ("id", true),
    ("token", true),
    ("partnerId", true),
    ("createdAt", true),
    ("updatedAt", true),
    ("status", true),
    ("expiry", false),
    ("sessionType", false),
    ("sessionUserId", false),
    ("sessionDuration", false),
    ("sessionPrivileges", false),
    ("hashType", false),
    ("description", false),
];

/// A string enum property: `INVALID_ENUM_VALUE` outside `allowed`.
fn string_enum(
    object: &Object<'_>,
    name: &str,
    enum_type: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match object.string(name)? {
        Some(value) if !allowed.contains(&value.as_str()) => Err(ApiError::new(
            "INVALID_ENUM_VALUE",
            &[&value, name, enum_type],
        )),
        other => Ok(other),
    }
}

/// `appToken.add(appToken)`.
pub(crate) struct Add {
    readonly: Option<&'static str>,
    expiry: Option<i64>,
    session_type: Option<i64>,
    session_user_id: Option<String>,
    session_duration: Option<i64>,
    session_privileges: Option<String>,
    hash_type: Option<String>,
    description: Option<String>,
}

impl Action for Add {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let object = args
            .object("appToken")?
            .ok_or_else(|| ApiError::missing_parameter("appToken"))?;
        let readonly = PROPERTIES
            .iter()
            .filter(|(_, readonly)| *readonly)
            .map(|(name, _)| *name)
            .find(|name| matches!(object.prop(name), Prop::Value(_)));
        Ok(Self {
            readonly,
            expiry: object.int("expiry"),
            session_type: object.int_enum("sessionType", "KalturaSessionType", &[0, 2])?,
            session_user_id: object.string("sessionUserId")?,
            session_duration: object.int("sessionDuration"),
            session_privileges: object.string("sessionPrivileges")?,
            hash_type: string_enum(&object, "hashType", "KalturaAppTokenHashType", HASH_TYPES)?,
            description: object.string("description")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        if let Some(name) = self.readonly {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_NOT_UPDATABLE",
                &[&format!("KalturaAppToken::{name}")],
            ));
        }
        let cx = &call.served.cx;
        let now = cx.clock.now();
        let token = StoredAppToken {
            id: cx.ids.hex("0_", 8),
            partner_id: session.partner_id,
            token: cx.ids.hex("", 32),
            status: STATUS_ACTIVE,
            expiry: self.expiry,
            session_type: self.session_type,
            session_user_id: self.session_user_id,
            session_duration: self.session_duration.unwrap_or(MAX_EXPIRY),
            session_privileges: self.session_privileges,
            hash_type: self.hash_type.unwrap_or_else(default_hash_type),
            description: self.description,
            created_at: now,
            updated_at: now,
        };
        let out = wire::app_token(&token);
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        tenant.app_tokens.insert(token.id.clone(), token);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// get, delete
// ---------------------------------------------------------------------------------------------

/// `appToken.get(id)`.
pub(crate) struct Get {
    id: String,
}

impl Action for Get {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("id")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        find(&tenants, &session, &self.id)
            .map(wire::app_token)
            .ok_or_else(|| not_found(&self.id))
    }
}

/// `appToken.delete(id)`: DELETED, and every session it started is logged out; void.
pub(crate) struct Delete {
    id: String,
}

impl Action for Delete {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.required_string("id")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let token = tenants
            .get_mut(&session.partner_id)
            .and_then(|t| t.app_tokens.get_mut(&self.id))
            .filter(|t| t.status != STATUS_DELETED)
            .ok_or_else(|| not_found(&self.id))?;
        token.status = STATUS_DELETED;
        token.updated_at = now;
        Ok(Out::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

/// `appToken.list(filter = null, pager = null)`: `KalturaAppTokenFilter`'s `idEqual`, `idIn`,
/// `statusEqual`, `statusIn`, `sessionUserIdEqual`, and `orderBy` `±createdAt`/`±updatedAt`.
pub(crate) struct List {
    id_equal: Option<String>,
    id_in: Option<String>,
    status_equal: Option<i64>,
    status_in: Option<String>,
    session_user_id_equal: Option<String>,
    order_by: Option<String>,
    pager: Pager,
}

impl Action for List {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let mut list = Self {
            id_equal: None,
            id_in: None,
            status_equal: None,
            status_in: None,
            session_user_id_equal: None,
            order_by: None,
            pager: Pager::read(&args)?,
        };
        if let Some(f) = args.object("filter")? {
            list.order_by = f.string("orderBy")?;
            list.id_equal = f.string("idEqual")?;
            list.id_in = f.string("idIn")?;
            list.status_equal = f.int_enum("statusEqual", "KalturaAppTokenStatus", &[1, 2, 3])?;
            list.status_in = f.string("statusIn")?;
            list.session_user_id_equal = f.string("sessionUserIdEqual")?;
        }
        Ok(list)
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let split = |v: &Option<String>| -> Option<Vec<String>> {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        };
        let ids_in = split(&self.id_in);
        let statuses_in: Option<Vec<i64>> =
            split(&self.status_in).map(|s| s.iter().filter_map(|v| v.parse().ok()).collect());
        let tenants = call.served.backend.store.lock();
        let mut matched: Vec<&StoredAppToken> = tenants
            .get(&session.partner_id)
            .map(|t| t.app_tokens.values().collect())
            .unwrap_or_default();
        matched.retain(|t| {
            t.status != STATUS_DELETED
                && self.id_equal.as_deref().is_none_or(|id| t.id == id)
                && ids_in.as_ref().is_none_or(|ids| ids.contains(&t.id))
                && self.status_equal.is_none_or(|s| t.status == s)
                && statuses_in.as_ref().is_none_or(|s| s.contains(&t.status))
                && self
                    .session_user_id_equal
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .is_none_or(|u| t.session_user_id.as_deref() == Some(u))
        });
        for order in self.order_by.as_deref().unwrap_or("").split(',').rev() {
            match order.trim() {
                "+createdAt" => matched.sort_by_key(|t| t.created_at),
                "-createdAt" => matched.sort_by_key(|t| std::cmp::Reverse(t.created_at)),
                "+updatedAt" => matched.sort_by_key(|t| t.updated_at),
                "-updatedAt" => matched.sort_by_key(|t| std::cmp::Reverse(t.updated_at)),
                _ => {}
            }
        }
        let total = matched.len();
        let page = self
            .pager
            .page(matched)
            .into_iter()
            .map(wire::app_token)
            .collect();
        Ok(wire::list_response(
            "KalturaAppTokenListResponse",
            page,
            total,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// startSession
// ---------------------------------------------------------------------------------------------

/// Privileges by name, in order, each with its values (`kSessionBase::parsePrivileges`).
type Privileges = IndexMap<String, Vec<String>>;

/// `kSessionBase::parsePrivileges`: `name:v1/v2,name2` into names and values.
fn parse_privileges(text: &str) -> Privileges {
    let mut parsed = Privileges::new();
    for privilege in text.split(',') {
        let (name, value) = match privilege.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (privilege, None),
        };
        let values = parsed.entry(name.to_owned()).or_default();
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            values.extend(value.split('/').map(str::to_owned));
        }
    }
    parsed
}

/// `kSessionBase::buildPrivileges`.
fn build_privileges(privileges: &Privileges) -> String {
    privileges
        .iter()
        .map(|(name, values)| {
            if values.is_empty() {
                name.clone()
            } else {
                format!("{name}:{}", values.join("/"))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `appToken.startSession(id, tokenHash, userId = null, type = null, expiry = null,
/// sessionPrivileges = null)`.
pub(crate) struct StartSession {
    id: String,
    token_hash: String,
    user_id: Option<String>,
    session_type: Option<i64>,
    expiry: Option<i64>,
    session_privileges: Option<String>,
}

impl Action for StartSession {
    const ACCESS: Access = Access::AnySession;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let id = args.required_string("id")?;
        let token_hash = args.required_string("tokenHash")?;
        let user_id = args.string("userId")?;
        let session_type = match args.optional_int("type") {
            None => None,
            Some(_) => Some(args.int_enum("type", "KalturaSessionType", &[0, 2], 0)?),
        };
        Ok(Self {
            id,
            token_hash,
            user_id,
            session_type,
            expiry: args.optional_int("expiry"),
            session_privileges: args.string("sessionPrivileges")?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now().unix_timestamp();
        let token = {
            let tenants = call.served.backend.store.lock();
            find(&tenants, &session, &self.id)
                .cloned()
                .ok_or_else(|| not_found(&self.id))?
        };
        if token.status != STATUS_ACTIVE {
            return Err(ApiError::new("APP_TOKEN_NOT_ACTIVE", &[&self.id]));
        }
        if token.hash(&session.ks) != self.token_hash {
            return Err(ApiError::new("INVALID_APP_TOKEN_HASH", &[]));
        }
        let mut token_expiry = token.session_duration;
        if let Some(expiry) = token.expiry {
            token_expiry = token_expiry.min(expiry.saturating_sub(now));
            if token_expiry < 0 {
                return Err(ApiError::new("APP_TOKEN_EXPIRED", &[&self.id]));
            }
        }
        let expiry = match self.expiry {
            None | Some(0) => token_expiry,
            Some(expiry) => expiry.min(token_expiry),
        };
        let session_type = token
            .session_type
            .or(self.session_type)
            .unwrap_or(SessionType::User.code());
        let user_id = token
            .session_user_id
            .clone()
            .or(self.user_id)
            .unwrap_or_default();
        let mut privileges = Privileges::new();
        privileges.insert("sessionid".into(), vec![self.id.clone()]);
        privileges.insert("apptoken".into(), vec![self.id.clone()]);
        if let Some(extra) = token
            .session_privileges
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            for (name, values) in parse_privileges(extra) {
                privileges.entry(name).or_default().extend(values);
            }
        }
        if let Some(asked) = self.session_privileges.as_deref().filter(|p| !p.is_empty()) {
            // `kSessionUtils::retrieveAllowedAppSessionPrivileges`: a privilege the server
            // reads, or one the app token already set, may not be added, unless the app token
            // set it to `*`.
            for (name, values) in parse_privileges(asked) {
                let trimmed = name.trim();
                let forbidden =
                    SERVER_PRIVILEGES.contains(&trimmed) || privileges.contains_key(trimmed);
                let wildcard = privileges
                    .get(&name)
                    .is_some_and(|v| v.iter().any(|v| v == "*"));
                if !forbidden || wildcard {
                    privileges.insert(name, values);
                }
            }
        }
        let privileges = build_privileges(&privileges);
        let lifetime = Duration::from_secs(expiry.max(0).unsigned_abs());
        let ks = call
            .served
            .backend
            .mint(
                &call.served.cx,
                session.partner_id,
                &user_id,
                SessionType::from_code(session_type),
                lifetime,
                &privileges,
            )
            .ok_or_else(|| {
                ApiError::new("START_SESSION_ERROR", &[&session.partner_id.to_string()])
            })?;
        Ok(wire::session_info(&wire::SessionInfo {
            ks,
            session_type,
            partner_id: session.partner_id,
            user_id,
            expiry: now.saturating_add(expiry.max(0)),
            privileges,
        }))
    }
}

/// Whether a KS's privileges name (`sessionid:<id>`) an app token of its partner that was
/// deleted: such a session is logged out (`AppTokenService::deleteAction` invalidates the
/// session id; `kSessionBase::isValid` answers LOGOUT, except for widget sessions).
pub(crate) fn session_revoked(tenant: Option<&super::store::Tenant>, privileges: &str) -> bool {
    let Some(tenant) = tenant else {
        return false;
    };
    privileges
        .split(',')
        .filter_map(|p| p.trim().strip_prefix("sessionid:"))
        .filter_map(|ids| ids.split('/').next())
        .take(1)
        .any(|id| {
            tenant
                .app_tokens
                .get(id)
                .is_some_and(|t| t.status == STATUS_DELETED)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_parse_and_build_back_as_the_server_writes_them() {
        let parsed = parse_privileges("edit:*,sview:a/b,widget:1,list");

        assert_eq!(parsed["sview"], vec!["a".to_owned(), "b".to_owned()]);
        assert!(parsed["list"].is_empty());
        assert_eq!(build_privileges(&parsed), "edit:*,sview:a/b,widget:1,list");
    }

    #[test]
    fn every_hash_type_hashes_the_ks_followed_by_the_token() {
        let mut token = StoredAppToken {
            id: "0_abcdef12".into(),
            partner_id: 101,
            token: "t".into(),
            status: STATUS_ACTIVE,
            expiry: None,
            session_type: None,
            session_user_id: None,
            session_duration: MAX_EXPIRY,
            session_privileges: None,
            hash_type: "SHA1".into(),
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        // Digests of "kst", as PHP's `hash()` writes them.
        let expected = [
            ("SHA1", "3e0f6ff269d7c6126fb63373c767a51b0bb0ba8a"),
            ("MD5", "2b75d61c4d4e844423945c34846aae35"),
            (
                "SHA256",
                "e7f0cc28c6e90f4ba72cd6ca1651a65245f36c219145f0f2648339ffadbe8240",
            ),
        ];
        for (hash_type, digest) in expected {
            token.hash_type = hash_type.into();
            assert_eq!(token.hash("ks"), digest, "{hash_type}");
        }
        token.hash_type = "SHA512".into();
        assert!(token
            .hash("ks")
            .starts_with("f75299bb62275e6c3caaeeb54294c950"));
    }
}
