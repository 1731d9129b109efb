//! `multipart/form-data` bodies as PHP reads them: plain fields and file parts.
//!
//! Parsing is multer's. The official clients' bodies are all within what it accepts: the Node
//! client's hand-built body (a CRLF before the first boundary, which multer skips as preamble,
//! and no CRLF after the closing boundary), boundaries containing `.`, parts without a
//! `Content-Type`. Directories are stripped from filenames, as PHP does. A body that breaks
//! off keeps whatever was complete before the break, and a file part cut short is marked
//! incomplete so that actions answer `UPLOAD_ERROR`, like PHP's `UPLOAD_ERR_PARTIAL`.
//!
//! A chunk is nearly all of its body. When the server spills uploads, a file part goes to a file
//! of its own as it arrives ([`PartWriter`]), so that receiving and writing overlap and the
//! chunk never sits in memory; otherwise it is gathered in one buffer.

use std::sync::Arc;

use bytes::BytesMut;

use super::params::UploadedFile;
use crate::engine::body::Body;
use crate::upload::{PartWriter, Piece, SpillDir};

/// The parts of one multipart body, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Parts without a `filename` attribute: name → text (invalid UTF-8 replaced).
    pub fields: Vec<(String, String)>,
    /// Parts with a `filename` attribute: name → file.
    pub files: Vec<(String, UploadedFile)>,
}

/// The boundary of a `multipart/form-data` content type, if it names one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    multer::parse_boundary(content_type).ok()
}

/// Where the bytes of file parts go.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FileParts<'a> {
    /// Gathered in memory.
    Memory,
    /// Written to files in this directory as they arrive.
    Spill(&'a Arc<SpillDir>),
    /// Read and dropped, for a caller that needs only the plain fields (a scripted error's
    /// format): a large chunk is never held.
    Skip,
}

impl<'a> FileParts<'a> {
    /// Kept: in `spill` when the server spills uploads, in memory otherwise.
    pub(crate) fn kept(spill: Option<&'a Arc<SpillDir>>) -> Self {
        spill.map_or(FileParts::Memory, FileParts::Spill)
    }
}

/// The most a file part's buffer is sized ahead from the body's announced length; a larger
/// part grows it as it arrives.
const PRESIZE_LIMIT: usize = 64 * 1024 * 1024;

/// Reads every part of `body`, whose length is `length` when announced, with file parts' bytes
/// going where `files` says. Never fails: a malformed body yields the parts read before the
/// fault.
pub(crate) async fn read(
    body: Body,
    boundary: String,
    length: Option<u64>,
    files: FileParts<'_>,
) -> Parsed {
    let mut parsed = Parsed::default();
    // PHP's own limits (post_max_size, upload_max_filesize) are the server's configuration,
    // which vidmock does not mimic.
    let mut parts = multer::Multipart::new(body.into_data_stream(), boundary);
    loop {
        let mut field = match parts.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) | Err(_) => break,
        };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        if file_name.is_some() && matches!(files, FileParts::Skip) {
            let complete = loop {
                match field.chunk().await {
                    Ok(Some(_)) => {}
                    Ok(None) => break true,
                    Err(_) => break false,
                }
            };
            if !complete {
                break;
            }
            continue;
        }
        if let (Some(file_name), FileParts::Spill(dir)) = (&file_name, files) {
            let mut sink = PartWriter::new(Some(dir));
            let complete = loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => sink.push(&chunk).await,
                    Ok(None) => break true,
                    Err(_) => break false,
                }
            };
            let mut file = UploadedFile::new(file_name, sink.finish().await);
            file.content_type = content_type;
            file.complete = complete;
            parsed.files.push((name, file));
            if !complete {
                break;
            }
            continue;
        }
        // A file part is most of its body: sized once from the body's length, its buffer is
        // not copied again at every doubling as the part arrives.
        let mut data = match (&file_name, length) {
            (Some(_), Some(length)) => BytesMut::with_capacity(
                usize::try_from(length).map_or(PRESIZE_LIMIT, |l| l.min(PRESIZE_LIMIT)),
            ),
            _ => BytesMut::new(),
        };
        let mut complete = true;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        match file_name {
            Some(file_name) => {
                // A part much smaller than its body (several files in one body) gives back
                // the room it was sized with rather than keep it for as long as the file.
                let data = if data.capacity() > 2 * data.len() + 64 * 1024 {
                    bytes::Bytes::copy_from_slice(&data)
                } else {
                    data.freeze()
                };
                let mut file = UploadedFile::new(&file_name, Piece::memory(vec![data]));
                file.content_type = content_type;
                file.complete = complete;
                parsed.files.push((name, file));
            }
            None if complete => parsed
                .fields
                .push((name, String::from_utf8_lossy(&data).into_owned())),
            None => {}
        }
        if !complete {
            break;
        }
    }
    parsed
}

