//! Watermarks: images a project uploads once and names when it creates a video.
//!
//! Nothing is drawn on a video, and the vendor's watermark object names no URL of the image;
//! vidmock keeps the image (a [`KeptFile`]: on disk when the server spills uploads) so a test
//! can read back what was sent, and the admin state shows it by content type, size and sha256.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::files::{image_extension_invalid, Form};
use super::paging::ListQuery;
use super::{wire, Backend, Problem};
use crate::engine::body::Response;
use crate::engine::ids::Ids;
use crate::upload::kept::KeptFile;

/// The largest watermark image accepted. The vendor documents none for watermarks; 8 MiB is
/// its documented limit for the other images it takes (live stream thumbnails).
pub(crate) const MAX_FILE: usize = 8 * 1024 * 1024;

/// The most watermarks one project keeps (the vendor documents no limit).
pub(crate) const MAX_PER_PROJECT: usize = 1000;

/// One watermark: what the API shows, and what was uploaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredWatermark {
    /// `watermark_` + 22 base62 characters.
    #[serde(default)]
    pub watermark_id: String,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The uploaded file's name.
    #[serde(default)]
    pub filename: String,
    /// The image; a seed may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<KeptFile>,
}

impl StoredWatermark {
    /// Supplies what a seed may leave out: an id and a creation date.
    pub(crate) fn fill(&mut self, ids: &Ids, now: OffsetDateTime) {
        if self.watermark_id.is_empty() {
            self.watermark_id = ids.base62("watermark_", 22);
        }
        if crate::engine::clock::is_unset(self.created_at) {
            self.created_at = now;
        }
    }

    /// Gives an image read from a document its bytes back.
    pub(crate) fn restore_image(&mut self, blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>) {
        if let Some(image) = &mut self.image {
            image.restore(blob);
        }
    }

    fn to_json(&self) -> Value {
        json!({ "watermarkId": self.watermark_id, "createdAt": wire::atom(self.created_at) })
    }
}

/// The `watermark` of `POST /videos`: which watermark, and where it is drawn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VideoWatermark {
    pub id: String,
    /// `top`, `left`, `bottom`, `right`, `width`, `height`, `opacity`, as sent.
    #[serde(flatten)]
    pub placement: std::collections::BTreeMap<String, String>,
}

const PLACEMENT: [&str; 7] = [
    "top", "left", "bottom", "right", "width", "height", "opacity",
];

/// Reads the `watermark` attribute of a video creation; `exists` says whether the project has
/// a watermark by that id.
pub(crate) fn parse_video_watermark(
    value: &Value,
    exists: impl Fn(&str) -> bool,
) -> Result<VideoWatermark, Problem> {
    let Value::Object(object) = value else {
        return Err(Problem::invalid_attribute(
            "watermark",
            "This value should be of type object.",
        ));
    };
    let text = |object: &Map<String, Value>, name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::invalid_attribute(
            &format!("watermark.{name}"),
            "This value should be of type string.",
        )),
    };
    let id = text(object, "id")?.ok_or_else(|| Problem::attribute_required("watermark.id"))?;
    if !exists(&id) {
        return Err(Problem::invalid_attribute(
            "watermark.id",
            format!("The watermark {id:?} does not exist."),
        ));
    }
    let mut placement = std::collections::BTreeMap::new();
    for name in PLACEMENT {
        if let Some(value) = text(object, name)? {
            placement.insert(name.to_owned(), value);
        }
    }
    Ok(VideoWatermark { id, placement })
}

/// `POST /watermarks`: a JPEG or PNG image, by its extension as the vendor checks it.
pub(crate) async fn upload(
    backend: &Backend,
    ids: &Ids,
    spill: Option<&std::sync::Arc<crate::upload::SpillDir>>,
    key: &str,
    form: Result<Form, Problem>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let form = form?;
    let Some(file) = form.file else {
        return Err(Problem::invalid_payload());
    };
    if !file.is_jpeg_or_png() {
        return Err(image_extension_invalid(
            "Only [jpeg, jpg, JPG, JPEG, png, PNG] extensions are supported.",
        ));
    }
    let full = || {
        Problem::invalid_attribute(
            "file",
            format!("A project holds at most {MAX_PER_PROJECT} watermarks; delete one first."),
        )
    };
    // Refused before its bytes are kept, and checked again once they are.
    match backend.lock().projects.get(key) {
        None => return Err(Problem::resource_not_found("watermarkId")),
        Some(project) if project.watermarks.len() >= MAX_PER_PROJECT => return Err(full()),
        Some(_) => {}
    }
    let content_type = file.image_type();
    let image = KeptFile::keep(file.bytes, content_type, backend.retention, spill).await;
    let watermark = StoredWatermark {
        watermark_id: ids.base62("watermark_", 22),
        created_at: now,
        filename: file.name,
        image: Some(image),
    };
    let mut state = backend.lock();
    let project = state
        .projects
        .get_mut(key)
        .ok_or_else(|| Problem::resource_not_found("watermarkId"))?;
    if project.watermarks.len() >= MAX_PER_PROJECT {
        return Err(full());
    }
    let json = watermark.to_json();
    project
        .watermarks
        .insert(watermark.watermark_id.clone(), watermark);
    Ok(wire::json(StatusCode::OK, &json))
}

/// `GET /watermarks`: sorted by creation (the one sort field), paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &["createdAt"], &[])?;
    let mut watermarks: Vec<StoredWatermark> = backend
        .lock()
        .projects
        .get(key)
        .map(|p| p.watermarks.values().cloned().collect())
        .unwrap_or_default();
    watermarks.sort_by_key(|w| w.created_at);
    if query.descending == Some(true) {
        watermarks.reverse();
    }
    let (page, pagination) = query.page(watermarks, &format!("{base}/watermarks"));
    let data: Vec<Value> = page.iter().map(StoredWatermark::to_json).collect();
    Ok(wire::json(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}

/// `DELETE /watermarks/{watermarkId}`.
pub(crate) fn delete(backend: &Backend, key: &str, id: &str) -> Result<Response, Problem> {
    backend
        .lock()
        .projects
        .get_mut(key)
        .and_then(|p| p.watermarks.shift_remove(id))
        .map(|_| wire::no_content())
        .ok_or_else(|| Problem::resource_not_found("watermarkId"))
}
