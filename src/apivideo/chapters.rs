//! A video's chapters: WebVTT files, one per language.
//!
//! Like captions, chapters live in their video and are saved, seeded and shown with it.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::captions::{delete_track, list_tracks, too_many, webvtt, TextTrack};
use super::files::Form;
use super::{language, wire, Backend, Problem};
use crate::engine::body::Response;

/// The largest chapters file accepted (the vendor documents no limit).
pub(crate) const MAX_FILE: usize = 1024 * 1024;

/// The most chapter files one video holds.
pub(crate) const MAX_PER_VIDEO: usize = 50;

/// One chapters file as vidmock keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredChapter {
    /// A covered language tag in canonical case.
    pub language: String,
    /// The WebVTT text as uploaded.
    #[serde(default)]
    pub vtt: String,
}

impl TextTrack for StoredChapter {
    fn language(&self) -> &str {
        &self.language
    }

    fn to_json(&self, video: &str, base: &str) -> Value {
        json!({
            "uri": format!("/videos/{video}/chapters/{}", self.language),
            "src": format!("{base}/vod/{video}/chapters/{}.vtt", self.language),
            "language": self.language,
        })
    }
}

fn not_found() -> Problem {
    Problem::resource_not_found("language")
}

/// `POST /videos/{videoId}/chapters/{language}`: adds or replaces the file.
pub(crate) fn upload(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
    form: Result<Form, Problem>,
    base: &str,
) -> Result<Response, Problem> {
    let tag = language::parse(tag)?;
    backend.with_video(key, id, |_| ())?;
    let vtt = webvtt(&form?)?;
    backend.with_video_mut(key, id, |video| {
        let full = video.chapters.len() >= MAX_PER_VIDEO;
        let chapter = match video.chapters.iter_mut().find(|c| c.language == tag.tag) {
            Some(chapter) => {
                chapter.vtt = vtt;
                chapter.clone()
            }
            None if full => return Err(too_many(MAX_PER_VIDEO)),
            None => {
                let chapter = StoredChapter {
                    language: tag.tag,
                    vtt,
                };
                video.chapters.push(chapter.clone());
                chapter
            }
        };
        Ok(wire::json(
            StatusCode::OK,
            &chapter.to_json(&video.id, base),
        ))
    })
}

/// The chapter a path's language names: a tag that is no covered language names none (the
/// document gives these two operations no 400).
fn named(tag: &str) -> Result<language::Tag, Problem> {
    language::parse(tag).map_err(|_| not_found())
}

/// `GET /videos/{videoId}/chapters/{language}`.
pub(crate) fn get(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
    base: &str,
) -> Result<Response, Problem> {
    let tag = named(tag)?;
    backend
        .with_video(key, id, |video| {
            video
                .chapters
                .iter()
                .find(|c| c.language == tag.tag)
                .map(|c| c.to_json(&video.id, base))
        })?
        .map(|chapter| wire::json(StatusCode::OK, &chapter))
        .ok_or_else(not_found)
}

/// `DELETE /videos/{videoId}/chapters/{language}`.
pub(crate) fn delete(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
) -> Result<Response, Problem> {
    let tag = named(tag)?;
    delete_track(backend, key, id, &tag, |video| &mut video.chapters)
}

/// `GET /videos/{videoId}/chapters`: in upload order, paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    id: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    list_tracks(backend, key, id, query, base, "chapters", |video| {
        &video.chapters
    })
}
