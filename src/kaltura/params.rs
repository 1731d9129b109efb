//! One parameter map out of every place a Kaltura client may put parameters.
//!
//! The real server builds a single map from the body (JSON, the multipart `json` field, or plain
//! form fields), the uploaded files and the URL (query string, then `/key/value` path pairs),
//! in that order of precedence, then nests keys on `:` (../shared/specs/kaltura.md §1.2–§1.3).
//! Clients disagree on everything else, so reading is lenient and never fails: what cannot be
//! read is simply absent, and the action's own checks then answer with a Kaltura error.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::BodyExt;
use indexmap::IndexMap;

use super::error::ApiError;
use super::multipart::{self, FileParts};
use crate::engine::body::Body;
use crate::upload::{Piece, Segment};

/// Bodies other than multipart are read whole; beyond this size they are ignored, as PHP ignores
/// a body over `post_max_size`.
const MAX_FORM_BODY: usize = 16 * 1024 * 1024;

/// A file part of a multipart request (PHP's `$_FILES` entry), for actions that take a file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UploadedFile {
    /// The part's filename with any directory removed (on `/` and `\`); empty when the client
    /// sent `filename=""`.
    pub filename: String,
    /// The part's own `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// Every byte of the part: in memory, or in the file it was spilled to as it arrived.
    pub content: Piece,
    /// False when the body ended (or broke) before the part was complete.
    pub complete: bool,
}

impl UploadedFile {
    /// A complete upload named `filename` (directories are stripped, as PHP does).
    pub(crate) fn new(filename: &str, content: Piece) -> Self {
        Self {
            filename: basename(filename).to_owned(),
            content_type: None,
            content,
            complete: true,
        }
    }

    /// Whether PHP would call this a successful upload: a non-empty filename and a complete part.
    pub(crate) fn is_upload(&self) -> bool {
        self.complete && !self.filename.is_empty()
    }

    /// The number of bytes received.
    pub(crate) fn len(&self) -> u64 {
        self.content.len()
    }

    /// The part's bytes when they are held in memory in one block (or there are none).
    pub(crate) fn in_memory(&self) -> Option<Bytes> {
        match &self.content.segments[..] {
            [] => Some(Bytes::new()),
            [Segment::Memory(bytes)] => Some(bytes.clone()),
            _ => None,
        }
    }
}

/// What PHP strips from an uploaded filename: everything up to the last `/` or `\`.
pub(crate) fn basename(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// One parameter value, as PHP holds it after decoding.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Objects and arrays alike (PHP arrays); JSON arrays get keys `"0"`, `"1"`, …
    Map(Map),
    File(Arc<UploadedFile>),
}

pub(crate) type Map = IndexMap<String, Value, foldhash::fast::RandomState>;

impl Value {
    fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(items) => Value::Map(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), Value::from_json(v)))
                    .collect(),
            ),
            serde_json::Value::Object(object) => Value::Map(
                object
                    .into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    #[cfg(test)]
    pub(crate) fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// PHP's truthiness of a value (`isset` aside).
    fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !(s.is_empty() || s == "0"),
            Value::Map(m) => !m.is_empty(),
            Value::File(_) => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a request into one map
// ---------------------------------------------------------------------------------------------

/// Reads every parameter of a request: body ← files ← query ← path, then nested on `:`.
/// `spill`: file parts go to files in that directory as they arrive.
pub(crate) async fn read(parts: &Parts, body: Body, api_path: &str, files: FileParts<'_>) -> Map {
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let length = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (body_params, files) = read_body(&content_type, body, length, files).await;
    let mut merged = body_params;
    merge(&mut merged, files);
    merge(&mut merged, url_params(api_path, parts.uri.query()));
    group(merged)
}

/// Query string, then path pairs (path wins).
fn url_params(api_path: &str, query: Option<&str>) -> Map {
    let mut url = Map::default();
    if let Some(query) = query {
        for (key, value) in form_pairs(query.as_bytes()) {
            insert_form_field(&mut url, &key, Value::Str(value.into_owned()));
        }
    }
    for (key, value) in path_pairs(api_path) {
        url.insert(key, Value::Str(value));
    }
    url
}

/// The pairs of an `application/x-www-form-urlencoded` text, decoded as `form_urlencoded`
/// decodes them (a test holds the two to the same answers). A KS is most of a Kaltura request:
/// its runs between escapes are found with a SIMD search and copied whole, rather than
/// decoded byte by byte, and a field with nothing to decode is taken as it is.
pub(crate) fn form_pairs(input: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    input
        .split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match memchr::memchr(b'=', pair) {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (form_decode(key), form_decode(value))
        })
}

