//! `GET /tags`: the tags a project's videos carry, with how many videos carry each.
//!
//! Computed from the videos on every call, so it can never disagree with them.

use http::StatusCode;
use serde_json::json;

use super::paging::ListQuery;
use super::videos::StoredVideo;
use super::{wire, Problem};
use crate::engine::body::Response;

/// A text folded for the `value` search, which the document says "ignores accents, uppercase,
/// and lowercase": lowercase, with the accents of Latin letters dropped.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ř' => 'r',
            'ś' | 'š' | 'ş' => 's',
            'ť' | 'ţ' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            other => other,
        })
        .collect()
}

/// Each tag with its count of videos, in first-seen order.
fn counts(videos: &[StoredVideo]) -> Vec<(String, u64)> {
    let mut counts: indexmap::IndexMap<&str, u64> = indexmap::IndexMap::new();
    for video in videos {
        let mut seen = std::collections::HashSet::new();
        for tag in &video.tags {
            if seen.insert(tag.as_str()) {
                *counts.entry(tag.as_str()).or_default() += 1;
            }
        }
    }
    counts.into_iter().map(|(t, n)| (t.to_owned(), n)).collect()
}

/// `GET /tags`: `value` filters on part of a tag, `sortBy` is `value` (the default) or
/// `videoCount`.
pub(crate) fn list(
    videos: &[StoredVideo],
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &["value", "videoCount"], &["value"])?;
    let mut tags = counts(videos);
    if let Some(value) = query.filter("value") {
        let wanted = fold(value);
        tags.retain(|(tag, _)| fold(tag).contains(&wanted));
    }
    match query.sort_by {
        Some("videoCount") => tags.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0))),
        _ => tags.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    if query.descending == Some(true) {
        tags.reverse();
    }
    let (page, pagination) = query.page(tags, &format!("{base}/tags"));
    let data: Vec<_> = page
        .into_iter()
        .map(|(value, count)| json!({ "value": value, "videoCount": count }))
        .collect();
    Ok(wire::json(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_ignores_case_and_accents() {
        assert!(fold("Éléphant").contains(&fold("ELEPH")));
    }
}
