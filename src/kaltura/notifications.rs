//! HTTP event notifications: the `eventNotification_eventNotificationTemplate` service (`add`,
//! `get`, `list`, `update`, `updateStatus`, `delete`) for `KalturaHttpNotificationTemplate`s,
//! and the notifications they send when an entry's status changes.
//!
//! Integrations learn that an entry is ready from a template the partner registers: the server
//! evaluates every automatic template of the partner on each entry change, and a batch job
//! POSTs the entry to the template's URL, signed with the partner's admin secret
//! (`KDispatchHttpNotificationEngine`). vidmock keeps the templates with the partner's state and
//! hands each notification to the engine's deliveries, due at the instant the change happens
//! on the clock. The server evaluates PHP code in a template's conditions; vidmock recognises
//! the expressions its own default templates use (FIDELITY.md), and a condition it cannot read
//! never holds.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::lifecycle::StatusChange;
use super::limits;
use super::pager::Pager;
use super::params::{to_php_bool, Args, Map, Object, Prop, Value};
use super::store::{EntryStatus, Tenant, ENTRY_TYPE_DATA, ENTRY_TYPE_DOCUMENT};
use super::wire::{self, Out};
use super::Backend;
use crate::engine::deliveries::{Outbound, RetryPolicy};
use crate::engine::vendor::{Context, Vendor};

/// `EventNotificationTemplateStatus`.
pub(crate) const STATUS_DISABLED: i64 = 1;
pub(crate) const STATUS_ACTIVE: i64 = 2;
pub(crate) const STATUS_DELETED: i64 = 3;

/// The only template class vidmock serves.
pub(crate) const TEMPLATE_CLASS: &str = "KalturaHttpNotificationTemplate";
/// `KalturaEventNotificationTemplateType::HTTP`.
const HTTP_TYPE: &str = "httpNotification.Http";

/// How the server retries a notification: its dispatch job is retried on a
/// `kTemporaryException` (any answer but 200 or 204, or none), three execution attempts in
/// all, 60 seconds apart (`configurations/base.ini` `default_job_execution_attempt`,
/// `default_job_retry_interval`; the event notification job type has no entry of its own).
pub(crate) const RETRY_POLICY: RetryPolicy =
    RetryPolicy::new(3, Duration::from_secs(60)).accepting(&[200, 204]);

/// The most templates (not deleted) one partner keeps: the server sets no limit; this bounds
/// memory.
pub(crate) const MAX_TEMPLATES: usize = 100;
/// The most templates kept per partner, deleted ones included; the oldest deleted go first.
pub(crate) const MAX_KEPT: usize = 200;
/// The most conditions of one template, and values of one condition.
const MAX_CONDITIONS: usize = 20;
const MAX_VALUES: usize = 50;
/// The most `customHeaders` a template keeps.
const MAX_HEADERS: usize = 20;
/// The longest string property kept (a URL, PHP code…), in bytes.
const MAX_TEXT: usize = 4096;

/// `KalturaEventNotificationEventType` values of the core (`EventNotificationEventType`).
const EVENT_TYPES: &[&str] = &[
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
];
/// `EventNotificationEventType::OBJECT_CHANGED`: what an entry's status change raises.
const OBJECT_CHANGED: &str = "3";
/// `KalturaEventNotificationEventObjectType` values of the core
/// (`EventNotificationEventObjectType`).
const OBJECT_TYPES: &[&str] = &[
    "1", "2", "3", "4", "5", "8", "9", "10", "11", "12", "14", "15", "16", "17", "18", "19", "20",
    "21", "22", "23", "24", "25", "26", "27", "28", "29", "31", "32", "33", "34", "35", "36", "37",
    "38", "39", "40", "41", "42", "43", "44",
];
/// `EventNotificationEventObjectType::ENTRY`.
const OBJECT_ENTRY: &str = "1";

/// The condition classes vidmock reads, with their `KalturaConditionType`.
const CONDITION_CLASSES: &[(&str, &str)] = &[
    (
        "KalturaEventFieldCondition",
        "eventNotification.BooleanField",
    ),
    ("KalturaFieldMatchCondition", "6"),
];
/// The field classes vidmock reads (the server evaluates their PHP `code`).
const FIELD_CLASSES: &[&str] = &["KalturaEvalBooleanField", "KalturaEvalStringField"];

fn default_status() -> i64 {
    STATUS_ACTIVE
}

/// A condition of a template: `KalturaEventFieldCondition` (a boolean field) or
/// `KalturaFieldMatchCondition` (a string field matched against values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredCondition {
    pub object_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub not: Option<bool>,
    /// The field's class and PHP code.
    #[serde(default)]
    pub field: Option<StoredField>,
    /// The values a match condition compares with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `KalturaEvalBooleanField` or `KalturaEvalStringField`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredField {
    pub object_type: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `KalturaHttpNotificationObjectData`: the object of the event, in `format`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredData {
    #[serde(default)]
    pub api_object_type: Option<String>,
    /// `KalturaResponseType`: 1 JSON, 2 XML.
    #[serde(default)]
    pub format: Option<i64>,
    #[serde(default)]
    pub ignore_null: Option<bool>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub response_profile_id: Option<i64>,
}