/// One form field's name or value: `+` is a space, `%XX` a byte (a `%` without two hex
/// digits stays as it is), then UTF-8 with invalid sequences replaced.
fn form_decode(field: &[u8]) -> Cow<'_, str> {
    let Some(first) = memchr::memchr2(b'%', b'+', field) else {
        return String::from_utf8_lossy(field);
    };
    let mut out = Vec::with_capacity(field.len());
    out.extend_from_slice(&field[..first]);
    let mut at = first;
    while at < field.len() {
        match field[at] {
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            _ => match field.get(at + 1..at + 3).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    at += 3;
                }
                None => {
                    out.push(b'%');
                    at += 1;
                }
            },
        }
        let run = memchr::memchr2(b'%', b'+', &field[at..]).map_or(field.len(), |n| at + n);
        out.extend_from_slice(&field[at..run]);
        at = run;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(error) => Cow::Owned(String::from_utf8_lossy(error.as_bytes()).into_owned()),
    }
}

/// The byte two hex digits stand for.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let digit = |d: u8| (d as char).to_digit(16);
    Some((digit(digits[0])? * 16 + digit(digits[1])?) as u8)
}

/// The `/key/value` pairs after the script (`/api_v3` or `/api_v3/index.php`); parsing stops
/// at the first empty segment, and a key without a value is dropped.
pub(crate) fn path_pairs(api_path: &str) -> Vec<(String, String)> {
    let rest = api_path
        .strip_prefix("/api_v3")
        .unwrap_or(api_path)
        .trim_start_matches('/');
    let rest = rest.strip_prefix("index.php").unwrap_or(rest);
    let mut segments = rest
        .trim_start_matches('/')
        .split('/')
        .take_while(|s| !s.is_empty())
        .map(|s| {
            if s.contains('%') {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                s.to_owned()
            }
        });
    let mut pairs = Vec::new();
    while let (Some(key), Some(value)) = (segments.next(), segments.next()) {
        pairs.push((key, value));
    }
    pairs
}

/// Body parameters and file parts, by content type (§1.2). Never fails: an unreadable body
/// contributes nothing.
async fn read_body(
    content_type: &str,
    body: Body,
    length: Option<u64>,
    files: FileParts<'_>,
) -> (Map, Map) {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "multipart/form-data" {
        let Some(boundary) = multipart::boundary(content_type) else {
            return (Map::default(), Map::default());
        };
        let parsed = multipart::read(body, boundary, length, files).await;
        let mut files = Map::default();
        for file in parsed.files {
            let field = file.0;
            files.insert(field, Value::File(Arc::new(file.1)));
        }
        // A `json` field replaces every other plain field.
        if let Some(json) = parsed.fields.iter().rev().find(|(name, _)| name == "json") {
            return (json_object(json.1.as_bytes()).unwrap_or_default(), files);
        }
        let mut params = Map::default();
        for (name, value) in parsed.fields {
            insert_form_field(&mut params, &name, Value::Str(value));
        }
        return (params, files);
    }
    let Ok(collected) = http_body_util::Limited::new(body, MAX_FORM_BODY)
        .collect()
        .await
    else {
        return (Map::default(), Map::default());
    };
    let bytes = collected.to_bytes();
    if mime == "application/json" {
        return (json_object(&bytes).unwrap_or_default(), Map::default());
    }
    if mime == "application/x-www-form-urlencoded" {
        let mut params = Map::default();
        for (key, value) in form_pairs(&bytes) {
            insert_form_field(&mut params, &key, Value::Str(value.into_owned()));
        }
        return (params, Map::default());
    }
    (Map::default(), Map::default())
}

