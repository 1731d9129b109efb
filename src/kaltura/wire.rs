//! The one serialisation layer of API v3: results and errors as typed values, written as JSON
//! (`format=1`), XML (`format=2`, the default) or JSONP (`format=9`).
//!
//! Handlers return [`Out`] values; nothing else writes a response body, so the differences
//! between formats (JSON omits nulls and puts `objectType` last, XML writes every declared
//! property with `objectType` first and booleans as `1`/`0`) live here only
//! (../shared/specs/kaltura.md §1.5–§1.6).

use std::time::Duration;

use http::{header, HeaderMap, HeaderName, HeaderValue};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::error::ApiError;
use super::params::{php_float_string, Map, Value};
use super::store::{StoredEntry, StoredToken};
use crate::engine::body::{IntoResponse, Response};

/// A result as the API's serializers see it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Out {
    /// `null` in JSON; an empty element in XML (a void result is `Null`).
    Null,
    Bool(bool),
    Int(i64),
    /// No service answers a float yet.
    #[allow(dead_code)]
    Float(f64),
    /// Strings, and also the sizes the server sends as strings (BIGINT columns).
    Str(String),
    Object(Object),
    Array(Vec<Out>),
    Error(ApiError),
}

/// A `Kaltura…` object: its class and its declared properties, parent's first.
///
/// XML writes the properties in that order; JSON writes each class's own properties before
/// the ones it inherits (`{"objects":[…],"totalCount":0,…}`), so an object records where each
/// subclass's properties begin.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Object {
    pub class: &'static str,
    pub props: Vec<(&'static str, Out)>,
    /// Where the properties of each subclass begin in `props`, base class first.
    levels: Vec<usize>,
}

impl Object {
    pub(crate) fn new(class: &'static str) -> Self {
        Self {
            class,
            // Most classes declare a dozen or two properties: one allocation for them.
            props: Vec::with_capacity(16),
            // A class hierarchy is rarely deeper than four.
            levels: Vec::with_capacity(4),
        }
    }

    /// Marks the properties added from here on as declared by a subclass of the ones before.
    pub(crate) fn subclass(mut self) -> Self {
        self.levels.push(self.props.len());
        self
    }

    /// The properties in JSON order: the most derived class's first, the base class's last.
    fn json_order(&self) -> impl Iterator<Item = &(&'static str, Out)> {
        (0..=self.levels.len()).rev().flat_map(move |level| {
            let start = level.checked_sub(1).map_or(0, |parent| self.levels[parent]);
            let end = self.levels.get(level).copied().unwrap_or(self.props.len());
            self.props[start..end].iter()
        })
    }

    /// Adds a declared property (`Out::Null` when it has no value).
    pub(crate) fn prop(mut self, name: &'static str, value: Out) -> Self {
        self.props.push((name, value));
        self
    }

    /// The property `name`, for `{N:result:name}` references.
    pub(crate) fn get(&self, name: &str) -> Option<&Out> {
        self.props.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl From<Result<Out, ApiError>> for Out {
    fn from(result: Result<Out, ApiError>) -> Self {
        result.unwrap_or_else(Out::Error)
    }
}

/// The response format a request asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml {
        /// `ignoreNull=1`: omit null properties.
        ignore_null: bool,
    },
    Jsonp {
        callback: String,
    },
}

/// Why no serializer could be chosen; the server then answers without a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NoFormat {
    /// `format` names no serializer.
    Unknown,
    /// `format=9` without a `callback` query parameter.
    MissingCallback,
    /// `format=9` with a callback outside `[0-9_a-zA-Z.]`.
    InvalidCallback,
}

