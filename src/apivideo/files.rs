//! Small files sent as `multipart/form-data`: captions, chapters, watermarks and player logos.
//!
//! Video sources stream through `upload.rs`, which can spill them to disk; these files are tiny
//! by the vendor's own rules (a logo is at most 100 KiB), so they are read whole into memory,
//! each under a cap of its own, and a body over the cap is refused as it streams in rather than
//! after it has all arrived.

use http::{header, HeaderMap};

use super::Problem;
use crate::engine::body::Body;

/// A file part, read whole.
#[derive(Debug)]
pub(crate) struct SmallFile {
    /// The client's filename, without directories (empty when the part named none).
    pub name: String,
    pub bytes: bytes::Bytes,
}

impl SmallFile {
    /// The lowercase extension of its filename (`png`), empty when it has none.
    pub(crate) fn extension(&self) -> String {
        self.name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The media type an image is served with: by its first bytes (PNG or JPEG), else by its
    /// extension.
    pub(crate) fn image_type(&self) -> &'static str {
        if self.bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if self.bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || self.extension() != "png" {
            "image/jpeg"
        } else {
            "image/png"
        }
    }
}

/// What one small multipart body carried: its `file` part and its short text fields.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub file: Option<SmallFile>,
    /// Text fields by name, last value kept.
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn no_file() -> Problem {
    Problem::new(
        400,
        "uploaded-file-no-file",
        "There is no uploaded file in the request.",
    )
    .name("file")
}

pub(crate) fn too_large(max: usize) -> Problem {
    Problem::new(
        400,
        "uploaded-file-too-large",
        "The uploaded file is too large.",
    )
    .name("file")
    .detail(format!("The file must not be larger than {max} bytes."))
}

/// Text fields beyond this many bytes are refused: the forms above carry a link at most.
const MAX_FIELD: u64 = 8 * 1024;

/// Reads a form whose `file` part (or, as the Node client sends it, a part named after the
/// file) holds at most `max_file` bytes. A missing or empty file is the vendor's
/// `uploaded-file-no-file` / `uploaded-file-empty`.
pub(crate) async fn read(
    headers: &HeaderMap,
    body: Body,
    max_file: usize,
) -> Result<Form, Problem> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(no_file)?;
    let max = max_file as u64;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max.saturating_add(64 * 1024))
            .per_field(max.max(MAX_FIELD)),
    );
    let mut parts =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let invalid = |error: multer::Error| match error {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(max_file)
        }
        _ => Problem::new(
            400,
            "uploaded-file-invalid-file",
            "The uploaded file is invalid.",
        )
        .detail("The multipart body could not be read."),
    };
    let mut form = Form::default();
    while let Some(field) = parts.next_field().await.map_err(invalid)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .file_name()
            .map(str::to_owned)
            .or_else(|| (name == "file").then(String::new));
        let Some(filename) = filename else {
            let text = field.text().await.map_err(invalid)?;
            if text.len() as u64 > MAX_FIELD {
                return Err(Problem::invalid_attribute(&name, "This value is too long."));
            }
            form.fields.push((name, text));
            continue;
        };
        if form.file.is_some() {
            return Err(Problem::new(
                400,
                "uploaded-file-multiple-files",
                "There is more than one uploaded file in the request.",
            )
            .name("file"));
        }
        let bytes = field.bytes().await.map_err(invalid)?;
        if bytes.len() > max_file {
            return Err(too_large(max_file));
        }
        let name = filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_owned();
        form.file = Some(SmallFile { name, bytes });
    }
    match &form.file {
        None => Err(no_file()),
        Some(file) if file.bytes.is_empty() => {
            Err(
                Problem::new(400, "uploaded-file-empty", "The uploaded file is empty.")
                    .name("file"),
            )
        }
        Some(_) => Ok(form),
    }
}

/// The vendor's refusal of an image that is neither JPEG nor PNG (the examples of
/// `POST /watermarks` and `POST /players/{playerId}/logo`).
pub(crate) fn image_extension_invalid(title: &'static str) -> Problem {
    Problem::new(400, "uploaded-file-extension-invalid", title).name("file")
}

impl SmallFile {
    /// Whether the file may be a watermark or a logo: a `jpg`, `jpeg` or `png` extension (any
    /// case), as the vendor's refusal names them; a name without an extension (the Node client
    /// names a Buffer `file`) passes when the bytes start like a JPEG or a PNG.
    pub(crate) fn is_jpeg_or_png(&self) -> bool {
        match self.extension().as_str() {
            "jpg" | "jpeg" | "png" => true,
            "" if !self.name.contains('.') => {
                self.bytes.starts_with(&[0xFF, 0xD8, 0xFF])
                    || self.bytes.starts_with(b"\x89PNG\r\n\x1a\n")
            }
            _ => false,
        }
    }
}