/// A JSON object body (trimmed, `{…}`), as nested values; anything else is no parameters.
fn json_object(bytes: &[u8]) -> Option<Map> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if !(text.starts_with('{') && text.ends_with('}')) {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Object(object) => Some(
            object
                .into_iter()
                .map(|(k, v)| (k, Value::from_json(v)))
                .collect(),
        ),
        _ => None,
    }
}

/// Stores a form or query field PHP-style: `a[b][c]=v` nests, `a[]=v` appends, a later
/// field of the same name wins.
fn insert_form_field(map: &mut Map, name: &str, value: Value) {
    let (head, mut rest) = match name.find('[') {
        Some(i) if i > 0 && name[i..].contains(']') => (&name[..i], &name[i..]),
        _ => {
            map.insert(name.to_owned(), value);
            return;
        }
    };
    let mut path = vec![head.to_owned()];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(end) = stripped.find(']') else { break };
        path.push(stripped[..end].to_owned());
        rest = &stripped[end + 1..];
    }
    let mut current = map;
    let last = path.len() - 1;
    for (depth, key) in path.into_iter().enumerate() {
        let key = if key.is_empty() {
            next_index(current)
        } else {
            key
        };
        if depth == last {
            current.insert(key, value);
            return;
        }
        let slot = current
            .entry(key)
            .or_insert_with(|| Value::Map(Map::default()));
        if !matches!(slot, Value::Map(_)) {
            *slot = Value::Map(Map::default());
        }
        let Value::Map(next) = slot else { return };
        current = next;
    }
}

/// PHP's next array index: one more than the largest integer key, or 0.
fn next_index(map: &Map) -> String {
    map.keys()
        .filter_map(|k| k.parse::<i64>().ok())
        .max()
        .map_or(0, |max| max + 1)
        .to_string()
}

/// Merges `later` into `base`; later values win, maps merge recursively.
fn merge(base: &mut Map, later: Map) {
    if base.is_empty() {
        // Nothing to merge with (a GET has no body parameters): take the map whole.
        *base = later;
        return;
    }
    for (key, value) in later {
        match base.entry(key) {
            indexmap::map::Entry::Occupied(mut slot) => match (slot.get_mut(), value) {
                (Value::Map(existing), Value::Map(incoming)) => merge(existing, incoming),
                (current, value) => *current = value,
            },
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
}

/// Nests top-level keys on `:` (`uploadToken:fileName` → `uploadToken[fileName]`); a last
/// segment `-` marks an empty array (KalturaRequestDeserializer::groupParams).
pub(crate) fn group(flat: Map) -> Map {
    if !flat
        .iter()
        .any(|(key, value)| key.contains(':') || matches!(value, Value::Map(_)))
    {
        // Nothing to nest (most calls): the map as it is.
        return flat;
    }
    let mut grouped = Map::with_capacity_and_hasher(flat.len(), Default::default());
    for (key, value) in flat {
        let value = match value {
            Value::Map(inner) => Value::Map(group(inner)),
            other => other,
        };
        if key.contains(':') {
            let path: Vec<&str> = key.split(':').collect();
            set_by_path(&mut grouped, &path, value);
            continue;
        }
        // Most keys have no `:`: what `set_by_path` does with a one-segment path, keeping the
        // key instead of copying it.
        match (grouped.get_mut(&key), value) {
            (Some(Value::Map(existing)), Value::Map(incoming)) => merge(existing, incoming),
            (_, value) => {
                grouped.insert(key, value);
            }
        }
    }
    grouped
}

fn set_by_path(map: &mut Map, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match (map.get_mut(*first), value) {
            (Some(Value::Map(existing)), Value::Map(incoming)) => merge(existing, incoming),
            (_, value) => {
                map.insert((*first).to_owned(), value);
            }
        }
        return;
    }
    let slot = map
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Map(Map::default()));
    if !matches!(slot, Value::Map(_)) {
        *slot = Value::Map(Map::default());
    }
    if rest == ["-"] {
        return;
    }
    if let Value::Map(inner) = slot {
        set_by_path(inner, rest, value);
    }
}