/// A template as the server stores it, and as the state file holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredTemplate {
    pub id: i64,
    /// The partner's id, which a document gives once for all its templates.
    #[serde(skip)]
    pub partner_id: i64,
    pub name: String,
    #[serde(default)]
    pub system_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// 1 DISABLED, 2 ACTIVE, 3 DELETED.
    #[serde(default = "default_status")]
    pub status: i64,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default)]
    pub manual_dispatch_enabled: Option<bool>,
    /// Only templates dispatched automatically react to events.
    #[serde(default)]
    pub automatic_dispatch_enabled: Option<bool>,
    /// `KalturaEventNotificationEventType` (`"3"` OBJECT_CHANGED).
    #[serde(default)]
    pub event_type: Option<String>,
    /// `KalturaEventNotificationEventObjectType` (`"1"` entry).
    #[serde(default)]
    pub event_object_type: Option<String>,
    #[serde(default)]
    pub event_conditions: Option<Vec<StoredCondition>>,
    #[serde(default)]
    pub url: Option<String>,
    /// `KalturaHttpNotificationMethod`: 1 GET, 2 POST, 3 PUT, 4 DELETE.
    #[serde(default)]
    pub method: Option<i64>,
    #[serde(default)]
    pub data: Option<StoredData>,
    /// Seconds an attempt may take.
    #[serde(default)]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub connect_timeout: Option<i64>,
    /// `KalturaSecureHashingAlgo`: 1 SHA-1 (and the default), 2 SHA-256, 3 SHA-512.
    #[serde(default)]
    pub secure_hashing_algo: Option<i64>,
    /// `customHeaders` (`KalturaKeyValue`s): headers each notification carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_headers: Option<Vec<StoredHeader>>,
}

/// A `KalturaKeyValue` of `customHeaders`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredHeader {
    pub key: String,
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// Reading a template from a request
// ---------------------------------------------------------------------------------------------

/// One property of an object parameter: absent (kept), null, or a value.
type Patch<T> = Option<Option<T>>;

/// What `add` and `update` read of a `KalturaHttpNotificationTemplate`.
struct Input {
    /// The first readonly property sent with a value.
    readonly: Option<&'static str>,
    name: Patch<String>,
    system_name: Patch<String>,
    description: Patch<String>,
    manual_dispatch_enabled: Patch<bool>,
    automatic_dispatch_enabled: Patch<bool>,
    event_type: Patch<String>,
    event_object_type: Patch<String>,
    event_conditions: Patch<Vec<StoredCondition>>,
    url: Patch<String>,
    method: Patch<i64>,
    data: Patch<StoredData>,
    timeout: Patch<i64>,
    connect_timeout: Patch<i64>,
    secure_hashing_algo: Patch<i64>,
    custom_headers: Patch<Vec<StoredHeader>>,
}

fn prop_name(name: &str) -> String {
    format!("{TEMPLATE_CLASS}::{name}")
}

/// A string property, at most [`MAX_TEXT`] bytes.
fn patch_string(object: &Object<'_>, name: &str) -> Result<Patch<String>, ApiError> {
    match object.prop(name) {
        Prop::Absent => Ok(None),
        Prop::Null => Ok(Some(None)),
        Prop::Value(_) => {
            let value = object.string(name)?;
            limits::max_length(&prop_name(name), value.as_deref(), MAX_TEXT)?;
            Ok(Some(value))
        }
    }
}

fn patch_bool(object: &Object<'_>, name: &str) -> Patch<bool> {
    match object.prop(name) {
        Prop::Absent => None,
        Prop::Null => Some(None),
        Prop::Value(value) => Some(Some(to_php_bool(value))),
    }
}

fn patch_int(object: &Object<'_>, name: &str) -> Patch<i64> {
    match object.prop(name) {
        Prop::Absent => None,
        Prop::Null => Some(None),
        Prop::Value(_) => Some(object.int(name)),
    }
}

fn patch_int_enum(
    object: &Object<'_>,
    name: &str,
    enum_type: &str,
    allowed: &[i64],
) -> Result<Patch<i64>, ApiError> {
    match object.prop(name) {
        Prop::Absent => Ok(None),
        Prop::Null => Ok(Some(None)),
        Prop::Value(_) => Ok(Some(object.int_enum(name, enum_type, allowed)?)),
    }
}

fn patch_string_enum(
    object: &Object<'_>,
    name: &str,
    enum_type: &str,
    allowed: &[&str],
) -> Result<Patch<String>, ApiError> {
    match patch_string(object, name)? {
        Some(Some(value)) if !allowed.contains(&value.as_str()) => Err(ApiError::new(
            "INVALID_ENUM_VALUE",
            &[&value, name, enum_type],
        )),
        other => Ok(other),
    }
}

/// The items of an array property (JSON arrays and form arrays are maps keyed `0`, `1`…), at
/// most `max`.
fn items<'a>(map: &'a Map, name: &str, max: usize) -> Result<Vec<&'a Map>, ApiError> {
    let items: Vec<&Map> = map
        .iter()
        .filter(|(key, _)| key.as_str() != "objectType")
        .filter_map(|(_, value)| match value {
            Value::Map(item) => Some(item),
            _ => None,
        })
        .collect();
    if items.len() > max {
        return Err(limits::too_much_work(format_args!(
            "{} items in {name}, at most {max}",
            items.len()
        )));
    }
    Ok(items)
}

/// A property holding an object or an array (absent, null, or read by `read`); any other
/// value is the wrong format.
fn patch_nested<T>(
    object: &Object<'_>,
    name: &str,
    read: fn(&Map) -> Result<T, ApiError>,
) -> Result<Patch<T>, ApiError> {
    match object.prop(name) {
        Prop::Absent => Ok(None),
        Prop::Null => Ok(Some(None)),
        Prop::Value(Value::Map(map)) => Ok(Some(Some(read(map)?))),
        Prop::Value(_) => Err(ApiError::new(
            "PROPERTY_VALIDATION_WRONG_FORMAT",
            &[name, "array"],
        )),
    }
}