impl Format {
    /// The format selected by `format` (any source), `ignoreNull` and, for JSONP, the
    /// `callback` query parameter.
    pub(crate) fn select(params: &Map, query_callback: Option<String>) -> Result<Self, NoFormat> {
        let code = match params.get("format") {
            None => 2.0,
            Some(Value::Str(s)) => match s.trim().parse::<f64>() {
                Ok(n) => n,
                Err(_) => return Err(NoFormat::Unknown),
            },
            Some(Value::Int(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            Some(_) => return Err(NoFormat::Unknown),
        };
        if code.fract() != 0.0 {
            return Err(NoFormat::Unknown);
        }
        match code as i64 {
            1 => Ok(Format::Json),
            2 => Ok(Format::Xml {
                ignore_null: matches!(params.get("ignoreNull"), Some(Value::Bool(true)))
                    || matches!(params.get("ignoreNull"), Some(Value::Str(s)) if s == "1"),
            }),
            9 => {
                let callback = query_callback.ok_or(NoFormat::MissingCallback)?;
                if callback
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    Ok(Format::Jsonp { callback })
                } else {
                    Err(NoFormat::InvalidCallback)
                }
            }
            _ => Err(NoFormat::Unknown),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml { .. } => "text/xml",
            Format::Jsonp { .. } => "application/javascript",
        }
    }
}

/// What the response body holds.
pub(crate) enum Body {
    /// One result (or error).
    Single(Out),
    /// A multirequest: one item per processed sub-request.
    Multi(Vec<Out>),
}

/// The full response: body in `format`, headers of §1.5, always HTTP 200.
pub(crate) fn respond(
    format: &Format,
    body: Body,
    content_type_override: Option<&str>,
    elapsed: Duration,
) -> Response {
    let text = match format {
        Format::Json => json_body(&body),
        Format::Jsonp { callback } => format!("{callback}({});", json_body(&body)),
        Format::Xml { ignore_null } => xml_body(&body, *ignore_null, elapsed),
    };
    let mut response = text.into_response();
    // The content type and the common headers, grown into once.
    response.headers_mut().reserve(8);
    let content_type = content_type_override
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or(HeaderValue::from_static(format.content_type()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    common_headers(response.headers_mut());
    if let Some(codes) = error_codes(&body) {
        response
            .extensions_mut()
            .insert(crate::engine::journal::ErrorCode(codes));
    }
    response
}

/// The exception codes an answer carries, for the journal: a call's, or a multirequest's
/// failed calls' (comma separated, each once, in order).
fn error_codes(body: &Body) -> Option<String> {
    let mut codes: Vec<&str> = Vec::new();
    let outs = match body {
        Body::Single(out) => std::slice::from_ref(out),
        Body::Multi(outs) => outs.as_slice(),
    };
    for out in outs {
        if let Out::Error(error) = out {
            if !codes.contains(&error.code()) {
                codes.push(error.code());
            }
        }
    }
    (!codes.is_empty()).then(|| codes.join(","))
}

/// The answer when no serializer can be built: 200, no body, the reason in `X-Kaltura`.
pub(crate) fn respond_without_format(reason: NoFormat) -> Response {
    let value = match reason {
        NoFormat::Unknown => "error- UNKNOWN_RESPONSE_FORMAT",
        NoFormat::MissingCallback => "error- MANDATORY_PARAMETER_MISSING",
        NoFormat::InvalidCallback => "error- INVALID_FIELD_VALUE",
    };
    let mut response = Response::default();
    response.headers_mut().insert(
        HeaderName::from_static("x-kaltura"),
        HeaderValue::from_static(value),
    );
    common_headers(response.headers_mut());
    let code = value.trim_start_matches("error- ").to_owned();
    response
        .extensions_mut()
        .insert(crate::engine::journal::ErrorCode(code));
    response
}

/// `OPTIONS`: answered at once, 200, empty body, CORS preflight headers.
pub(crate) fn respond_to_options() -> Response {
    let mut response = Response::default();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "Origin, X-Requested-With, Content-Type, Accept, Range, Cache-Control",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

fn common_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "Server, Content-Length, Content-Range, Date, X-Kaltura, X-Kaltura-Session, X-Me",
        ),
    );
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_static("Sun, 19 Nov 2000 08:52:00 GMT"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-me"),
        HeaderValue::from_static("vidmock"),
    );
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn json_body(body: &Body) -> String {
    // Most answers are a few hundred bytes: one allocation instead of a series of regrowths.
    let mut bytes = Vec::with_capacity(1024);
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, PhpJson);
    // Serialising into memory cannot fail.
    let _ = match body {
        Body::Single(out) => serde::Serialize::serialize(&Json(out), &mut serializer),
        Body::Multi(items) => {
            serde::Serializer::collect_seq(&mut serializer, items.iter().map(Json))
        }
    };
    String::from_utf8(bytes).unwrap_or_default()
}

/// An answer written straight to JSON, as `json_encode` writes the server's objects: what
/// building a `serde_json::Value` first would give (see the test against [`to_json`]) without
/// a map and a string per property of every answer.
struct Json<'a>(&'a Out);

impl serde::Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Out::Null => serializer.serialize_unit(),
            Out::Bool(b) => serializer.serialize_bool(*b),
            Out::Int(i) => serializer.serialize_i64(*i),
            Out::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            Out::Float(_) => serializer.serialize_unit(),
            Out::Str(text) => serializer.serialize_str(text),
            Out::Array(items) => {
                serializer.collect_seq(items.iter().filter(|item| **item != Out::Null).map(Json))
            }
            Out::Object(object) => {
                let mut entries = JsonEntries::default();
                for (name, value) in object.json_order() {
                    if *value != Out::Null {
                        entries.insert(name, Entry::Out(value));
                    }
                }
                entries.insert("objectType", Entry::Str(object.class));
                entries.serialize(serializer)
            }
            Out::Error(error) => {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("code", error.code())?;
                map.serialize_entry("message", error.message())?;
                map.serialize_entry("objectType", "KalturaAPIException")?;
                if error.args().is_empty() {
                    map.serialize_entry("args", &[(); 0])?;
                } else {
                    let mut args = JsonEntries::default();
                    for (name, value) in error.args() {
                        args.insert(name, Entry::Str(value));
                    }
                    map.serialize_entry("args", &args)?;
                }
                map.end()
            }
        }
    }
}

/// One value of a JSON object being written.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Out(&'a Out),
    Str(&'a str),
}

/// The members of a JSON object as a map gives them: a name set twice keeps its first place
/// and its last value.
#[derive(Default)]
struct JsonEntries<'a>(Vec<(&'a str, Entry<'a>)>);

impl<'a> JsonEntries<'a> {
    fn insert(&mut self, name: &'a str, value: Entry<'a>) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl serde::Serialize for JsonEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            match value {
                Entry::Out(out) => map.serialize_entry(name, &Json(out))?,
                Entry::Str(text) => map.serialize_entry(name, text)?,
            }
        }
        map.end()
    }
}

/// One value as the API's JSON serializer writes it on its own (nulls left out, `objectType`
/// last), for a body that is not an API answer (an HTTP notification's).
pub(crate) fn json_text(out: &Out) -> String {
    let mut bytes = Vec::with_capacity(1024);
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, PhpJson);
    // Serialising into memory cannot fail.
    let _ = serde::Serialize::serialize(&Json(out), &mut serializer);
    String::from_utf8(bytes).unwrap_or_default()
}