// ---------------------------------------------------------------------------------------------
// PHP-style casts (KalturaRequestDeserializer::castSimpleType)
// ---------------------------------------------------------------------------------------------

/// `(string)$value`.
pub(crate) fn to_php_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => php_float_string(*f),
        Value::Str(s) => s.clone(),
        Value::Map(_) | Value::File(_) => "Array".into(),
    }
}

/// PHP's float-to-string: integral values without a fraction, others in shortest form.
pub(crate) fn php_float_string(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.is_nan() {
        "NAN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "INF" } else { "-INF" }.into()
    } else {
        format!("{f}")
    }
}

/// The numeric prefix of a string as PHP reads it (`"12x"` → 12, `"abc"` → 0, `" 1e3"` → 1000).
fn leading_number(text: &str) -> f64 {
    let s = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let bytes = s.as_bytes();
    let mut end = 0;
    if end < bytes.len() && (bytes[end] == b'+' || bytes[end] == b'-') {
        end += 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    let mut has_digits = end > digits_start;
    if end < bytes.len() && bytes[end] == b'.' {
        let frac_start = end + 1;
        let mut e = frac_start;
        while e < bytes.len() && bytes[e].is_ascii_digit() {
            e += 1;
        }
        if e > frac_start || has_digits {
            has_digits = has_digits || e > frac_start;
            end = e;
        }
    }
    if !has_digits {
        return 0.0;
    }
    if end < bytes.len() && (bytes[end] == b'e' || bytes[end] == b'E') {
        let mut e = end + 1;
        if e < bytes.len() && (bytes[e] == b'+' || bytes[e] == b'-') {
            e += 1;
        }
        let exp_start = e;
        while e < bytes.len() && bytes[e].is_ascii_digit() {
            e += 1;
        }
        if e > exp_start {
            end = e;
        }
    }
    s[..end].parse::<f64>().unwrap_or(0.0)
}

/// Whether the whole string is numeric for PHP 8 (surrounding whitespace allowed).
fn is_numeric_string(text: &str) -> bool {
    let trimmed = text.trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    !trimmed.is_empty()
        && trimmed.parse::<f64>().is_ok_and(f64::is_finite)
        && !trimmed.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

/// `(float)$value`.
pub(crate) fn to_php_float(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => leading_number(s),
        Value::Map(m) => f64::from(u8::from(!m.is_empty())),
        Value::File(_) => 1.0,
    }
}

/// `(int)$value` (saturating where PHP's result is platform-dependent).
pub(crate) fn to_php_int(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        other => {
            let f = to_php_float(other);
            if f.is_nan() {
                0
            } else {
                f as i64
            }
        }
    }
}

/// The deserializer's bool cast: `"false"` in any case is false, otherwise PHP truthiness.
pub(crate) fn to_php_bool(value: &Value) -> bool {
    match value {
        Value::Str(s) if s.eq_ignore_ascii_case("false") => false,
        other => other.is_truthy(),
    }
}

/// Characters XML 1.0 cannot carry (`kXml::isXMLValidContent`).
fn is_xml_valid(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    })
}

/// An integer enum value check: `"true"`/`"false"` first become 1/0, then the value must
/// loosely equal one of `allowed`.
fn enum_value(value: &Value, allowed: &[i64]) -> Option<i64> {
    let number = match value {
        Value::Str(s) if s.eq_ignore_ascii_case("true") => 1.0,
        Value::Str(s) if s.eq_ignore_ascii_case("false") => 0.0,
        Value::Str(s) if is_numeric_string(s) => leading_number(s),
        Value::Str(_) | Value::Map(_) | Value::File(_) => return None,
        Value::Null => 0.0,
        other => to_php_float(other),
    };
    allowed.iter().copied().find(|&a| a as f64 == number)
}