fn object_of<'a>(name: &str, map: &'a Map) -> Object<'a> {
    Object {
        name: name.to_owned(),
        map,
    }
}

/// A text property of a nested object, at most [`MAX_TEXT`] bytes.
fn nested_string(object: &Object<'_>, name: &str) -> Result<Option<String>, ApiError> {
    let value = object.string(name)?;
    limits::max_length(name, value.as_deref(), MAX_TEXT)?;
    Ok(value)
}

/// `KalturaConditionArray`: each item of a class vidmock reads.
fn read_conditions(map: &Map) -> Result<Vec<StoredCondition>, ApiError> {
    let mut conditions = Vec::new();
    for item in items(map, "eventConditions", MAX_CONDITIONS)? {
        let object = object_of("eventConditions", item);
        let class = object.string("objectType")?.unwrap_or_default();
        let Some((class, _)) = CONDITION_CLASSES.iter().find(|(c, _)| *c == class) else {
            return Err(ApiError::new("OBJECT_TYPE_ABSTRACT", &["KalturaCondition"]));
        };
        let field = match object.prop("field") {
            Prop::Value(Value::Map(field)) => {
                let field = object_of("field", field);
                let field_class = field.string("objectType")?.unwrap_or_default();
                let Some(field_class) = FIELD_CLASSES.iter().find(|c| **c == field_class) else {
                    return Err(ApiError::new(
                        "OBJECT_TYPE_ABSTRACT",
                        &["KalturaBooleanField"],
                    ));
                };
                Some(StoredField {
                    object_type: (*field_class).to_owned(),
                    code: nested_string(&field, "code")?,
                    description: nested_string(&field, "description")?,
                })
            }
            _ => None,
        };
        let mut values = Vec::new();
        if let Prop::Value(Value::Map(list)) = object.prop("values") {
            for value in items(list, "values", MAX_VALUES)? {
                let value = object_of("values", value);
                values.push(nested_string(&value, "value")?.unwrap_or_default());
            }
        }
        conditions.push(StoredCondition {
            object_type: (*class).to_owned(),
            description: nested_string(&object, "description")?,
            not: match object.prop("not") {
                Prop::Value(value) => Some(to_php_bool(value)),
                _ => None,
            },
            field,
            values,
        });
    }
    Ok(conditions)
}

/// `KalturaKeyValueArray` of `customHeaders`: each item's key and value. A key that cannot be
/// an HTTP header name, or a value that cannot be a header value, is refused as the wrong
/// format (the server would hand curl a header line it cannot send).
fn read_headers(map: &Map) -> Result<Vec<StoredHeader>, ApiError> {
    let mut headers = Vec::new();
    for item in items(map, "customHeaders", MAX_HEADERS)? {
        let object = object_of("customHeaders", item);
        let key = nested_string(&object, "key")?.unwrap_or_default();
        let value = nested_string(&object, "value")?.unwrap_or_default();
        if http::HeaderName::try_from(key.as_str()).is_err()
            || http::HeaderValue::try_from(value.as_str()).is_err()
        {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_WRONG_FORMAT",
                &["customHeaders", "KalturaKeyValue"],
            ));
        }
        headers.push(StoredHeader { key, value });
    }
    Ok(headers)
}

/// `KalturaHttpNotificationObjectData` (the data classes that send fixed text or form fields
/// are not served).
fn read_data(map: &Map) -> Result<StoredData, ApiError> {
    let object = object_of("data", map);
    if object.string("objectType")?.as_deref() != Some("KalturaHttpNotificationObjectData") {
        return Err(ApiError::new(
            "OBJECT_TYPE_ABSTRACT",
            &["KalturaHttpNotificationData"],
        ));
    }
    let api_object_type = nested_string(&object, "apiObjectType")?;
    // `KalturaHttpNotificationObjectData::toObject`: a KalturaObject subclass.
    if !api_object_type
        .as_deref()
        .is_some_and(|t| t.starts_with("Kaltura") && t.len() > "Kaltura".len())
    {
        return Err(ApiError::new("HTTP_NOTIFICATION_INVALID_OBJECT_TYPE", &[]));
    }
    Ok(StoredData {
        api_object_type,
        format: object.int_enum("format", "KalturaResponseType", &[1, 2, 3, 4, 7, 8, 9])?,
        ignore_null: match object.prop("ignoreNull") {
            Prop::Value(value) => Some(to_php_bool(value)),
            _ => None,
        },
        code: nested_string(&object, "code")?,
        response_profile_id: object.int("responseProfileId"),
    })
}