/// Reads `body` with its file parts in memory and spilled, and checks that both read the same:
/// the same fields, and the same files (the bytes of complete ones: an incomplete part is never
/// used, and how much of it was kept differs). Returns what was read in memory.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) async fn read_both_ways(body: bytes::Bytes, boundary: &str) -> Parsed {
    let dir = SpillDir::new();
    let read = |files| {
        read(
            Body::from(body.clone()),
            boundary.to_owned(),
            Some(body.len() as u64),
            files,
        )
    };
    let (in_memory, spilled) = (
        read(FileParts::Memory).await,
        read(FileParts::Spill(&dir)).await,
    );
    let skipped = read(FileParts::Skip).await;
    assert_eq!(
        in_memory.fields, skipped.fields,
        "fields read alike, files skipped"
    );
    assert!(skipped.files.is_empty(), "skipped files are not kept");
    let files = |parsed: &Parsed| {
        let files = parsed.files.iter();
        files
            .map(|(name, f)| {
                let bytes = f.complete.then(|| f.content.bytes());
                (name.clone(), f.filename.clone(), f.complete, bytes)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(in_memory.fields, spilled.fields, "fields read alike");
    assert_eq!(files(&in_memory), files(&spilled), "files read alike");
    in_memory
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(body: &'static [u8], boundary: &str) -> Parsed {
        read_both_ways(bytes::Bytes::from_static(body), boundary).await
    }

    #[tokio::test]
    async fn the_node_clients_body_is_read_whole() {
        let body = b"\r\n-----------------------------0.5\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{\"a\":1}\r\n-----------------------------0.5\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"chunk\"\r\nContent-Type: application/octet-stream\r\n\r\nxyz\r\n-----------------------------0.5--";
        let parsed = parse(body, "---------------------------0.5").await;
        assert_eq!(parsed.fields, vec![("json".into(), "{\"a\":1}".into())]);
        assert_eq!(parsed.files[0].1.content.bytes(), b"xyz");
        assert!(parsed.files[0].1.is_upload());
    }

    #[tokio::test]
    async fn a_truncated_file_part_is_marked_incomplete() {
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"a\"\r\n\r\nxyz";
        let parsed = parse(body, "b").await;
        assert_eq!(parsed.files.len(), 1);
        assert!(!parsed.files[0].1.is_upload());
    }

    #[tokio::test]
    async fn an_empty_filename_is_not_an_upload() {
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"\"\r\n\r\n\r\n--b--\r\n";
        let parsed = parse(body, "b").await;
        assert!(!parsed.files[0].1.is_upload());
    }

    #[tokio::test]
    async fn skipped_file_parts_are_read_through_to_the_fields_after_them() {
        let chunk = vec![b'x'; 4 * 1024 * 1024];
        let mut body =
            b"--b\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"c\"\r\n\r\n"
                .to_vec();
        body.extend_from_slice(&chunk);
        body.extend_from_slice(
            b"\r\n--b\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\n1\r\n--b--\r\n",
        );
        let length = body.len() as u64;

        let parsed = read(Body::from(body), "b".into(), Some(length), FileParts::Skip).await;

        assert_eq!(parsed.fields, vec![("format".into(), "1".into())]);
        assert!(parsed.files.is_empty());
    }
}