// ---------------------------------------------------------------------------------------------
// Typed reading of an action's parameters
// ---------------------------------------------------------------------------------------------

/// Reads an action's parameters in declared order with the deserializer's casts and errors.
/// Top-level `name__null` keys are ignored (the parameter keeps its default), as the server
/// does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Args<'a> {
    params: &'a Map,
}

impl<'a> Args<'a> {
    pub(crate) fn new(params: &'a Map) -> Self {
        Self { params }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.params.get(name)
    }

    /// A string parameter; `None` when absent.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => {
                let text = to_php_string(value);
                if is_xml_valid(&text) {
                    Ok(Some(text))
                } else {
                    Err(ApiError::new("INVALID_PARAMETER_CHAR", &[name]))
                }
            }
        }
    }

    /// A mandatory string parameter.
    pub(crate) fn required_string(&self, name: &str) -> Result<String, ApiError> {
        self.string(name)?
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// An int parameter with its default.
    pub(crate) fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, to_php_int)
    }

    /// An int parameter whose default is `null`.
    pub(crate) fn optional_int(&self, name: &str) -> Option<i64> {
        self.get(name).map(to_php_int)
    }

    /// A float parameter with its default.
    pub(crate) fn float(&self, name: &str, default: f64) -> f64 {
        self.get(name).map_or(default, to_php_float)
    }

    /// A bool parameter with its default.
    pub(crate) fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name).map_or(default, to_php_bool)
    }

    /// An integer enum parameter (`KalturaSessionType`, …) with its default.
    pub(crate) fn int_enum(
        &self,
        name: &str,
        enum_type: &str,
        allowed: &[i64],
        default: i64,
    ) -> Result<i64, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        enum_value(value, allowed).ok_or_else(|| {
            ApiError::new(
                "INVALID_ENUM_VALUE",
                &[&to_php_string(value), name, enum_type],
            )
        })
    }

    /// An object parameter; `None` when absent or null, `PROPERTY_VALIDATION_WRONG_FORMAT`
    /// when given as a scalar.
    pub(crate) fn object(&self, name: &str) -> Result<Option<Object<'a>>, ApiError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Map(map)) => Ok(Some(Object {
                name: name.to_owned(),
                map,
            })),
            Some(_) => Err(ApiError::new(
                "PROPERTY_VALIDATION_WRONG_FORMAT",
                &[name, "array"],
            )),
        }
    }

    /// A file parameter: `MISSING_MANDATORY_PARAMETER` when absent, `UPLOAD_ERROR` when it is
    /// not a successful file part (a plain field, `filename=""`, a truncated part).
    pub(crate) fn required_file(&self, name: &str) -> Result<Arc<UploadedFile>, ApiError> {
        match self.get(name) {
            None => Err(ApiError::missing_parameter(name)),
            Some(Value::File(file)) if file.is_upload() => Ok(file.clone()),
            Some(_) => Err(ApiError::new("UPLOAD_ERROR", &[])),
        }
    }
}

/// What an object parameter says about one of its properties.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Prop<'a> {
    /// Not sent: the property keeps its default.
    Absent,
    /// Sent as `name__null`: explicitly null.
    Null,
    Value(&'a Value),
}

/// An object parameter (`uploadToken`, `filter`, `pager`, …) being read.
#[derive(Clone, Debug)]
pub(crate) struct Object<'a> {
    /// The parameter's name, for error arguments.
    #[allow(dead_code)]
    pub name: String,
    pub map: &'a Map,
}