/// The answer as a `serde_json::Value`: the reference [`Json`] is tested against.
#[cfg(test)]
fn to_json(out: &Out) -> serde_json::Value {
    use serde_json::Value as J;
    match out {
        Out::Null => J::Null,
        Out::Bool(b) => J::Bool(*b),
        Out::Int(i) => J::from(*i),
        Out::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Out::Str(s) => J::String(s.clone()),
        Out::Array(items) => J::Array(
            items
                .iter()
                .filter(|item| **item != Out::Null)
                .map(to_json)
                .collect(),
        ),
        Out::Object(object) => {
            let mut map = serde_json::Map::new();
            for (name, value) in object.json_order() {
                if *value != Out::Null {
                    map.insert((*name).to_owned(), to_json(value));
                }
            }
            map.insert("objectType".into(), J::String(object.class.to_owned()));
            J::Object(map)
        }
        Out::Error(error) => {
            let args = if error.args().is_empty() {
                J::Array(Vec::new())
            } else {
                J::Object(
                    error
                        .args()
                        .iter()
                        .map(|(k, v)| (k.clone(), J::String(v.clone())))
                        .collect(),
                )
            };
            serde_json::json!({
                "code": error.code(),
                "message": error.message(),
                "objectType": "KalturaAPIException",
                "args": args,
            })
        }
    }
}

/// PHP `json_encode` defaults: `/` escaped as `\/`, non-ASCII as `\uXXXX`.
struct PhpJson;