impl Input {
    fn read(args: &Args<'_>) -> Result<Self, ApiError> {
        let object = args
            .object("eventNotificationTemplate")?
            .ok_or_else(|| ApiError::missing_parameter("eventNotificationTemplate"))?;
        // The declared class is the base template, which cannot be stored
        // (`KalturaEventNotificationTemplate::toObject`); vidmock serves the HTTP one only.
        if object.string("objectType")?.as_deref() != Some(TEMPLATE_CLASS) {
            return Err(ApiError::new("INTERNAL_SERVERL_ERROR", &[]));
        }
        let readonly = ["id", "partnerId", "status", "createdAt", "updatedAt"]
            .into_iter()
            .find(|name| matches!(object.prop(name), Prop::Value(_)));
        let event_conditions = patch_nested(&object, "eventConditions", read_conditions)?;
        let custom_headers = patch_nested(&object, "customHeaders", read_headers)?;
        let data = patch_nested(&object, "data", read_data)?;
        Ok(Self {
            readonly,
            name: patch_string(&object, "name")?,
            system_name: patch_string(&object, "systemName")?,
            description: patch_string(&object, "description")?,
            manual_dispatch_enabled: patch_bool(&object, "manualDispatchEnabled"),
            automatic_dispatch_enabled: patch_bool(&object, "automaticDispatchEnabled"),
            event_type: patch_string_enum(
                &object,
                "eventType",
                "KalturaEventNotificationEventType",
                EVENT_TYPES,
            )?,
            event_object_type: patch_string_enum(
                &object,
                "eventObjectType",
                "KalturaEventNotificationEventObjectType",
                OBJECT_TYPES,
            )?,
            event_conditions,
            url: patch_string(&object, "url")?,
            method: patch_int_enum(
                &object,
                "method",
                "KalturaHttpNotificationMethod",
                &[1, 2, 3, 4],
            )?,
            data,
            timeout: patch_int(&object, "timeout"),
            connect_timeout: patch_int(&object, "connectTimeout"),
            secure_hashing_algo: patch_int_enum(
                &object,
                "secureHashingAlgo",
                "KalturaSecureHashingAlgo",
                &[1, 2, 3],
            )?,
            custom_headers,
        })
    }

    /// `validateForInsert`/`validateForUpdate`, in the server's order: `connectTimeout` ≥ 1
    /// (the HTTP template's own check comes first), the name's and the system name's lengths,
    /// the system name's uniqueness among the partner's ACTIVE templates, then the readonly
    /// properties (`KalturaObject`).
    fn validate(
        &self,
        tenant: Option<&Tenant>,
        current: Option<&StoredTemplate>,
    ) -> Result<(), ApiError> {
        if let Some(Some(timeout)) = self.connect_timeout {
            if timeout < 1 {
                return Err(ApiError::new(
                    "PROPERTY_VALIDATION_MIN_VALUE",
                    &[&prop_name("connectTimeout"), "1"],
                ));
            }
        }
        let name = match &self.name {
            Some(name) => name.as_deref(),
            None => current.map(|t| t.name.as_str()),
        };
        match (name, current) {
            (None, None) => {
                return Err(ApiError::new(
                    "PROPERTY_VALIDATION_CANNOT_BE_NULL",
                    &[&prop_name("name")],
                ))
            }
            (Some(name), _) if self.name.is_some() && name.chars().count() < 3 => {
                return Err(ApiError::new(
                    "PROPERTY_VALIDATION_MIN_LENGTH",
                    &[&prop_name("name"), "3"],
                ))
            }
            _ => {}
        }
        if let Some(Some(system_name)) = &self.system_name {
            if system_name.chars().count() < 3 {
                return Err(ApiError::new(
                    "PROPERTY_VALIDATION_MIN_LENGTH",
                    &[&prop_name("systemName"), "3"],
                ));
            }
            if !system_name.trim().is_empty() {
                let exclude = current.map(|t| t.id);
                if active_with_system_name(tenant, Some(system_name), exclude) {
                    return Err(ApiError::new(
                        "EVENT_NOTIFICATION_TEMPLATE_DUPLICATE_SYSTEM_NAME",
                        &[system_name],
                    ));
                }
            }
        }
        if let Some(name) = self.readonly {
            return Err(ApiError::new(
                "PROPERTY_VALIDATION_NOT_UPDATABLE",
                &[&prop_name(name)],
            ));
        }
        Ok(())
    }

    /// Applies the properties sent to `template`.
    fn apply(self, template: &mut StoredTemplate) {
        fn set<T>(slot: &mut Option<T>, patch: Patch<T>) {
            if let Some(value) = patch {
                *slot = value;
            }
        }
        if let Some(name) = self.name {
            template.name = name.unwrap_or_default();
        }
        set(&mut template.system_name, self.system_name);
        set(&mut template.description, self.description);
        set(
            &mut template.manual_dispatch_enabled,
            self.manual_dispatch_enabled,
        );
        set(
            &mut template.automatic_dispatch_enabled,
            self.automatic_dispatch_enabled,
        );
        set(&mut template.event_type, self.event_type);
        set(&mut template.event_object_type, self.event_object_type);
        set(&mut template.event_conditions, self.event_conditions);
        set(&mut template.url, self.url);
        set(&mut template.method, self.method);
        set(&mut template.data, self.data);
        set(&mut template.timeout, self.timeout);
        set(&mut template.connect_timeout, self.connect_timeout);
        set(&mut template.secure_hashing_algo, self.secure_hashing_algo);
        set(&mut template.custom_headers, self.custom_headers);
    }
}

/// `EventNotificationTemplatePeer::retrieveBySystemName`: an ACTIVE template of the partner
/// with this system name (`None` matches templates without one), other than `exclude`.
fn active_with_system_name(
    tenant: Option<&Tenant>,
    system_name: Option<&str>,
    exclude: Option<i64>,
) -> bool {
    tenant.is_some_and(|t| {
        t.templates.values().any(|other| {
            other.status == STATUS_ACTIVE
                && other.system_name.as_deref() == system_name
                && Some(other.id) != exclude
        })
    })
}

fn required(session: Option<Session>) -> Result<Session, ApiError> {
    session.ok_or_else(|| ApiError::new("MISSING_KS", &[]))
}

