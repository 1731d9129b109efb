//! `service=multirequest`: several calls in one HTTP request, each answered on its own
//! (../shared/specs/kaltura.md §8, `KalturaFrontController::handleMultiRequest`).
//!
//! Sub-requests are numbered from 0 (Python, Node) or 1 (others), nested
//! (`{"1":{"service":…}}`) or flat (`1:service=…`) — both arrive here as numbered maps. They
//! run in order from `min(1, lowest)` until the first number without `service` and `action`,
//! inherit `ks`, `partnerId` and `clientTag`, and may refer to earlier results with
//! `{N:result[:property…]}` where N counts processed requests from 1.

use super::Served;

use super::dispatch;
use super::error::ApiError;
use super::limits;
use super::params::{Map, Value};
use super::wire::{reference_text, Out};

/// Runs every sub-request of `params`, returning one result (or error) per processed request.
///
/// A multirequest of more than [`limits::MAX_SUBREQUESTS`] sub-requests is refused before any
/// runs, and one whose answer would grow past [`limits::MAX_ANSWER_BYTES`] stops there: both
/// are answered as one error. Between sub-requests the task yields, so that the connection
/// notices a client that has gone and drops this future, ending the work.
pub(crate) async fn run(served: &Served, params: &Map) -> Result<Vec<Out>, ApiError> {
    let mut requests: std::collections::BTreeMap<i64, Value> = std::collections::BTreeMap::new();
    let mut common = Map::default();
    for (key, value) in params {
        match key.trim().parse::<i64>() {
            Ok(index) => {
                requests.insert(index, value.clone());
            }
            Err(_) => {
                common.insert(key.clone(), value.clone());
            }
        }
    }
    let first = requests.keys().next().copied().unwrap_or(1).min(1);
    let runnable = |index: i64| {
        matches!(requests.get(&index), Some(Value::Map(request))
            if request.contains_key("service") && request.contains_key("action"))
    };
    let count = (0..)
        .map_while(|offset: i64| first.checked_add(offset))
        .take(limits::MAX_SUBREQUESTS + 1)
        .take_while(|index| runnable(*index))
        .count();
    if count > limits::MAX_SUBREQUESTS {
        return Err(limits::too_much_work(format_args!(
            "a multirequest may carry at most {} sub-requests",
            limits::MAX_SUBREQUESTS
        )));
    }
    let mut results: Vec<Out> = Vec::with_capacity(count);
    let mut answer = 0usize;
    for index in (0..count).filter_map(|offset| first.checked_add(offset as i64)) {
        let Some(Value::Map(request)) = requests.get(&index) else {
            break;
        };
        let mut request = request.clone();
        for inherited in ["clientTag", "ks", "partnerId"] {
            if let Some(value) = common.get(inherited) {
                if !matches!(request.get(inherited), Some(v) if *v != Value::Null) {
                    request.insert(inherited.to_owned(), value.clone());
                }
            }
        }
        request.shift_remove("format");
        let result = match substitute(&mut request, &results) {
            Err(error) => Out::Error(error),
            Ok(()) => Out::from(dispatch::invoke(served.clone(), &request).await),
        };
        answer = answer.saturating_add(limits::weight(&result));
        if answer > limits::MAX_ANSWER_BYTES {
            return Err(limits::too_much_work(format_args!(
                "the answer to a multirequest would exceed {} bytes (at sub-request {})",
                limits::MAX_ANSWER_BYTES,
                results.len() + 1
            )));
        }
        results.push(result);
        tokio::task::yield_now().await;
    }
    Ok(results)
}