impl serde_json::ser::Formatter for PhpJson {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        let mut units = [0u16; 2];
        let mut rest = fragment;
        // Runs of plain ASCII go out whole; `/` and non-ASCII characters are escaped.
        while let Some(at) = rest.bytes().position(|b| b == b'/' || !b.is_ascii()) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or('/');
            if c == '/' {
                writer.write_all(b"\\/")?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

fn xml_body(body: &Body, ignore_null: bool, elapsed: Duration) -> String {
    // Most answers are well under 1 KiB: one allocation instead of a series of regrowths.
    let mut writer = Writer::new(Vec::with_capacity(1024));
    let mut xml = XmlOut {
        writer: &mut writer,
        ignore_null,
    };
    xml.write_all(body, elapsed);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

/// The content `KalturaXmlSerializer::serialize` writes for one value, without the
/// `<xml><result>` envelope of an answer (an HTTP notification wraps it in `<notification>`).
pub(crate) fn xml_fragment(out: &Out, ignore_null: bool) -> String {
    let mut writer = Writer::new(Vec::with_capacity(1024));
    XmlOut {
        writer: &mut writer,
        ignore_null,
    }
    .value(out);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

/// Whether XML 1.0 may carry `c` (the `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{D7FF}').contains(&c)
        || ('\u{E000}'..='\u{FFFD}').contains(&c)
        || c >= '\u{10000}'
}

struct XmlOut<'w> {
    writer: &'w mut Writer<Vec<u8>>,
    ignore_null: bool,
}

impl XmlOut<'_> {
    // Writing into a Vec cannot fail, so the event results are ignored throughout.
    fn event(&mut self, event: Event<'_>) {
        let _ = self.writer.write_event(event);
    }

    fn start(&mut self, name: &str) {
        self.event(Event::Start(BytesStart::new(name)));
    }

    fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// Escaped text. Characters XML 1.0 cannot carry at all, not even as references (control
    /// characters, U+FFFE, U+FFFF), are left out, so a document echoing a client's bytes (a KS,
    /// a service name) stays well-formed for the Python client's parser.
    fn text(&mut self, text: &str) {
        if text.chars().all(xml_char) {
            if !text.is_empty() {
                self.event(Event::Text(BytesText::new(text)));
            }
            return;
        }
        let kept: String = text.chars().filter(|c| xml_char(*c)).collect();
        if !kept.is_empty() {
            self.event(Event::Text(BytesText::new(&kept)));
        }
    }

    fn element(&mut self, name: &str, text: &str) {
        self.start(name);
        self.text(text);
        self.end(name);
    }

    fn write_all(&mut self, body: &Body, elapsed: Duration) {
        self.event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        self.start("xml");
        self.start("result");
        match body {
            Body::Single(out) => self.value(out),
            Body::Multi(items) => {
                for item in items {
                    self.start("item");
                    self.value(item);
                    self.end("item");
                }
            }
        }
        self.end("result");
        self.element("executionTime", &php_float_string(elapsed.as_secs_f64()));
        self.end("xml");
    }

    /// The content of an element holding `out`.
    fn value(&mut self, out: &Out) {
        match out {
            Out::Null => {}
            Out::Bool(b) => self.text(if *b { "1" } else { "0" }),
            Out::Int(i) => self.text(itoa::Buffer::new().format(*i)),
            Out::Float(f) => self.text(&php_float_string(*f)),
            Out::Str(s) => self.text(s),
            Out::Array(items) => {
                for item in items {
                    self.start("item");
                    self.value(item);
                    self.end("item");
                }
            }
            Out::Object(object) => {
                self.element("objectType", object.class);
                for (name, value) in &object.props {
                    if self.ignore_null && *value == Out::Null {
                        continue;
                    }
                    self.start(name);
                    self.value(value);
                    self.end(name);
                }
            }
            Out::Error(error) => {
                self.start("error");
                self.element("code", error.code());
                self.element("message", error.message());
                self.element("objectType", "KalturaAPIException");
                self.start("args");
                for (name, value) in error.args() {
                    self.start("item");
                    self.element("objectType", "KalturaAPIExceptionArg");
                    self.element("name", name);
                    self.element("value", value);
                    self.end("item");
                }
                self.end("args");
                self.end("error");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The objects the services answer with
// ---------------------------------------------------------------------------------------------

fn text(value: &str) -> Out {
    Out::Str(value.to_owned())
}

fn opt_text(value: Option<&str>) -> Out {
    value.map_or(Out::Null, text)
}

fn time(value: time::OffsetDateTime) -> Out {
    Out::Int(value.unix_timestamp())
}

/// `KalturaUploadToken` (../shared/specs/kaltura.md §2.1): sizes as strings, `autoFinalize`
/// always present, `uploadUrl` the configured upload host with the request's protocol
/// (`KalturaUploadToken::doFromObject`), null without one.
pub(crate) fn upload_token(token: &StoredToken, upload_url: Option<&str>) -> Out {
    Out::Object(
        Object::new("KalturaUploadToken")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("id", text(&token.id))
            .prop("partnerId", Out::Int(token.partner_id))
            .prop("userId", text(&token.user_id))
            .prop("status", Out::Int(token.status.code()))
            .prop("fileName", opt_text(token.file_name.as_deref()))
            .prop(
                "fileSize",
                token
                    .file_size
                    .map_or(Out::Null, |s| Out::Str(s.to_string())),
            )
            .prop(
                "uploadedFileSize",
                token
                    .uploaded_file_size
                    .map_or(Out::Null, |s| Out::Str(s.to_string())),
            )
            .prop("createdAt", time(token.created_at))
            .prop("updatedAt", time(token.updated_at))
            .prop("uploadUrl", opt_text(upload_url))
            .prop("autoFinalize", Out::Bool(token.auto_finalize))
            .prop(
                "attachedObjectType",
                opt_text(token.attached_object_type.as_deref()),
            )
            .prop(
                "attachedObjectId",
                opt_text(token.attached_object_id.as_deref()),
            ),
    )
}

/// A `Kaltura…ListResponse` (`class`): `objects` always an array, `totalCount` before paging.
/// Every list action answers this shape; only the class name and the objects differ.
pub(crate) fn list_response(class: &'static str, objects: Vec<Out>, total: usize) -> Out {
    Out::Object(
        Object::new(class)
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop(
                "totalCount",
                Out::Int(i64::try_from(total).unwrap_or(i64::MAX)),
            )
            .subclass()
            .prop("objects", Out::Array(objects)),
    )
}

/// `KalturaMediaEntry`, `KalturaDataEntry`, `KalturaDocumentEntry` or `KalturaBaseEntry`:
/// `KalturaBaseEntry`'s properties, then the subclass's.
/// `base` is the server's own address (`http://host:port`), where the entry's media URLs point.
pub(crate) fn entry(e: &StoredEntry, base: &str) -> Out {
    let has_content = e.media.is_some();
    let partner_path = format!("{base}/p/{0}/sp/{0}00", e.partner_id);
    let protocol = base.split("://").next().unwrap_or("http");
    let is_av = matches!(e.media_type, Some(1 | 5)) && e.class == "KalturaMediaEntry";
    let is_image = e.media_type == Some(2) && e.class == "KalturaMediaEntry";
    // `entry::createPlayManifestUrlByFormat`, `getDownloadUrl`, `getThumbnailUrl`.
    let manifest = |format: &str| {
        format!(
            "{partner_path}/playManifest/entryId/{}/format/{format}/protocol/{protocol}",
            e.id
        )
    };
    let download_url = if is_av {
        format!("{}/flavorParamIds/0", manifest("download"))
    } else {
        format!("{partner_path}/raw/entry_id/{}/version/{}", e.id, e.version)
    };
    let thumbnail_url = format!("{partner_path}/thumbnail/entry_id/{}/version/100000", e.id);
    let data_url = if is_av {
        text(&manifest("url"))
    } else if is_image {
        text(&format!(
            "{partner_path}/thumbnail/entry_id/{}/def_height/480/def_width/640/version/{}/type/1",
            e.id,
            100_000 + e.version
        ))
    } else {
        Out::Null
    };
    let ms = e.media.and_then(|m| m.duration_ms);
    let (duration, ms_duration) = if has_content && e.class == "KalturaMediaEntry" {
        let ms = ms.unwrap_or(0);
        (
            // `(int) round(lengthInMsecs / 1000)`.
            Out::Int(i64::try_from(ms.saturating_add(500) / 1000).unwrap_or(0)),
            Out::Int(i64::try_from(ms).unwrap_or(0)),
        )
    } else {
        (Out::Null, Out::Null)
    };
    let picture = |side: Option<u32>| match side {
        Some(v) if has_content => Out::Int(i64::from(v)),
        _ if has_content => Out::Int(0),
        _ => Out::Null,
    };
    let mut object = Object::new(e.class)
        .prop("relatedObjects", Out::Null)
        .subclass()
        .prop("id", text(&e.id))
        .prop("name", text(&e.name))
        .prop("description", text(&e.description))
        .prop("partnerId", Out::Int(e.partner_id))
        .prop("userId", text(&e.user_id))
        .prop("creatorId", text(&e.creator_id))
        .prop("tags", text(&e.tags))
        .prop("adminTags", Out::Null)
        .prop("categories", text(""))
        .prop("categoriesIds", text(""))
        .prop("status", text(e.status.code()))
        .prop("moderationStatus", Out::Int(6))
        .prop("moderationCount", Out::Int(0))
        .prop("type", Out::Str(e.entry_type.to_string()))
        .prop("createdAt", time(e.created_at))
        .prop("updatedAt", time(e.updated_at))
        .prop("rank", Out::Int(0))
        .prop("totalRank", Out::Int(0))
        .prop("votes", Out::Int(0))
        .prop("groupId", Out::Null)
        .prop("partnerData", opt_text(e.partner_data.as_deref()))
        .prop("downloadUrl", text(&download_url))
        .prop("searchText", Out::Null)
        .prop("licenseType", Out::Int(-1))
        .prop("version", Out::Int(e.version))
        .prop("thumbnailUrl", text(&thumbnail_url))
        .prop(
            "accessControlId",
            e.access_control_id.map_or(Out::Null, Out::Int),
        )
        .prop("startDate", Out::Null)
        .prop("endDate", Out::Null)
        .prop("referenceId", opt_text(e.reference_id.as_deref()))
        .prop(
            "replacingEntryId",
            opt_text(e.replacing_entry_id.as_deref()),
        )
        .prop("replacedEntryId", opt_text(e.replaced_entry_id.as_deref()))
        .prop("replacementStatus", text(&e.replacement_status.to_string()))
        .prop("partnerSortValue", Out::Int(0))
        .prop(
            "conversionProfileId",
            e.conversion_profile_id.map_or(Out::Null, Out::Int),
        )
        .prop("redirectEntryId", Out::Null)
        .prop("rootEntryId", text(&e.id))
        .prop("parentEntryId", Out::Null)
        .prop("operationAttributes", Out::Array(Vec::new()))
        .prop("entitledUsersEdit", text(""))
        .prop("entitledUsersPublish", text(""))
        .prop("entitledUsersView", text(""))
        .prop("capabilities", text(""))
        .prop("templateEntryId", Out::Null)
        .prop("displayInSearch", Out::Int(1))
        .prop("application", Out::Null)
        .prop("applicationVersion", Out::Null)
        .prop("blockAutoTranscript", Out::Bool(false));
    match e.class {
        "KalturaMediaEntry" => {
            object = object
                .subclass()
                .prop("plays", Out::Int(0))
                .prop("views", Out::Int(0))
                .prop("lastPlayedAt", Out::Null)
                .prop("width", picture(e.media.and_then(|m| m.width)))
                .prop("height", picture(e.media.and_then(|m| m.height)))
                .prop("duration", duration)
                .prop("msDuration", ms_duration)
                .prop("durationType", Out::Null)
                .subclass()
                .prop("mediaType", e.media_type.map_or(Out::Null, Out::Int))
                .prop("conversionQuality", Out::Null)
                .prop(
                    "sourceType",
                    if has_content { text("1") } else { Out::Null },
                )
                .prop("sourceVersion", Out::Null)
                .prop("searchProviderType", Out::Null)
                .prop("searchProviderId", Out::Null)
                .prop("creditUserName", Out::Null)
                .prop("creditUrl", Out::Null)
                .prop("mediaDate", Out::Null)
                .prop("dataUrl", data_url)
                .prop("flavorParamsIds", text(&e.flavor_params_ids))
                .prop("isTrimDisabled", Out::Null)
                .prop("streams", Out::Null);
        }
        "KalturaDataEntry" => {
            object = object
                .subclass()
                .prop("dataContent", Out::Null)
                .prop("retrieveDataContentByGet", Out::Null);
        }
        "KalturaDocumentEntry" => {
            object = object
                .subclass()
                .prop("documentType", Out::Null)
                .prop("assetParamsIds", Out::Null);
        }
        _ => {}
    }
    Out::Object(object)
}

/// `KalturaFlavorAsset`: `KalturaAsset`'s properties, then the flavor's, in declared order.
pub(crate) fn flavor_asset(
    f: &super::lifecycle::StoredFlavor,
    entry_id: &str,
    partner_id: i64,
) -> Out {
    Out::Object(
        Object::new("KalturaFlavorAsset")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("id", text(&f.id))
            .prop("entryId", text(entry_id))
            .prop("partnerId", Out::Int(partner_id))
            .prop("version", text("1"))
            .prop(
                "size",
                Out::Int(i64::try_from(f.size_bytes / 1024).unwrap_or(i64::MAX)),
            )
            .prop(
                "tags",
                text(if f.is_original {
                    "source"
                } else {
                    "mobile,web,mbr,iphone,ipadnew"
                }),
            )
            .prop("fileExt", text(&f.file_ext))
            .prop("createdAt", time(f.created_at))
            .prop("updatedAt", time(f.updated_at))
            .prop("deletedAt", Out::Null)
            .prop("description", text(""))
            .prop("partnerData", Out::Null)
            .prop("partnerDescription", Out::Null)
            .prop("actualSourceAssetParamsIds", Out::Null)
            .prop(
                "sizeInBytes",
                Out::Int(i64::try_from(f.size_bytes).unwrap_or(i64::MAX)),
            )
            .subclass()
            .prop("flavorParamsId", Out::Int(f.flavor_params_id))
            .prop("width", Out::Int(f.width))
            .prop("height", Out::Int(f.height))
            .prop("bitrate", Out::Int(f.bitrate))
            .prop("frameRate", Out::Int(0))
            .prop("isOriginal", Out::Bool(f.is_original))
            .prop("isWeb", Out::Bool(true))
            .prop(
                "containerFormat",
                text(if f.file_ext == "mov" { "qt" } else { "isom" }),
            )
            .prop("videoCodecId", text("avc1"))
            .prop("status", Out::Int(f.status))
            .prop("language", text("Undefined"))
            .prop("label", Out::Null)
            .prop("isDefault", Out::Bool(false)),
    )
}

/// `KalturaConversionProfile`: the partner's default profile, in declared order.
pub(crate) fn conversion_profile(partner_id: i64) -> Out {
    let ids: Vec<String> = super::lifecycle::DEFAULT_FLAVOR_PARAMS
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    Out::Object(
        Object::new("KalturaConversionProfile")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop(
                "id",
                Out::Int(super::lifecycle::DEFAULT_CONVERSION_PROFILE_ID),
            )
            .prop("partnerId", Out::Int(partner_id))
            .prop("status", text("2"))
            .prop("type", text("1"))
            .prop("name", text("Default"))
            .prop("systemName", text("Default"))
            .prop("tags", text(""))
            .prop("description", text("The default set of flavors."))
            .prop("defaultEntryId", Out::Null)
            .prop("createdAt", Out::Int(0))
            .prop("flavorParamsIds", text(&ids.join(",")))
            .prop("isDefault", Out::Int(1))
            .prop("isPartnerDefault", Out::Bool(false))
            .prop("cropDimensions", Out::Null)
            .prop("clipStart", Out::Null)
            .prop("clipDuration", Out::Null)
            .prop("xslTransformation", Out::Null)
            .prop("storageProfileId", Out::Null)
            .prop("mediaParserType", text("0"))
            .prop("calculateComplexity", Out::Bool(true))
            .prop("collectionTags", Out::Null)
            .prop("conditionalProfiles", Out::Null)
            .prop("detectGOP", Out::Int(0))
            .prop("mediaInfoXslTransformation", Out::Null)
            .prop("defaultReplacementOptions", Out::Null)
            .prop("defaultAudioLang", Out::Null)
            .prop("deliveryTag", Out::Null),
    )
}

/// `KalturaPartner`, as much of it as clients read (`id`, `name`).
/// `KalturaAppToken`, in its declared order; `token` is always answered (the server has no
/// response profile hiding it).
pub(crate) fn app_token(t: &super::apptoken::StoredAppToken) -> Out {
    Out::Object(
        Object::new("KalturaAppToken")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("id", text(&t.id))
            .prop("token", text(&t.token))
            .prop("partnerId", Out::Int(t.partner_id))
            .prop("createdAt", time(t.created_at))
            .prop("updatedAt", time(t.updated_at))
            .prop("status", Out::Int(t.status))
            .prop("expiry", t.expiry.map_or(Out::Null, Out::Int))
            .prop("sessionType", t.session_type.map_or(Out::Null, Out::Int))
            .prop("sessionUserId", opt_text(t.session_user_id.as_deref()))
            .prop("sessionDuration", Out::Int(t.session_duration))
            .prop(
                "sessionPrivileges",
                opt_text(t.session_privileges.as_deref()),
            )
            .prop("hashType", text(&t.hash_type))
            .prop("description", opt_text(t.description.as_deref())),
    )
}

fn opt_int(value: Option<i64>) -> Out {
    value.map_or(Out::Null, Out::Int)
}

fn opt_bool(value: Option<bool>) -> Out {
    value.map_or(Out::Null, Out::Bool)
}

/// A class name vidmock stores as text, as the `&'static str` an [`Object`] takes: one of
/// `known`, else `fallback`.
fn class_of(name: &str, known: &[&'static str], fallback: &'static str) -> &'static str {
    known
        .iter()
        .copied()
        .find(|k| *k == name)
        .unwrap_or(fallback)
}

/// `KalturaHttpNotificationTemplate`: `KalturaEventNotificationTemplate`'s properties, then
/// the HTTP template's, in their declared order (`plugins/event_notification/lib/api/types/
/// KalturaEventNotificationTemplate.php`, `providers/http/lib/api/KalturaHttpNotificationTemplate.php`);
/// the connection settings vidmock does not keep (credentials, SSL, custom headers) are null.
pub(crate) fn notification_template(t: &super::notifications::StoredTemplate) -> Out {
    let conditions = t.event_conditions.as_ref().map_or(Out::Null, |list| {
        Out::Array(list.iter().map(condition).collect())
    });
    let data = t.data.as_ref().map_or(Out::Null, |d| {
        Out::Object(
            Object::new("KalturaHttpNotificationObjectData")
                .prop("relatedObjects", Out::Null)
                .subclass()
                .subclass()
                .prop("apiObjectType", opt_text(d.api_object_type.as_deref()))
                .prop("format", opt_int(d.format))
                .prop("ignoreNull", opt_bool(d.ignore_null))
                .prop("code", opt_text(d.code.as_deref()))
                .prop("dataStringReplacements", Out::Null)
                .prop("responseProfileId", opt_int(d.response_profile_id)),
        )
    });
    Out::Object(
        Object::new(super::notifications::TEMPLATE_CLASS)
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("id", Out::Int(t.id))
            .prop("partnerId", Out::Int(t.partner_id))
            .prop("name", text(&t.name))
            .prop("systemName", opt_text(t.system_name.as_deref()))
            .prop("description", opt_text(t.description.as_deref()))
            .prop("type", text("httpNotification.Http"))
            .prop("status", Out::Int(t.status))
            .prop("createdAt", time(t.created_at))
            .prop("updatedAt", time(t.updated_at))
            .prop("manualDispatchEnabled", opt_bool(t.manual_dispatch_enabled))
            .prop(
                "automaticDispatchEnabled",
                opt_bool(t.automatic_dispatch_enabled),
            )
            .prop("eventType", opt_text(t.event_type.as_deref()))
            .prop("eventObjectType", opt_text(t.event_object_type.as_deref()))
            .prop("eventConditions", conditions)
            .prop("contentParameters", Out::Null)
            .prop("userParameters", Out::Null)
            .prop("eventDelayedCondition", Out::Null)
            .subclass()
            .prop("url", opt_text(t.url.as_deref()))
            .prop("method", opt_int(t.method))
            .prop("data", data)
            .prop("timeout", opt_int(t.timeout))
            .prop("connectTimeout", opt_int(t.connect_timeout))
            .prop("username", Out::Null)
            .prop("password", Out::Null)
            .prop("authenticationMethod", Out::Null)
            .prop("sslVersion", Out::Null)
            .prop("sslCertificate", Out::Null)
            .prop("sslCertificateType", Out::Null)
            .prop("sslCertificatePassword", Out::Null)
            .prop("sslEngine", Out::Null)
            .prop("sslEngineDefault", Out::Null)
            .prop("sslKeyType", Out::Null)
            .prop("sslKey", Out::Null)
            .prop("sslKeyPassword", Out::Null)
            .prop(
                "customHeaders",
                t.custom_headers.as_ref().map_or(Out::Null, |list| {
                    Out::Array(
                        list.iter()
                            .map(|h| {
                                Out::Object(
                                    Object::new("KalturaKeyValue")
                                        .prop("relatedObjects", Out::Null)
                                        .subclass()
                                        .prop("key", text(&h.key))
                                        .prop("value", text(&h.value)),
                                )
                            })
                            .collect(),
                    )
                }),
            )
            .prop("secureHashingAlgo", opt_int(t.secure_hashing_algo)),
    )
}

/// `KalturaEventFieldCondition` (`KalturaCondition`, then its boolean `field`) or
/// `KalturaFieldMatchCondition` (`KalturaCondition`, `KalturaMatchCondition`'s `values` and
/// `matchType`, then its string `field`).
fn condition(c: &super::notifications::StoredCondition) -> Out {
    let is_match = c.object_type == "KalturaFieldMatchCondition";
    let field = c.field.as_ref().map_or(Out::Null, |f| {
        let class = class_of(
            &f.object_type,
            &["KalturaEvalBooleanField", "KalturaEvalStringField"],
            "KalturaEvalBooleanField",
        );
        Out::Object(
            Object::new(class)
                .prop("relatedObjects", Out::Null)
                .subclass()
                .prop("description", opt_text(f.description.as_deref()))
                .subclass()
                .prop("value", Out::Null)
                .subclass()
                .subclass()
                .prop("code", opt_text(f.code.as_deref())),
        )
    });
    let base = Object::new(if is_match {
        "KalturaFieldMatchCondition"
    } else {
        "KalturaEventFieldCondition"
    })
    .prop("relatedObjects", Out::Null)
    .subclass()
    .prop(
        "type",
        text(if is_match {
            "6"
        } else {
            "eventNotification.BooleanField"
        }),
    )
    .prop("description", opt_text(c.description.as_deref()))
    .prop("not", opt_bool(c.not))
    .subclass();
    let object = if is_match {
        let values = c
            .values
            .iter()
            .map(|v| {
                Out::Object(
                    Object::new("KalturaStringValue")
                        .prop("relatedObjects", Out::Null)
                        .subclass()
                        .prop("description", Out::Null)
                        .subclass()
                        .prop("value", text(v)),
                )
            })
            .collect();
        base.prop("values", Out::Array(values))
            .prop("matchType", Out::Null)
            .subclass()
            .prop("field", field)
    } else {
        base.prop("field", field)
    };
    Out::Object(object)
}

/// What `KalturaSessionInfo` carries.
pub(crate) struct SessionInfo {
    pub ks: String,
    pub session_type: i64,
    pub partner_id: i64,
    pub user_id: String,
    /// `valid_until` of the KS (unix seconds).
    pub expiry: i64,
    pub privileges: String,
}

/// `KalturaSessionInfo` (`appToken.startSession`).
pub(crate) fn session_info(info: &SessionInfo) -> Out {
    Out::Object(
        Object::new("KalturaSessionInfo")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("ks", text(&info.ks))
            .prop("sessionType", Out::Int(info.session_type))
            .prop("partnerId", Out::Int(info.partner_id))
            .prop("userId", text(&info.user_id))
            .prop("expiry", Out::Int(info.expiry))
            .prop("privileges", text(&info.privileges)),
    )
}

/// `KalturaStartWidgetSessionResponse`: the widget's partner, the KS and the user, which the
/// server sets to the number 0 (`$userId = 0`, written as it is).
pub(crate) fn widget_session(partner_id: i64, ks: String) -> Out {
    Out::Object(
        Object::new("KalturaStartWidgetSessionResponse")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("partnerId", Out::Int(partner_id))
            .prop("ks", Out::Str(ks))
            .prop("userId", Out::Int(0)),
    )
}

pub(crate) fn partner(id: i64) -> Out {
    Out::Object(
        Object::new("KalturaPartner")
            .prop("relatedObjects", Out::Null)
            .subclass()
            .prop("id", Out::Int(id))
            .prop("name", Out::Str(format!("vidmock partner {id}")))
            .prop("website", Out::Null)
            .prop("notificationUrl", Out::Null)
            .prop("appearInSearch", Out::Int(2))
            .prop("createdAt", Out::Null)
            .prop("adminName", text("vidmock"))
            .prop("adminEmail", text("admin@vidmock.invalid"))
            .prop(
                "description",
                text("A partner of vidmock, a mock of Kaltura API v3"),
            )
            .prop("status", Out::Int(1)),
    )
}

/// The text a result contributes to a `{N:result…}` reference: PHP's string cast of a scalar;
/// objects, arrays, errors and falsy values resolve to nothing.
pub(crate) fn reference_text(out: &Out) -> Option<String> {
    let text = match out {
        Out::Bool(true) => "1".to_owned(),
        Out::Int(i) => i.to_string(),
        Out::Float(f) => php_float_string(*f),
        Out::Str(s) => s.clone(),
        _ => return None,
    };
    (!text.is_empty() && text != "0").then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Out {
        Out::Object(
            Object::new("KalturaUploadToken")
                .prop("relatedObjects", Out::Null)
                .prop("id", Out::Str("0_ab".into()))
                .prop("fileName", Out::Str("a & b <c>.mp4".into()))
                .prop("fileSize", Out::Str("10".into()))
                .prop("autoFinalize", Out::Bool(false))
                .prop("status", Out::Int(0)),
        )
    }

    #[test]
    fn json_omits_nulls_and_puts_object_type_last() {
        let body = json_body(&Body::Single(token()));
        assert_eq!(
            body,
            r#"{"id":"0_ab","fileName":"a & b <c>.mp4","fileSize":"10","autoFinalize":false,"status":0,"objectType":"KalturaUploadToken"}"#
        );
    }

    /// The same answer through `serde_json::Value` and written directly.
    fn both_ways(body: &Body) -> (String, String) {
        let value = match body {
            Body::Single(out) => to_json(out),
            Body::Multi(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        };
        let mut bytes = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, PhpJson);
        serde::Serialize::serialize(&value, &mut serializer).unwrap();
        (String::from_utf8(bytes).unwrap(), json_body(body))
    }

    #[test]
    fn json_written_directly_is_what_a_json_value_gives() {
        let nested = Out::Object(
            Object::new("KalturaUploadTokenListResponse")
                .prop("objects", Out::Array(vec![token(), Out::Null, token()]))
                .prop("totalCount", Out::Int(2))
                .subclass()
                .prop("extra", Out::Float(1.5))
                .prop("nan", Out::Float(f64::NAN))
                .prop("totalCount", Out::Int(3))
                .prop("id", Out::Null)
                .prop("objectType", Out::Str("Shadowed".into())),
        );
        let bodies = [
            Body::Single(token()),
            Body::Single(nested.clone()),
            Body::Single(Out::Array(vec![
                Out::Null,
                Out::Bool(true),
                Out::Str("/é".into()),
            ])),
            Body::Single(Out::Error(ApiError::new("MISSING_KS", &[]))),
            Body::Single(Out::Error(ApiError::new(
                "MISSING_MANDATORY_PARAMETER",
                &["x\"y"],
            ))),
            Body::Multi(vec![token(), Out::Null, nested, Out::Int(-7)]),
            Body::Multi(Vec::new()),
        ];
        for body in &bodies {
            let (through_value, direct) = both_ways(body);
            assert_eq!(direct, through_value);
        }
    }

    #[test]
    fn json_escapes_like_php() {
        assert_eq!(
            json_body(&Body::Single(Out::Str("a/b é 😀".into()))),
            r#""a\/b \u00e9 \ud83d\ude00""#
        );
        assert_eq!(json_body(&Body::Single(Out::Null)), "null");
    }

    #[test]
    fn xml_writes_every_property_with_object_type_first() {
        let body = xml_body(&Body::Single(token()), false, Duration::ZERO);
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><xml><result><objectType>KalturaUploadToken</objectType><relatedObjects></relatedObjects><id>0_ab</id><fileName>a &amp; b &lt;c&gt;.mp4</fileName><fileSize>10</fileSize><autoFinalize>0</autoFinalize><status>0</status></result><executionTime>0</executionTime></xml>"
        );
        let ignoring = xml_body(&Body::Single(token()), true, Duration::ZERO);
        assert!(!ignoring.contains("relatedObjects"));
    }

    #[test]
    fn xml_escapes_quotes_too() {
        let body = xml_body(
            &Body::Single(Out::Str("\"it's\"".into())),
            false,
            Duration::ZERO,
        );
        assert!(
            body.contains("<result>&quot;it&apos;s&quot;</result>"),
            "{body}"
        );
    }

    #[test]
    fn xml_leaves_out_characters_it_cannot_carry() {
        let body = xml_body(
            &Body::Single(Out::Str("a\u{0}\u{1}\u{1b}\u{fffe}\u{ffff}b\té".into())),
            false,
            Duration::ZERO,
        );
        assert!(body.contains("<result>ab\té</result>"), "{body}");
    }

    #[test]
    fn errors_have_array_args_when_empty_and_objects_otherwise() {
        let empty = json_body(&Body::Single(Out::Error(ApiError::new("MISSING_KS", &[]))));
        assert!(empty.ends_with(r#""args":[]}"#), "{empty}");
        let xml = xml_body(
            &Body::Single(Out::Error(ApiError::new(
                "MISSING_MANDATORY_PARAMETER",
                &["x"],
            ))),
            false,
            Duration::ZERO,
        );
        assert!(xml.contains("<args><item><objectType>KalturaAPIExceptionArg</objectType><name>PARAM_NAME</name><value>x</value></item></args>"), "{xml}");
    }
}
