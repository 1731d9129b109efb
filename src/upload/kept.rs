//! Small files a client uploads beside its media (a video's thumbnail, a watermark, a player's
//! logo): served back, and saved with the state, but shown in the admin state only as a
//! reference (content type, size, sha256), never as their bytes.
//!
//! Their bytes are kept as uploads are: on disk with [`Retention::Spill`] (the binary's
//! default), so that many images do not sit in memory, and in memory otherwise. Unlike an
//! upload's, they are kept with [`Retention::DigestOnly`] too, in memory: each vendor caps their
//! size, and being served is what they are for. A state file keeps them beside it, under
//! `FILE.d/<sha256>` like kept uploads, whatever the retention.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{Assembly, ContentReader, Digest256, PartWriter, Piece, Retention, SpillDir};
use crate::engine::hex;

/// A small file kept whole, with its media type and digest.
#[derive(Clone, Debug)]
pub(crate) struct KeptFile {
    /// The media type it is served with (`image/png`).
    pub content_type: String,
    /// Its size and sha256, always known: it is hashed when kept.
    pub digest: Digest256,
    /// Its bytes; `None` when a document named the file but its bytes were not found (a seed,
    /// or a state file whose `FILE.d/` lost it).
    pub file: Option<Arc<Assembly>>,
}

/// What documents and the admin state hold of a [`KeptFile`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Reference {
    content_type: String,
    size: u64,
    sha256: String,
}

impl Serialize for KeptFile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Reference {
            content_type: self.content_type.clone(),
            size: self.digest.size,
            sha256: self.digest.sha256().to_owned(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for KeptFile {
    /// A reference: the bytes are found by [`KeptFile::restore`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let reference = Reference::deserialize(deserializer)?;
        Ok(KeptFile {
            content_type: reference.content_type,
            digest: Digest256::known(reference.size, reference.sha256),
            file: None,
        })
    }
}

impl PartialEq for KeptFile {
    /// The same content under the same media type.
    fn eq(&self, other: &Self) -> bool {
        self.content_type == other.content_type && self.digest == other.digest
    }
}

impl Eq for KeptFile {}

impl KeptFile {
    /// Keeps `bytes`, served as `content_type`: spilled into `spill` when the server spills
    /// uploads, in memory otherwise. Hashed off the threads that serve requests.
    pub(crate) async fn keep(
        bytes: Bytes,
        content_type: &str,
        retention: Retention,
        spill: Option<&Arc<SpillDir>>,
    ) -> KeptFile {
        let size = bytes.len() as u64;
        let hashing = bytes.clone();
        let digest = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
        let sha256 = match tokio::task::spawn_blocking(move || digest(&hashing)).await {
            Ok(sha256) => sha256,
            // Only a runtime shutting down cancels it.
            Err(_) => digest(&bytes),
        };
        let (piece, retention) = match (retention, spill) {
            (Retention::Spill, Some(spill)) => {
                let mut writer = PartWriter::new(Some(spill));
                writer.push(&bytes).await;
                (writer.finish().await, Retention::Spill)
            }
            _ => (Piece::memory(vec![bytes]), Retention::Memory),
        };
        KeptFile {
            content_type: content_type.to_owned(),
            digest: Digest256::known(size, sha256),
            file: Some(Assembly::whole(piece, retention)),
        }
    }

    /// Gives a file read from a document its bytes back: `blob` reads kept bytes by sha256 and
    /// size. Without them, the file stays a reference.
    pub(crate) fn restore(&mut self, blob: &dyn Fn(&str, u64) -> Option<Bytes>) {
        if self.file.is_none() {
            if let Some(bytes) = blob(self.digest.sha256(), self.digest.size) {
                let piece = Piece::memory(vec![bytes]);
                self.file = Some(Assembly::whole(piece, Retention::Memory));
            }
        }
    }

    /// Its bytes as a reader that can seek, to be served whole or by range.
    pub(crate) fn reader(&self) -> Option<ContentReader> {
        self.file.as_ref()?.reader()
    }

    /// Its bytes, read whole (a spilled file is read from disk).
    #[cfg(test)]
    pub(crate) fn content(&self) -> Option<Vec<u8>> {
        self.file.as_ref()?.content()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_file_is_shown_as_a_reference_and_comes_back_from_its_bytes() {
        let kept = KeptFile::keep(
            Bytes::from_static(b"\x89PNG\r\n\x1a\nrest"),
            "image/png",
            Retention::Memory,
            None,
        )
        .await;

        let shown = serde_json::to_value(&kept).unwrap();
        let mut back: KeptFile = serde_json::from_value(shown.clone()).unwrap();
        let saved = kept.content().unwrap();
        back.restore(&|sha256, size| {
            (sha256 == kept.digest.sha256() && size == 12).then(|| Bytes::from(saved.clone()))
        });

        assert_eq!(shown["contentType"], "image/png");
        assert_eq!(shown["size"], 12);
        assert_eq!(shown.as_object().unwrap().len(), 3, "no bytes: {shown}");
        assert_eq!(back, kept);
        assert_eq!(back.content().unwrap(), b"\x89PNG\r\n\x1a\nrest");
    }

    #[tokio::test]
    async fn a_spilling_server_keeps_a_file_on_disk() {
        let dir = SpillDir::new();

        let kept = KeptFile::keep(
            Bytes::from_static(b"abc"),
            "image/jpeg",
            Retention::Spill,
            Some(&dir),
        )
        .await;

        let file = kept.file.as_ref().unwrap();
        assert!(file
            .lock()
            .kept
            .iter()
            .all(|s| matches!(s, super::super::Segment::File { .. })));
        assert_eq!(kept.content().unwrap(), b"abc");
    }
}
