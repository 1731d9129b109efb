//! How much one request may make the mock do, and how long a stored string may be.
//!
//! The vendor's server has no limit on the number of calls in a multirequest or on the size of
//! an answer: PHP's `memory_limit` (256M) and `max_execution_time` (60 s) end a request that
//! grows too big, with a fatal error and no API answer at all. A mock has no such backstop: left
//! alone, a 20 KB multirequest made it build half a gigabyte. So the count of sub-requests and
//! the size of an answer are capped here, where the vendor's own limits would have stopped the
//! request, and the refusal is the server's answer to an unexpected failure,
//! `INTERNAL_SERVERL_ERROR`, so that clients handle it as they handle any API error.
//!
//! Strings the server keeps in fixed-width columns are cut to the column's width, as MySQL cuts
//! them with the server's empty `sql_mode`; properties the API itself bounds (`@maxLength`) are
//! refused with `PROPERTY_VALIDATION_MAX_LENGTH`, as its deserializer refuses them.

use super::error::ApiError;
use super::wire::Out;

/// The most sub-requests one multirequest may carry: more is refused before any of them runs.
pub(crate) const MAX_SUBREQUESTS: usize = 1000;

/// The largest answer vidmock builds, as [`weight`] measures it (at least the bytes of the
/// JSON or XML it becomes).
pub(crate) const MAX_ANSWER_BYTES: usize = 32 << 20;

/// `upload_token.file_name` is `varchar(256)`.
pub(crate) const FILE_NAME_CHARS: usize = 256;
/// `entry.name` is `varchar(256)`.
pub(crate) const ENTRY_NAME_CHARS: usize = 256;
/// `entry.partner_data` is `varchar(4096)`.
pub(crate) const PARTNER_DATA_CHARS: usize = 4096;
/// `entry.description` and `entry.tags` are `text`: 65,535 bytes.
pub(crate) const TEXT_BYTES: usize = 65_535;
/// `KalturaBaseEntry::userId` is declared `@maxLength 100`.
pub(crate) const ENTRY_USER_ID_BYTES: usize = 100;

/// The error that stands for a request the vendor would not have survived.
pub(crate) fn too_much_work(why: std::fmt::Arguments<'_>) -> ApiError {
    tracing::warn!("kaltura request refused: {why}");
    ApiError::new("INTERNAL_SERVERL_ERROR", &[])
}

/// `value` cut to its first `chars` characters, as a `varchar(chars)` column keeps it.
pub(crate) fn varchar(value: String, chars: usize) -> String {
    match value.char_indices().nth(chars) {
        Some((end, _)) => value[..end].to_owned(),
        None => value,
    }
}

/// `value` cut to at most `bytes` bytes of whole characters, as a `text` column keeps it.
pub(crate) fn text(value: String, bytes: usize) -> String {
    if value.len() <= bytes {
        return value;
    }
    let mut end = bytes;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

/// `PROPERTY_VALIDATION_MAX_LENGTH` when `value` is longer than `bytes` (PHP's `strlen`).
pub(crate) fn max_length(name: &str, value: Option<&str>, bytes: usize) -> Result<(), ApiError> {
    match value {
        Some(value) if value.len() > bytes => Err(ApiError::new(
            "PROPERTY_VALIDATION_MAX_LENGTH",
            &[name, &bytes.to_string()],
        )),
        _ => Ok(()),
    }
}

/// An upper bound of the bytes `out` takes once written as JSON or XML: every character
/// counted as the longest escape either format may give it.
pub(crate) fn weight(out: &Out) -> usize {
    match out {
        Out::Null | Out::Bool(_) => 8,
        Out::Int(_) | Out::Float(_) => 32,
        Out::Str(text) => 16 + text_weight(text),
        Out::Object(object) => object
            .props
            .iter()
            .fold(64 + 2 * object.class.len(), |sum, (name, value)| {
                sum.saturating_add(8 + 2 * name.len() + weight(value))
            }),
        Out::Array(items) => items
            .iter()
            .fold(16, |sum, item| sum.saturating_add(16 + weight(item))),
        Out::Error(error) => error.args().iter().fold(
            256 + text_weight(error.code()) + text_weight(error.message()),
            |sum, (name, value)| sum.saturating_add(128 + text_weight(name) + text_weight(value)),
        ),
    }
}

/// JSON writes non-ASCII and control characters as `\uXXXX` (twice for a character beyond the
/// BMP); XML writes `&` as `&amp;`.
fn text_weight(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '\u{10000}'.. => 12,
            '\u{80}'.. | '\0'..='\u{1f}' | '&' | '<' | '>' | '\'' => 6,
            '"' | '\\' | '/' => 2,
            _ => 1,
        })
        .fold(0usize, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varchar_keeps_whole_characters_up_to_the_width() {
        assert_eq!(varchar("éééé".into(), 2), "éé");
        assert_eq!(varchar("ab".into(), 2), "ab");
        assert_eq!(varchar(String::new(), 0), "");
    }

    #[test]
    fn text_cuts_on_a_character_boundary() {
        assert_eq!(text("aé".into(), 2), "a");
        assert_eq!(text("aé".into(), 3), "aé");
    }

    #[test]
    fn weight_covers_the_json_escapes() {
        let out = Out::Array(vec![Out::Str("é/\u{1F600}".into()), Out::Null]);
        let json = serde_json::to_string(&serde_json::json!(["\\u00e9\\/\\ud83d\\ude00", null]))
            .unwrap_or_default();
        assert!(weight(&out) >= json.len());
    }

    #[test]
    fn a_long_value_is_refused_with_the_limit_named() {
        let error = max_length("userId", Some(&"u".repeat(101)), 100).unwrap_err();
        assert_eq!(
            error.message(),
            "The property \"userId\" cannot have more than 100 characters"
        );
        assert!(max_length("userId", Some(&"u".repeat(100)), 100).is_ok());
    }
}