impl<'a> Object<'a> {
    /// The property `name` (`objectType` and unknown properties are the caller's to ignore).
    pub(crate) fn prop(&self, name: &str) -> Prop<'a> {
        if let Some(value) = self.map.get(name) {
            return Prop::Value(value);
        }
        if self.map.contains_key(&format!("{name}__null")) {
            return Prop::Null;
        }
        Prop::Absent
    }

    /// A string property; `Ok(None)` when absent or null.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.prop(name) {
            Prop::Value(value) => {
                let text = to_php_string(value);
                if is_xml_valid(&text) {
                    Ok(Some(text))
                } else {
                    Err(ApiError::new("INVALID_PARAMETER_CHAR", &[name]))
                }
            }
            _ => Ok(None),
        }
    }

    /// A float property; `None` when absent or null.
    pub(crate) fn float(&self, name: &str) -> Option<f64> {
        match self.prop(name) {
            Prop::Value(value) => Some(to_php_float(value)),
            _ => None,
        }
    }

    /// An int property; `None` when absent or null.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.prop(name) {
            Prop::Value(value) => Some(to_php_int(value)),
            _ => None,
        }
    }

    /// An integer enum property; `None` when absent or null.
    pub(crate) fn int_enum(
        &self,
        name: &str,
        enum_type: &str,
        allowed: &[i64],
    ) -> Result<Option<i64>, ApiError> {
        match self.prop(name) {
            Prop::Value(value) => enum_value(value, allowed).map(Some).ok_or_else(|| {
                ApiError::new(
                    "INVALID_ENUM_VALUE",
                    &[&to_php_string(value), name, enum_type],
                )
            }),
            _ => Ok(None),
        }
    }

    /// A `KalturaNullableBoolean` property (-1 null, 0 false, 1 true; `""` is 0).
    pub(crate) fn nullable_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        let value = match self.prop(name) {
            Prop::Value(Value::Str(s)) if s.is_empty() => return Ok(Some(false)),
            Prop::Value(value) => value,
            _ => return Ok(None),
        };
        match enum_value(value, &[-1, 0, 1]) {
            Some(-1) => Ok(None),
            Some(v) => Ok(Some(v == 1)),
            None => Err(ApiError::new(
                "INVALID_ENUM_VALUE",
                &[&to_php_string(value), name, "KalturaNullableBoolean"],
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    proptest::proptest! {
        #[test]
        fn form_pairs_decode_as_form_urlencoded_does(
            input in proptest::collection::vec(
                proptest::sample::select(b"ab=&%+2Fg\xc3\xa9\xff ".to_vec()),
                0..60,
            ),
        ) {
            let ours: Vec<(String, String)> = form_pairs(&input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(&input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn a_ks_with_nothing_to_decode_is_taken_as_it_is() {
        let body = b"ks=djJ8MTAxfA-_abc&uploadTokenId=0_x%2By&format=1&a+b=c&ks2=djJ8%3D%3D";
        let pairs: Vec<_> = form_pairs(body).collect();
        assert!(matches!(pairs[0].1, Cow::Borrowed("djJ8MTAxfA-_abc")));
        assert_eq!(pairs[1].1, "0_x+y");
        assert_eq!(pairs[3].0, "a b");
        assert_eq!(pairs[4].1, "djJ8==");
    }

    #[test]
    fn colon_and_bracket_keys_nest_the_same_way() {
        let mut flat = Map::default();
        flat.insert("uploadToken:fileName".into(), s("a.mp4"));
        insert_form_field(&mut flat, "filter[statusIn]", s("0,1"));
        insert_form_field(&mut flat, "list[]", s("x"));
        insert_form_field(&mut flat, "list[]", s("y"));
        let grouped = group(flat);
        assert_eq!(
            grouped["uploadToken"].as_map().unwrap()["fileName"],
            s("a.mp4")
        );
        assert_eq!(grouped["filter"].as_map().unwrap()["statusIn"], s("0,1"));
        assert_eq!(grouped["list"].as_map().unwrap()["1"], s("y"));
    }

    #[test]
    fn a_dash_key_makes_an_empty_array() {
        let mut flat = Map::default();
        flat.insert("tags:-".into(), s(""));
        assert_eq!(group(flat)["tags"], Value::Map(Map::default()));
    }

    #[test]
    fn later_sources_win_and_maps_merge() {
        let mut body = Map::default();
        body.insert("ks".into(), s("body"));
        body.insert(
            "o".into(),
            Value::Map(Map::from_iter([("a".into(), s("1"))])),
        );
        let mut url = Map::default();
        url.insert("ks".into(), s("query"));
        url.insert(
            "o".into(),
            Value::Map(Map::from_iter([("b".into(), s("2"))])),
        );
        merge(&mut body, url);
        assert_eq!(body["ks"], s("query"));
        assert_eq!(body["o"].as_map().unwrap().len(), 2);
    }

    #[test]
    fn casts_follow_php() {
        assert_eq!(to_php_int(&s("12x")), 12);
        assert_eq!(to_php_int(&s("abc")), 0);
        assert_eq!(to_php_int(&s(" 1e3")), 1000);
        assert_eq!(to_php_float(&s("-1")), -1.0);
        assert_eq!(to_php_float(&Value::Null), 0.0);
        for falsy in ["", "0", "false", "FALSE", "False"] {
            assert!(!to_php_bool(&s(falsy)), "{falsy}");
        }
        for truthy in ["1", "true", "True", "yes", "no", "0.0"] {
            assert!(to_php_bool(&s(truthy)), "{truthy}");
        }
        assert_eq!(to_php_string(&Value::Bool(true)), "1");
        assert_eq!(to_php_string(&Value::Float(86400.0)), "86400");
        assert_eq!(to_php_string(&Value::Float(1.5)), "1.5");
    }

    #[test]
    fn enums_accept_loose_equals_and_booleans() {
        assert_eq!(enum_value(&s("2"), &[0, 2]), Some(2));
        assert_eq!(enum_value(&s(" 2.0 "), &[0, 2]), Some(2));
        assert_eq!(enum_value(&s("true"), &[0, 1]), Some(1));
        assert_eq!(enum_value(&Value::Bool(false), &[0, 1]), Some(0));
        assert_eq!(enum_value(&s("1"), &[0, 2]), None);
        assert_eq!(enum_value(&s("abc"), &[0, 2]), None);
    }

    #[test]
    fn path_pairs_stop_at_the_first_empty_segment() {
        assert_eq!(
            path_pairs("/api_v3/service/session/action/start/ks/a%2Bb"),
            vec![
                ("service".into(), "session".into()),
                ("action".into(), "start".into()),
                ("ks".into(), "a+b".into()),
            ]
        );
        assert_eq!(
            path_pairs("/api_v3/index.php/service/x/action/y"),
            vec![
                ("service".into(), "x".into()),
                ("action".into(), "y".into()),
            ]
        );
        assert!(path_pairs("/api_v3/").is_empty());
        assert!(path_pairs("/api_v3/index.php").is_empty());
    }

    /// Reads a request captured from an official client (fixtures/kaltura/requests/), with its
    /// file parts in memory and spilled, and checks that both read the same.
    async fn fixture(name: &str) -> Map {
        let path = format!(
            "{}/fixtures/kaltura/requests/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read(path).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let request = || {
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next().unwrap().split(' ');
            let mut builder = http::Request::builder()
                .method(request_line.next().unwrap())
                .uri(request_line.next().unwrap());
            for line in lines {
                let (name, value) = line.split_once(':').unwrap();
                builder = builder.header(name.trim(), value.trim());
            }
            let body = Body::from(raw[split + 4..].to_vec());
            builder.body(body).unwrap().into_parts()
        };
        let mut maps = Vec::new();
        for spill in [None, Some(crate::upload::SpillDir::new())] {
            let (parts, body) = request();
            let path = crate::kaltura::collapse_slashes(parts.uri.path());
            maps.push(read(&parts, body, &path, FileParts::kept(spill.as_ref())).await);
        }
        assert_eq!(
            render(&maps[0]),
            render(&maps[1]),
            "file parts read the same in memory and spilled"
        );
        maps.swap_remove(0)
    }

    /// The map with every file's bytes read back, wherever they are.
    fn render(map: &Map) -> String {
        let mut out = String::new();
        for (key, value) in map {
            match value {
                Value::File(file) => out.push_str(&format!(
                    "{key}: file {:?} {:?} {} {:?}\n",
                    file.filename,
                    file.content_type,
                    file.complete,
                    String::from_utf8_lossy(&file.content.bytes())
                )),
                Value::Map(map) => out.push_str(&format!("{key}: [\n{}]\n", render(map))),
                other => out.push_str(&format!("{key}: {other:?}\n")),
            }
        }
        out
    }

    fn file(map: &Map, key: &str) -> Arc<UploadedFile> {
        match &map[key] {
            Value::File(file) => file.clone(),
            other => panic!("{key} is not a file: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_python_clients_json_body_is_read_with_string_values() {
        let params = fixture("python_session_start.http").await;
        assert_eq!(params["service"], s("session"));
        assert_eq!(params["action"], s("start"));
        assert_eq!(params["type"], s("2"));
        assert_eq!(params["format"], s("2"));
        assert_eq!(params["privileges__null"], s(""));
    }

    #[tokio::test]
    async fn the_python_clients_multipart_body_uses_its_json_field_and_file() {
        let params = fixture("python_multipart_upload.http").await;
        assert_eq!(params["resume"], s("False"));
        assert_eq!(params["ks"], s("KS_PLACEHOLDER"));
        let data = file(&params, "fileData");
        assert_eq!(data.filename, "clip.mp4");
        assert_eq!(data.content.bytes(), b"hello kaltura\n");
        assert_eq!(data.content_type.as_deref(), Some("video/mp4"));
        assert!(data.is_upload());
    }

    #[tokio::test]
    async fn the_node_clients_hand_built_multipart_body_is_read() {
        let params = fixture("node_multipart_upload.http").await;
        assert_eq!(params["resume"], Value::Bool(false));
        assert_eq!(params["resumeAt"], Value::Int(-1));
        assert_eq!(params["format"], Value::Int(1));
        assert_eq!(
            file(&params, "fileData").content.bytes(),
            b"hello kaltura\n"
        );
        let chunk = fixture("node_multipart_chunk_buffer.http").await;
        assert_eq!(file(&chunk, "fileData").filename, "chunk");
        assert_eq!(file(&chunk, "fileData").content.bytes(), b"chunk bytes");
    }

    #[tokio::test]
    async fn a_multirequest_file_part_lands_in_its_sub_request() {
        let params = fixture("node_multirequest_with_file.http").await;
        let second = params["1"].as_map().unwrap();
        assert_eq!(second["uploadTokenId"], s("{1:result}"));
        match &second["fileData"] {
            Value::File(file) => assert_eq!(file.content.bytes(), b"in a multirequest"),
            other => panic!("not a file: {other:?}"),
        }
    }

    #[tokio::test]
    async fn flat_multipart_fields_merge_with_the_query() {
        let params = fixture("uploader_chunk_flat_multipart.http").await;
        assert_eq!(params["resume"], s("0"));
        assert_eq!(params["finalChunk"], s("1"));
        assert_eq!(params["ks"], s("KS_PLACEHOLDER"));
        assert_eq!(file(&params, "fileData").filename, "chunk_0");
        assert_eq!(file(&params, "fileData").content.bytes(), b"0123456789");
    }

    #[tokio::test]
    async fn a_urlencoded_form_nests_colon_keys() {
        let params = fixture("uploader_form_add_entry.http").await;
        assert_eq!(params["service"], s("media"));
        let entry = params["mediaEntry"].as_map().unwrap();
        assert_eq!(entry["name"], s("clip.mp4"));
        assert_eq!(entry["objectType"], s("KalturaMediaEntry"));
    }

    #[tokio::test]
    async fn a_double_slash_url_still_yields_its_path_pairs() {
        let params = fixture("python_session_start_double_slash.http").await;
        assert_eq!(params["service"], s("session"));
        assert_eq!(params["action"], s("start"));
    }

    #[test]
    fn basename_strips_both_kinds_of_directory() {
        assert_eq!(basename("/tmp/a dir/clip.mp4"), "clip.mp4");
        assert_eq!(basename("C:\\v\\clip.mp4"), "clip.mp4");
        assert_eq!(basename("clip.mp4"), "clip.mp4");
    }
}
