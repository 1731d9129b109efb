//! A video's captions: WebVTT files, one per language, one of them optionally the default.
//!
//! Captions live in their video (deleting the video deletes them), so the state file, the seed
//! file and the admin state carry them with it.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::files::Form;
use super::paging::ListQuery;
use super::videos::StoredVideo;
use super::{language, wire, Backend, Problem};
use crate::engine::body::Response;

/// The largest caption file accepted. The vendor documents no limit; a two-hour film's
/// subtitles are about 100 KiB.
pub(crate) const MAX_FILE: usize = 1024 * 1024;

/// The most captions, and the most chapters files, one video holds (the vendor documents no
/// limit; tags with a script and a region would otherwise let a client add them without end).
pub(crate) const MAX_PER_VIDEO: usize = 50;

/// The refusal of one more caption or chapter file for a video that holds `max` already.
pub(crate) fn too_many(max: usize) -> Problem {
    Problem::invalid_attribute(
        "language",
        format!("A video holds at most {max} files of this kind; delete one first."),
    )
}

/// One caption as vidmock keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredCaption {
    /// A covered language tag in canonical case (`fr-CA`).
    pub language: String,
    #[serde(default)]
    pub default: bool,
    /// The WebVTT text as uploaded.
    #[serde(default)]
    pub vtt: String,
}

/// What captions and chapters share: one WebVTT file per language on a video, deleted and
/// listed the same way.
pub(crate) trait TextTrack {
    /// Its covered language tag.
    fn language(&self) -> &str;
    /// Its wire form, for video `video` served at `base`.
    fn to_json(&self, video: &str, base: &str) -> Value;
    /// A new track in `language` holding `vtt`.
    fn new(language: String, vtt: String) -> Self;
    /// Replaces its file.
    fn set_vtt(&mut self, vtt: String);
    /// Its file.
    fn vtt(&self) -> &str;
}

/// The track of `tracks` in covered language `tag`.
pub(crate) fn find_track<'a, T: TextTrack>(tracks: &'a [T], tag: &str) -> Option<&'a T> {
    tracks.iter().find(|t| t.language() == tag)
}

impl TextTrack for StoredCaption {
    fn language(&self) -> &str {
        &self.language
    }

    fn new(language: String, vtt: String) -> Self {
        StoredCaption {
            language,
            default: false,
            vtt,
        }
    }

    fn set_vtt(&mut self, vtt: String) {
        self.vtt = vtt;
    }

    fn vtt(&self) -> &str {
        &self.vtt
    }

    fn to_json(&self, video: &str, base: &str) -> Value {
        let name = language::parse(&self.language).map_or("", |tag| tag.name);
        json!({
            "uri": format!("/videos/{video}/captions/{}", self.language),
            "src": format!("{base}/vod/{video}/captions/{}.vtt", self.language),
            "srclang": self.language,
            "languageName": name,
            "default": self.default,
        })
    }
}

/// The text of an uploaded WebVTT file, or the vendor's refusal of anything else.
pub(crate) fn webvtt(form: &Form) -> Result<String, Problem> {
    let invalid = || {
        Problem::new(
            400,
            "uploaded-file-invalid-file",
            "The uploaded file is invalid.",
        )
        .name("file")
        .detail("The file must be a WebVTT file (starting with \"WEBVTT\").")
    };
    let bytes = form.file.as_ref().map(|f| &f.bytes[..]).unwrap_or_default();
    let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let signature = body.strip_prefix("WEBVTT").ok_or_else(invalid)?;
    if !(signature.is_empty() || signature.starts_with([' ', '\t', '\n', '\r'])) {
        return Err(invalid());
    }
    Ok(text.to_owned())
}

/// The 404 for a caption or chapters file of a language the video has none in.
pub(crate) fn not_found() -> Problem {
    Problem::resource_not_found("language")
}

impl Backend {
    /// Runs `f` on video `id` of project `key`, as a change of that video.
    pub(crate) fn with_video_mut<T>(
        &self,
        key: &str,
        id: &str,
        f: impl FnOnce(&mut StoredVideo) -> Result<T, Problem>,
    ) -> Result<T, Problem> {
        let mut state = self.lock();
        let video = state
            .projects
            .get_mut(key)
            .and_then(|p| p.videos.get_mut(id))
            .ok_or_else(|| Problem::resource_not_found("videoId"))?;
        f(video)
    }
}

/// `POST /videos/{videoId}/captions/{language}`: adds or replaces the caption.
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
        &mut video.captions
    })
}

/// Adds the WebVTT file of `form` in `tag`'s language to the list `tracks` picks of video `id`,
/// or replaces the one there; at most [`MAX_PER_VIDEO`] languages.
pub(crate) fn upload_track<T: TextTrack>(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: language::Tag,
    form: Result<Form, Problem>,
    base: &str,
    tracks: fn(&mut StoredVideo) -> &mut Vec<T>,
) -> Result<Response, Problem> {
    // An unknown video is refused before the file is judged.
    backend.with_video(key, id, |_| ())?;
    let vtt = webvtt(&form?)?;
    backend.with_video_mut(key, id, |video| {
        let list = tracks(video);
        let full = list.len() >= MAX_PER_VIDEO;
        let track = match list.iter_mut().position(|t| t.language() == tag.tag) {
            Some(index) => {
                list[index].set_vtt(vtt);
                &list[index]
            }
            None if full => return Err(too_many(MAX_PER_VIDEO)),
            None => {
                list.push(T::new(tag.tag, vtt));
                &list[list.len() - 1]
            }
        };
        let json = track.to_json(id, base);
        Ok(wire::json(StatusCode::OK, &json))
    })
}

