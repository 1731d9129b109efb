//! The filters of `GET /videos`, as the OpenAPI document defines them (`LIST-videos`):
//!
//! - `title` and `description`: videos whose text contains the term ("return any videos that
//!   contain the same term as part of their titles"), case included;
//! - `tags[]` (repeatable): videos carrying every tag listed;
//! - `metadata[key]=value` (a deepObject): videos holding every pair listed;
//! - `liveStreamId`: videos recorded from that live stream; vidmock has no live streams, so no
//!   video matches.
//!
//! The official clients send `tags[]=a&tags[]=b` (Node) or `tags[0]=a` style indexes; both are
//! read, as PHP reads them.

use super::videos::StoredVideo;
use super::Problem;

/// A parsed set of video filters; every one given must hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct VideoFilter {
    title: Option<String>,
    description: Option<String>,
    tags: Vec<String>,
    metadata: Vec<(String, String)>,
    live_stream: bool,
}

impl VideoFilter {
    /// Reads the filters of a raw query string; other parameters are left to the pager.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut filter = VideoFilter::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "title" => filter.title = Some(value.into_owned()),
                "description" => filter.description = Some(value.into_owned()),
                "liveStreamId" => filter.live_stream = true,
                "tags" => filter.tags.push(value.into_owned()),
                other => {
                    if let Some(index) = other
                        .strip_prefix("tags[")
                        .and_then(|r| r.strip_suffix(']'))
                    {
                        if !index.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(Problem::invalid_query_parameter(
                                "tags",
                                "This value should be of type array.",
                            ));
                        }
                        filter.tags.push(value.into_owned());
                    } else if let Some(key) = other
                        .strip_prefix("metadata[")
                        .and_then(|r| r.strip_suffix(']'))
                    {
                        filter.metadata.retain(|(k, _)| k != key);
                        filter.metadata.push((key.to_owned(), value.into_owned()));
                    }
                }
            }
        }
        Ok(filter)
    }

    pub(crate) fn matches(&self, video: &StoredVideo) -> bool {
        !self.live_stream
            && self
                .title
                .as_ref()
                .is_none_or(|t| video.title.contains(t.as_str()))
            && self
                .description
                .as_ref()
                .is_none_or(|d| video.description.contains(d.as_str()))
            && self.tags.iter().all(|tag| video.tags.contains(tag))
            && self.metadata.iter().all(|(key, value)| {
                video
                    .metadata
                    .iter()
                    .any(|m| &m.key == key && &m.value == value)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_with_brackets_or_indexes_and_metadata_as_a_deep_object() {
        let filter =
            VideoFilter::parse(Some("tags%5B%5D=a&tags[1]=b&metadata%5BAuthor%5D=John+Doe"))
                .unwrap();
        assert_eq!(filter.tags, ["a", "b"]);
        assert_eq!(
            filter.metadata,
            [("Author".to_owned(), "John Doe".to_owned())]
        );
        assert!(VideoFilter::parse(Some("tags[x]=a")).is_err());
    }
}
