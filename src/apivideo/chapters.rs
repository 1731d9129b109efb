//! A video's chapters: WebVTT files, one per language.
//!
//! Like captions, chapters live in their video and are saved, seeded and shown with it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::captions::{delete_track, get_track, list_tracks, not_found, upload_track, TextTrack};
use super::files::Form;
use super::{language, Backend, Problem};
use crate::engine::body::Response;

/// The largest chapters file accepted (the vendor documents no limit).
pub(crate) const MAX_FILE: usize = 1024 * 1024;

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

    fn new(language: String, vtt: String) -> Self {
        StoredChapter { language, vtt }
    }

    fn set_vtt(&mut self, vtt: String) {
        self.vtt = vtt;
    }

    fn vtt(&self) -> &str {
        &self.vtt
    }

    fn to_json(&self, video: &str, base: &str) -> Value {
        json!({
            "uri": format!("/videos/{video}/chapters/{}", self.language),
            "src": format!("{base}/vod/{video}/chapters/{}.vtt", self.language),
            "language": self.language,
        })
    }
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
    upload_track(backend, key, id, tag, form, base, |video| {
        &mut video.chapters
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
    get_track(backend, key, id, &tag, base, |video| &video.chapters)
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