fn not_found(id: i64) -> ApiError {
    ApiError::new("EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND", &[&id.to_string()])
}

/// A template of the session's partner that is not deleted (the peer's default criteria).
fn find(tenant: Option<&Tenant>, id: i64) -> Option<&StoredTemplate> {
    tenant
        .and_then(|t| t.templates.get(&id))
        .filter(|t| t.status != STATUS_DELETED)
}

/// `id`: an int parameter, mandatory.
/// Changes template `id` of the session's partner, as `update` and `updateStatus` do: `check`
/// sees the partner and the template as they stand and refuses, or gives the change to make,
/// which is stamped now; the answer is the template changed.
fn change<F: FnOnce(&mut StoredTemplate)>(
    call: &Call,
    session: Option<Session>,
    id: i64,
    check: impl FnOnce(Option<&Tenant>, &StoredTemplate) -> Result<F, ApiError>,
) -> Result<Out, ApiError> {
    let session = required(session)?;
    let now = call.served.cx.clock.now();
    let mut tenants = call.served.backend.store.lock();
    let tenant = tenants.get(&session.partner_id);
    let current = find(tenant, id).ok_or_else(|| not_found(id))?;
    let apply = check(tenant, current)?;
    let Some(template) = tenants
        .get_mut(&session.partner_id)
        .and_then(|t| t.templates.get_mut(&id))
    else {
        return Err(not_found(id));
    };
    apply(template);
    template.updated_at = now;
    Ok(wire::notification_template(template))
}

fn read_id(args: &Args<'_>) -> Result<i64, ApiError> {
    args.required_string("id")?;
    Ok(args.int("id", 0))
}

// ---------------------------------------------------------------------------------------------
// add, get, update, updateStatus, delete
// ---------------------------------------------------------------------------------------------

/// `eventNotificationTemplate.add(eventNotificationTemplate)`: ACTIVE, the session's partner.
pub(crate) struct Add(Input);

impl Action for Add {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self(Input::read(&args)?))
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let tenant = tenants.entry(session.partner_id).or_default();
        self.0.validate(Some(tenant), None)?;
        let live = tenant
            .templates
            .values()
            .filter(|t| t.status != STATUS_DELETED)
            .count();
        if live >= MAX_TEMPLATES {
            return Err(limits::too_much_work(format_args!(
                "partner {} holds {MAX_TEMPLATES} event notification templates",
                session.partner_id
            )));
        }
        let id = tenant.templates.keys().max().map_or(1, |max| max + 1);
        let mut template = StoredTemplate {
            id,
            partner_id: session.partner_id,
            name: String::new(),
            system_name: None,
            description: None,
            status: STATUS_ACTIVE,
            created_at: now,
            updated_at: now,
            manual_dispatch_enabled: None,
            automatic_dispatch_enabled: None,
            event_type: None,
            event_object_type: None,
            event_conditions: None,
            url: None,
            method: None,
            data: None,
            timeout: None,
            connect_timeout: None,
            secure_hashing_algo: None,
            custom_headers: None,
        };
        self.0.apply(&mut template);
        let out = wire::notification_template(&template);
        tenant.templates.insert(id, template);
        // Deleted templates beyond the bound are forgotten, oldest first.
        while tenant.templates.len() > MAX_KEPT {
            let Some(oldest) = tenant
                .templates
                .values()
                .find(|t| t.status == STATUS_DELETED)
                .map(|t| t.id)
            else {
                break;
            };
            tenant.templates.shift_remove(&oldest);
        }
        Ok(out)
    }
}

/// `eventNotificationTemplate.get(id)`.
pub(crate) struct Get {
    id: i64,
}

impl Action for Get {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: read_id(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let tenants = call.served.backend.store.lock();
        find(tenants.get(&session.partner_id), self.id)
            .map(wire::notification_template)
            .ok_or_else(|| not_found(self.id))
    }
}

/// `eventNotificationTemplate.update(id, eventNotificationTemplate)`.
pub(crate) struct Update {
    id: i64,
    input: Input,
}

impl Action for Update {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: read_id(&args)?,
            input: Input::read(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let input = self.input;
        change(call, session, self.id, |tenant, current| {
            input.validate(tenant, Some(current))?;
            Ok(move |template: &mut StoredTemplate| input.apply(template))
        })
    }
}

/// `eventNotificationTemplate.updateStatus(id, status)`.
pub(crate) struct UpdateStatus {
    id: i64,
    status: i64,
}