/// Replaces, in every string value, the first `{N:result…}` reference to a request already
/// processed. A reference that resolves to nothing fails the request with
/// `MISSING_MANDATORY_PARAMETER` naming the reference, as the server does.
fn substitute(map: &mut Map, results: &[Out]) -> Result<(), ApiError> {
    for value in map.values_mut() {
        match value {
            Value::Map(inner) => substitute(inner, results)?,
            Value::Str(text) => {
                let Some(reference) = find_reference(text) else {
                    continue;
                };
                let Some(result) = reference.index.checked_sub(1).and_then(|i| results.get(i))
                else {
                    continue;
                };
                let resolved = resolve(result, &reference.path)
                    .ok_or_else(|| ApiError::missing_parameter(&reference.matched))?;
                *text = text.replace(&reference.matched, &resolved);
            }
            _ => {}
        }
    }
    Ok(())
}

/// One `{N:result:a:b}` found in a value.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    /// The text matched, braces included.
    matched: String,
    /// N: which processed request (from 1).
    index: usize,
    /// The property path after `result:`, split on `:` (empty for the whole result).
    path: Vec<String>,
}

/// The server's `/\{[0-9]+:result:?(.*)?\}/` on one value: the first opening brace that starts
/// a reference, up to the last `}` on that line (the pattern is greedy).
fn find_reference(text: &str) -> Option<Reference> {
    for (start, _) in text.match_indices('{') {
        let after = &text[start + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            continue;
        }
        let Some(rest) = after[digits..].strip_prefix(":result") else {
            continue;
        };
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let Some(close) = rest[..line_end].rfind('}') else {
            continue;
        };
        let inner = &rest[..close];
        let inner = inner.strip_prefix(':').unwrap_or(inner);
        let end = start + 1 + digits + ":result".len() + close + 1;
        return Some(Reference {
            matched: text[start..end].to_owned(),
            index: after[..digits].parse().ok()?,
            path: if inner.is_empty() {
                Vec::new()
            } else {
                inner.split(':').map(str::to_owned).collect()
            },
        });
    }
    None
}

/// `getValueFromObject`: follows `path` through objects and arrays to a non-empty scalar.
fn resolve(result: &Out, path: &[String]) -> Option<String> {
    let Some((first, rest)) = path.split_first() else {
        return reference_text(result);
    };
    match result {
        Out::Object(object) => resolve(object.get(first)?, rest),
        Out::Array(items) => resolve(items.get(first.parse::<usize>().ok()?)?, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kaltura::wire::Object;

    #[test]
    fn references_are_found_like_the_servers_pattern() {
        let r = find_reference("{1:result}").unwrap();
        assert_eq!((r.index, r.path.len()), (1, 0));
        let r = find_reference("x {2:result:id} y").unwrap();
        assert_eq!(r.matched, "{2:result:id}");
        assert_eq!(r.path, vec!["id".to_string()]);
        // Greedy: a second reference in the same value is swallowed by the first.
        let r = find_reference("{1:result:id}-{2:result:id}").unwrap();
        assert_eq!(r.matched, "{1:result:id}-{2:result:id}");
        assert!(find_reference("{a:result}").is_none());
        assert!(find_reference("{1:results").is_none());
    }

    #[test]
    fn references_resolve_through_objects() {
        let token =
            Out::Object(Object::new("KalturaUploadToken").prop("id", Out::Str("0_a".into())));
        assert_eq!(resolve(&token, &["id".into()]), Some("0_a".into()));
        assert_eq!(resolve(&token, &["nope".into()]), None);
        assert_eq!(resolve(&token, &[]), None);
        assert_eq!(resolve(&Out::Str("ks".into()), &[]), Some("ks".into()));
    }

    #[test]
    fn an_unresolvable_reference_fails_the_request() {
        let mut map = Map::default();
        map.insert("ks".into(), Value::Str("{1:result}".into()));
        let failed = [Out::Error(ApiError::new("MISSING_KS", &[]))];
        assert_eq!(
            substitute(&mut map, &failed).unwrap_err(),
            ApiError::missing_parameter("{1:result}")
        );
        let mut later = Map::default();
        later.insert("ks".into(), Value::Str("{3:result}".into()));
        assert!(substitute(&mut later, &failed).is_ok());
        assert_eq!(later["ks"], Value::Str("{3:result}".into()));
    }
}