/// `GET /videos/{videoId}/captions/{language}`.
pub(crate) fn get(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
    base: &str,
) -> Result<Response, Problem> {
    let tag = language::parse(tag)?;
    get_track(backend, key, id, &tag, base, |video| &video.captions)
}

/// `PATCH /videos/{videoId}/captions/{language}` `{"default": bool}`: at most one caption of a
/// video is the default, so making one the default unsets the others.
pub(crate) fn update(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
    body: Result<Option<Value>, Problem>,
    base: &str,
) -> Result<Response, Problem> {
    let tag = language::parse(tag)?;
    let default = match body? {
        None => None,
        Some(Value::Object(object)) => match object.get("default") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(Problem::invalid_attribute(
                    "default",
                    "This value should be of type bool.",
                ))
            }
        },
        Some(_) => return Err(Problem::invalid_payload()),
    };
    backend.with_video_mut(key, id, |video| {
        let index = video
            .captions
            .iter()
            .position(|c| c.language == tag.tag)
            .ok_or_else(not_found)?;
        if let Some(default) = default {
            for (i, caption) in video.captions.iter_mut().enumerate() {
                if i == index {
                    caption.default = default;
                } else if default {
                    caption.default = false;
                }
            }
        }
        let caption = video.captions[index].to_json(&video.id, base);
        Ok(wire::json(StatusCode::OK, &caption))
    })
}

/// `DELETE /videos/{videoId}/captions/{language}`.
pub(crate) fn delete(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &str,
) -> Result<Response, Problem> {
    let tag = language::parse(tag)?;
    delete_track(backend, key, id, &tag, |video| &mut video.captions)
}

/// `GET /videos/{videoId}/captions`: in upload order, paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    id: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    list_tracks(backend, key, id, query, base, "captions", |video| {
        &video.captions
    })
}

/// Deletes the track in `tag`'s language from the list `tracks` picks of video `id`.
pub(crate) fn delete_track<T: TextTrack>(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &language::Tag,
    tracks: fn(&mut StoredVideo) -> &mut Vec<T>,
) -> Result<Response, Problem> {
    backend.with_video_mut(key, id, |video| {
        let tracks = tracks(video);
        let index = tracks
            .iter()
            .position(|t| t.language() == tag.tag)
            .ok_or_else(not_found)?;
        tracks.remove(index);
        Ok(wire::no_content())
    })
}

/// The list `tracks` picks of video `id`, in upload order, paged under `{base}/videos/{id}/{kind}`.
/// `GET /videos/{videoId}/{captions|chapters}/{language}`: the track of that language, or the
/// vendor's 404 naming the language.
pub(crate) fn get_track<T: TextTrack>(
    backend: &Backend,
    key: &str,
    id: &str,
    tag: &language::Tag,
    base: &str,
    tracks: fn(&StoredVideo) -> &Vec<T>,
) -> Result<Response, Problem> {
    backend
        .with_video(key, id, |video| {
            find_track(tracks(video), &tag.tag).map(|t| t.to_json(&video.id, base))
        })?
        .map(|track| wire::json(StatusCode::OK, &track))
        .ok_or_else(not_found)
}

pub(crate) fn list_tracks<T: TextTrack>(
    backend: &Backend,
    key: &str,
    id: &str,
    query: Option<&str>,
    base: &str,
    kind: &str,
    tracks: fn(&StoredVideo) -> &Vec<T>,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &[], &[])?;
    let tracks = backend.with_video(key, id, |video| {
        tracks(video)
            .iter()
            .map(|t| t.to_json(&video.id, base))
            .collect::<Vec<_>>()
    })?;
    let (data, pagination) = query.page(tracks, &format!("{base}/videos/{id}/{kind}"));
    Ok(wire::json(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}

impl StoredVideo {
    /// Checks a document's captions and chapters as an upload would: covered languages, each
    /// once, files within their caps.
    pub(crate) fn validate_files(&self, at: &str) -> Result<(), crate::engine::error::Invalid> {
        use crate::engine::error::Invalid;
        let files = self
            .captions
            .iter()
            .map(|c| ("captions", &c.language, &c.vtt))
            .chain(
                self.chapters
                    .iter()
                    .map(|c| ("chapters", &c.language, &c.vtt)),
            );
        if self.captions.len() > MAX_PER_VIDEO || self.chapters.len() > MAX_PER_VIDEO {
            return Err(Invalid::at(at, "holds more than 50 captions or chapters"));
        }
        let mut seen = std::collections::HashSet::new();
        for (kind, language, vtt) in files {
            let tag = language::parse(language).map_err(|_| {
                Invalid::at(
                    format!("{at}.{kind}"),
                    format!("{language:?} is not a covered language tag"),
                )
            })?;
            if tag.tag != *language || !seen.insert((kind, language)) {
                return Err(Invalid::at(
                    format!("{at}.{kind}"),
                    format!(
                        "{language:?} is not in canonical case ({:?}) or appears twice",
                        tag.tag
                    ),
                ));
            }
            if vtt.len() > MAX_FILE {
                return Err(Invalid::at(
                    format!("{at}.{kind}"),
                    "holds a file over 1 MiB",
                ));
            }
        }
        Ok(())
    }
}