impl Action for UpdateStatus {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let id = read_id(&args)?;
        args.required_string("status")?;
        Ok(Self {
            id,
            status: args.int_enum(
                "status",
                "KalturaEventNotificationTemplateStatus",
                &[STATUS_DISABLED, STATUS_ACTIVE, STATUS_DELETED],
                STATUS_ACTIVE,
            )?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let status = self.status;
        change(call, session, self.id, |tenant, current| {
            // `updateStatusAction` looks for an ACTIVE template with this system name,
            // itself included.
            let name = current.system_name.as_deref();
            if status == STATUS_ACTIVE && active_with_system_name(tenant, name, None) {
                return Err(ApiError::new(
                    "EVENT_NOTIFICATION_TEMPLATE_DUPLICATE_SYSTEM_NAME",
                    &[name.unwrap_or_default()],
                ));
            }
            Ok(move |template: &mut StoredTemplate| template.status = status)
        })
    }
}

/// `eventNotificationTemplate.delete(id)`: DELETED; void.
pub(crate) struct Delete {
    id: i64,
}

impl Action for Delete {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            id: read_id(&args)?,
        })
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        let session = required(session)?;
        let now = call.served.cx.clock.now();
        let mut tenants = call.served.backend.store.lock();
        let template = tenants
            .get_mut(&session.partner_id)
            .and_then(|t| t.templates.get_mut(&self.id))
            .filter(|t| t.status != STATUS_DELETED)
            .ok_or_else(|| not_found(self.id))?;
        template.status = STATUS_DELETED;
        template.updated_at = now;
        Ok(Out::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

/// `eventNotificationTemplate.list(filter = null, pager = null)`: `KalturaEventNotificationTemplateFilter`'s
/// `idEqual`, `idIn`, `systemNameEqual`, `systemNameIn`, `typeEqual`, `typeIn`, `statusEqual`,
/// `statusIn`; newest id first (`listAction` orders by descending id).
pub(crate) struct List {
    id_equal: Option<i64>,
    id_in: Option<String>,
    system_name_equal: Option<String>,
    system_name_in: Option<String>,
    type_equal: Option<String>,
    type_in: Option<String>,
    status_equal: Option<i64>,
    status_in: Option<String>,
    pager: Pager,
}

impl Action for List {
    const ACCESS: Access = Access::Admin;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        let mut list = Self {
            id_equal: None,
            id_in: None,
            system_name_equal: None,
            system_name_in: None,
            type_equal: None,
            type_in: None,
            status_equal: None,
            status_in: None,
            pager: Pager::read(&args)?,
        };
        if let Some(f) = args.object("filter")? {
            list.id_equal = f.int("idEqual");
            list.id_in = f.string("idIn")?;
            list.system_name_equal = f.string("systemNameEqual")?;
            list.system_name_in = f.string("systemNameIn")?;
            list.type_equal = f.string("typeEqual")?;
            list.type_in = f.string("typeIn")?;
            list.status_equal = f.int_enum(
                "statusEqual",
                "KalturaEventNotificationTemplateStatus",
                &[STATUS_DISABLED, STATUS_ACTIVE, STATUS_DELETED],
            )?;
            list.status_in = f.string("statusIn")?;
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
        let names_in = split(&self.system_name_in);
        let types_in = split(&self.type_in);
        let statuses_in = split(&self.status_in);
        let tenants = call.served.backend.store.lock();
        let mut matched: Vec<&StoredTemplate> = tenants
            .get(&session.partner_id)
            .map(|t| t.templates.values().collect())
            .unwrap_or_default();
        matched.retain(|t| {
            t.status != STATUS_DELETED
                && self.id_equal.is_none_or(|id| t.id == id)
                && ids_in
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&t.id.to_string()))
                && self
                    .system_name_equal
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .is_none_or(|n| t.system_name.as_deref() == Some(n))
                && names_in.as_ref().is_none_or(|names| {
                    t.system_name
                        .as_ref()
                        .is_some_and(|name| names.contains(name))
                })
                && self
                    .type_equal
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .is_none_or(|n| n == HTTP_TYPE)
                && types_in
                    .as_ref()
                    .is_none_or(|types| types.iter().any(|t| t == HTTP_TYPE))
                && self.status_equal.is_none_or(|s| t.status == s)
                && statuses_in
                    .as_ref()
                    .is_none_or(|s| s.contains(&t.status.to_string()))
        });
        matched.sort_by_key(|t| std::cmp::Reverse(t.id));
        let total = matched.len();
        let page = self
            .pager
            .page(matched)
            .into_iter()
            .map(wire::notification_template)
            .collect();
        Ok(wire::list_response(
            "KalturaEventNotificationTemplateListResponse",
            page,
            total,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

impl StoredTemplate {
    /// Whether an entry's status change raises this template: ACTIVE, dispatched
    /// automatically, OBJECT_CHANGED on an entry (`kEventNotificationFlowManager::
    /// getNotificationTemplates`), and every condition holds.
    fn fires_on(&self, change: &StatusChange) -> bool {
        self.status == STATUS_ACTIVE
            && self.automatic_dispatch_enabled == Some(true)
            && self.event_type.as_deref() == Some(OBJECT_CHANGED)
            && self.event_object_type.as_deref() == Some(OBJECT_ENTRY)
            && self
                .event_conditions
                .iter()
                .flatten()
                .all(|condition| holds(condition, change))
    }
}

/// Whether `condition` holds for `change`; a condition vidmock cannot read never holds.
fn holds(condition: &StoredCondition, change: &StatusChange) -> bool {
    let code = condition
        .field
        .as_ref()
        .and_then(|f| f.code.as_deref())
        .unwrap_or_default();
    let value = match condition.object_type.as_str() {
        "KalturaEventFieldCondition" => eval_bool(code, change),
        "KalturaFieldMatchCondition" => {
            eval_string(code, change).map(|v| condition.values.contains(&v))
        }
        _ => None,
    };
    value.is_some_and(|v| v != condition.not.unwrap_or(false))
}

/// The PHP code without its white space, for matching the expressions vidmock knows.
fn compact(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A boolean field's code: a conjunction (`&&`) of the clauses the server's default entry
/// templates use (`deployment/base/scripts/init_content/03.EventNotificationTemplate.0.template.xml`).
fn eval_bool(code: &str, change: &StatusChange) -> Option<bool> {
    let mut all = true;
    for clause in compact(code).split("&&") {
        all &= eval_clause(clause, change)?;
    }
    Some(all)
}

fn eval_clause(clause: &str, change: &StatusChange) -> Option<bool> {
    let entry = &change.entry;
    match clause {
        "true" => Some(true),
        "false" => Some(false),
        "$scope->getObject()instanceofentry" => Some(true),
        // Every change vidmock raises is a status change.
        "in_array(entryPeer::STATUS,$scope->getEvent()->getModifiedColumns())" => {
            Some(change.from != entry.status)
        }
        "!(in_array($scope->getObject()->getType(),array(entryType::DATA,entryType::DOCUMENT)))" => {
            Some(![ENTRY_TYPE_DATA, ENTRY_TYPE_DOCUMENT].contains(&entry.entry_type))
        }
        _ => {
            let wanted = clause.strip_prefix("$scope->getObject()->getStatus()==")?;
            Some(status_constant(wanted)? == entry.status.code())
        }
    }
}

/// `entryStatus::NAME` (or a number) as the status code.
fn status_constant(text: &str) -> Option<&'static str> {
    let text = text.trim_matches(|c| c == '(' || c == ')');
    let code = match text.strip_prefix("entryStatus::").unwrap_or(text) {
        "ERROR_CONVERTING" | "-1" => EntryStatus::ErrorConverting,
        "IMPORT" | "0" => EntryStatus::Import,
        "PRECONVERT" | "1" => EntryStatus::Preconvert,
        "READY" | "2" => EntryStatus::Ready,
        "DELETED" | "3" => EntryStatus::Deleted,
        "NO_CONTENT" | "7" => EntryStatus::NoContent,
        _ => return None,
    };
    Some(code.code())
}

/// A string field's code: the entry's status or id.
fn eval_string(code: &str, change: &StatusChange) -> Option<String> {
    match compact(code).as_str() {
        "$scope->getObject()->getStatus()" => Some(change.entry.status.code().to_owned()),
        "$scope->getObject()->getId()" => Some(change.entry.id.clone()),
        _ => None,
    }
}

/// Turns the status changes recorded during a call into notifications: every change of every
/// partner's entries is taken, and each template it raises gets a delivery due when the change
/// happens. Called when a call (or a test's lifecycle action) ends.
pub(crate) fn flush(backend: &Backend, cx: &Context) {
    let mut raised: Vec<(i64, Vec<StoredTemplate>, Vec<StatusChange>)> = Vec::new();
    {
        let mut tenants = backend.store.lock();
        for (&partner, tenant) in tenants.iter_mut() {
            let changed: Vec<String> = tenant
                .entries
                .iter()
                .filter(|(_, e)| !e.changes.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            if changed.is_empty() {
                continue;
            }
            let mut changes = Vec::new();
            for id in changed {
                if let Some(entry) = tenant.entries.get_mut(&id) {
                    changes.append(&mut entry.changes);
                }
            }
            if let Some(templates) = active_templates(tenant) {
                raised.push((partner, templates, changes));
            }
        }
    }
    notify(backend, cx, raised);
}

/// After a restore from the state file: the status changes of the conversions still under way,
/// queued for when they happen (the queue itself is not saved; a change that fell due before
/// the restart and was not sent is not sent).
pub(crate) fn resume(backend: &Backend, cx: &Context) {
    let now = cx.clock.now();
    let raised: Vec<(i64, Vec<StoredTemplate>, Vec<StatusChange>)> = {
        let tenants = backend.store.lock();
        tenants
            .iter()
            .filter_map(|(&partner, tenant)| {
                let templates = active_templates(tenant)?;
                let changes: Vec<StatusChange> = tenant
                    .entries
                    .values()
                    .filter_map(|entry| {
                        let done_at = entry.conversion.as_ref()?.done_at;
                        let mut future = entry.clone();
                        future.changes.clear();
                        super::lifecycle::step(&mut future, done_at);
                        Some(future.changes)
                    })
                    .flatten()
                    .filter(|change| change.at > now)
                    .collect();
                (!changes.is_empty()).then_some((partner, templates, changes))
            })
            .collect()
    };
    notify(backend, cx, raised);
}

/// The partner's active templates, if it has any.
fn active_templates(tenant: &Tenant) -> Option<Vec<StoredTemplate>> {
    let templates: Vec<StoredTemplate> = tenant
        .templates
        .values()
        .filter(|t| t.status == STATUS_ACTIVE)
        .cloned()
        .collect();
    (!templates.is_empty()).then_some(templates)
}

/// Queues the notifications each partner's templates ask for, for its changes.
fn notify(
    backend: &Backend,
    cx: &Context,
    raised: Vec<(i64, Vec<StoredTemplate>, Vec<StatusChange>)>,
) {
    for (partner, templates, changes) in raised {
        let secret = backend
            .partner(partner)
            .map(|p| p.admin_secret)
            .unwrap_or_default();
        for change in &changes {
            for template in templates.iter().filter(|t| t.fires_on(change)) {
                let job = backend
                    .store
                    .notification_jobs
                    .fetch_add(1, Ordering::Relaxed);
                send(cx, template, change, job, &secret);
            }
        }
    }
}

/// What `KalturaHttpNotificationObjectData::getData` makes of a change, and its content type
/// (`getContentType`): JSON as it is (a template made through the API never URL-encodes),
/// XML as `data=<notification>…</notification>`, anything else `data=`; a template without
/// data sends no body and no content type.
fn body(
    template: &StoredTemplate,
    change: &StatusChange,
    job: i64,
    base: &str,
) -> (String, Option<&'static str>) {
    let Some(data) = &template.data else {
        return (String::new(), None);
    };
    let int_or_text = |value: Option<&str>| {
        value.map_or(Out::Null, |v| {
            v.parse::<i64>()
                .map_or_else(|_| Out::Str(v.to_owned()), Out::Int)
        })
    };
    let notification = Out::Object(
        wire::Object::new("KalturaHttpNotification")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("object", wire::entry(&change.entry, base))
            .prop(
                "eventObjectType",
                int_or_text(template.event_object_type.as_deref()),
            )
            .prop("eventNotificationJobId", Out::Int(job))
            .prop("templateId", Out::Int(template.id))
            .prop("templateName", Out::Str(template.name.clone()))
            .prop(
                "templateSystemName",
                template.system_name.clone().map_or(Out::Null, Out::Str),
            )
            .prop("eventType", int_or_text(template.event_type.as_deref())),
    );
    match data.format {
        Some(1) => (wire::json_text(&notification), Some("application/json")),
        Some(2) => (
            format!(
                "data=<notification>{}</notification>",
                wire::xml_fragment(&notification, data.ignore_null.unwrap_or(false))
            ),
            Some("application/xml"),
        ),
        _ => ("data=".to_owned(), Some("application/xml")),
    }
}

/// `X-KALTURA-HASH-ALGO` for `secureHashingAlgo`, and the digest of `secret . body` in it.
pub(crate) fn signature(algo: Option<i64>, secret: &str, body: &[u8]) -> (&'static str, String) {
    use sha2::Digest as _;
    match algo {
        Some(2) => (
            "sha256",
            crate::engine::hex::encode(
                sha2::Sha256::new()
                    .chain_update(secret)
                    .chain_update(body)
                    .finalize(),
            ),
        ),
        Some(3) => (
            "sha512",
            crate::engine::hex::encode(
                sha2::Sha512::new()
                    .chain_update(secret)
                    .chain_update(body)
                    .finalize(),
            ),
        ),
        _ => (
            "sha1",
            crate::engine::hex::encode(
                sha1::Sha1::new()
                    .chain_update(secret)
                    .chain_update(body)
                    .finalize(),
            ),
        ),
    }
}

/// `KalturaHttpNotificationMethod`.
const METHOD_POST: i64 = 2;
const METHOD_PUT: i64 = 3;
const METHOD_DELETE: i64 = 4;

/// What a GET notification's data has encoded to travel in a URL: what a URI's query may not
/// hold as it is (curl sends the data as written; a receiver decodes the query either way).
const NOT_IN_QUERY: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']');

/// Queues one notification of `template` about `change`.
fn send(cx: &Context, template: &StoredTemplate, change: &StatusChange, job: i64, secret: &str) {
    let (body, content_type) = body(template, change, job, &cx.base_url);
    let (algo, signature) = signature(template.secure_hashing_algo, secret, body.as_bytes());
    // `Engine.php:62–112`: the signature, the template's own headers, then the data's
    // content type unless one of those set it.
    let mut headers = vec![
        ("X-KALTURA-SIGNATURE".to_owned(), signature),
        ("X-KALTURA-HASH-ALGO".to_owned(), algo.to_owned()),
    ];
    let custom = template.custom_headers.as_deref().unwrap_or_default();
    headers.extend(custom.iter().map(|h| (h.key.clone(), h.value.clone())));
    let content_type_set = custom
        .iter()
        .any(|h| h.key.eq_ignore_ascii_case("content-type"));
    if let (Some(content_type), false) = (content_type, content_type_set) {
        headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    // `Engine.php:121–150`: POST, PUT and DELETE carry the data as their body; GET (the
    // method of a template that names none) appends it to the URL after a `?`.
    let method = match template.method {
        Some(METHOD_POST) => http::Method::POST,
        Some(METHOD_PUT) => http::Method::PUT,
        Some(METHOD_DELETE) => http::Method::DELETE,
        _ => http::Method::GET,
    };
    let mut url = template.url.clone().unwrap_or_default();
    let body = if method == http::Method::GET {
        if !body.is_empty() {
            url.push('?');
            url.extend(percent_encoding::utf8_percent_encode(&body, NOT_IN_QUERY));
        }
        String::new()
    } else {
        body
    };
    let mut policy = RETRY_POLICY;
    if let Some(seconds) = template.timeout.filter(|t| *t > 0) {
        policy = policy.timeout(Duration::from_secs(seconds.unsigned_abs()));
    }
    cx.deliveries.enqueue(Outbound {
        vendor: Vendor::KALTURA,
        // The template and the object, as the dispatch job names them.
        event: format!(
            "eventNotification {} {}",
            template.system_name.as_deref().unwrap_or(&template.name),
            change.entry.id
        ),
        method,
        url,
        headers,
        body: bytes::Bytes::from(body),
        signature_headers: vec!["X-KALTURA-SIGNATURE".into()],
        policy,
        due: change.at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_hash_the_secret_followed_by_the_body() {
        // `hash('sha1', 'secret' . 'body')` and friends, as PHP writes them.
        assert_eq!(
            signature(None, "secret", b"body"),
            (
                "sha1",
                "16d335e9e89439586140f1ab58ccd5d60b998b92".to_owned()
            )
        );
        assert_eq!(
            signature(Some(2), "secret", b"body"),
            (
                "sha256",
                "62ea2e334a3ca4a272ae4655478e6f6229a1211cc4c4ca203f03068d8fe4cdec".to_owned()
            )
        );
        assert_eq!(signature(Some(3), "secret", b"body").0, "sha512");
    }
}
