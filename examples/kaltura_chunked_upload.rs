//! A Kaltura chunked upload, tested the way a user's test would: `session.start` with the
//! partner's admin secret, `uploadToken.add`, the file sent in chunks with `resume`,
//! `resumeAt` and `finalChunk`, a chunk whose answer is lost (a scripted fault) recovered by
//! asking `uploadToken.get` how much arrived, then `media.add` and `media.addContent` to hand the file to an entry. Assertions
//! read vidmock's state and the requests it received.
//!
//! ```sh
//! cargo run --example kaltura_chunked_upload
//! ```

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sha2::{Digest, Sha256};
use vidmock::kaltura::{self, EntryStatus, UploadTokenStatus};
use vidmock::{Fault, MockServer};

const CHUNK: usize = 256 * 1024;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A tiny Kaltura API v3 client: urlencoded calls and multipart uploads, answers in JSON.
struct Client {
    http: reqwest::Client,
    base: String,
    ks: String,
}

impl Client {
    async fn call(&self, service: &str, action: &str, fields: &[(&str, &str)]) -> Result<Value> {
        let mut form = vec![("ks", self.ks.as_str()), ("format", "1")];
        form.extend_from_slice(fields);
        let answer: Value = self
            .http
            .post(format!(
                "{}/api_v3/service/{service}/action/{action}",
                self.base
            ))
            .form(&form)
            .send()
            .await?
            .json()
            .await?;
        // Kaltura answers its errors with 200 and a KalturaAPIException object.
        if answer["objectType"] == "KalturaAPIException" {
            return Err(format!("{service}.{action}: {answer}").into());
        }
        Ok(answer)
    }

    /// `uploadToken.upload` of `data` at `resume_at` (`resume` is false for the first chunk).
    async fn upload(
        &self,
        token: &str,
        data: &[u8],
        resume_at: usize,
        last: bool,
    ) -> Result<Value> {
        let form = Form::new()
            .text("ks", self.ks.clone())
            .text("format", "1")
            .text("uploadTokenId", token.to_owned())
            .text("resume", (resume_at > 0).to_string())
            .text("resumeAt", resume_at.to_string())
            .text("finalChunk", last.to_string())
            .part(
                "fileData",
                Part::bytes(data.to_vec()).file_name("lecture.mp4"),
            );
        let answer: Value = self
            .http
            .post(format!(
                "{}/api_v3/service/uploadtoken/action/upload?format=1",
                self.base
            ))
            .multipart(form)
            .send()
            .await?
            .json()
            .await?;
        if answer["objectType"] == "KalturaAPIException" {
            return Err(format!("uploadToken.upload: {answer}").into());
        }
        Ok(answer)
    }
}

/// `uploadedFileSize`, which Kaltura's JSON gives as a string.
fn uploaded_size(token: &Value) -> Result<usize> {
    let size = &token["uploadedFileSize"];
    let size = match size.as_str() {
        Some(text) => text.parse()?,
        None => size.as_u64().ok_or("no uploadedFileSize")? as usize,
    };
    Ok(size)
}

#[tokio::main]
async fn main() -> Result<()> {
    // Arrange: a server, an ADMIN session started over HTTP, a 1 MiB file, an upload token.
    let server = MockServer::start().await;
    let partner = server.kaltura().partner();
    let http = reqwest::Client::new();
    let ks: Value = http
        .post(format!(
            "{}/api_v3/service/session/action/start",
            server.uri()
        ))
        .form(&[
            ("format", "1"),
            ("partnerId", partner.id.to_string().as_str()),
            ("secret", partner.admin_secret.as_str()),
            ("type", "2"),
            ("userId", "teacher@example.com"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let client = Client {
        http,
        base: server.uri(),
        ks: ks.as_str().ok_or("session.start gave no KS")?.to_owned(),
    };
    let file: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let size = file.len().to_string();
    let token = client
        .call(
            "uploadToken",
            "add",
            &[
                ("uploadToken:objectType", "KalturaUploadToken"),
                ("uploadToken:fileName", "lecture.mp4"),
                ("uploadToken:fileSize", &size),
            ],
        )
        .await?;
    let id = token["id"].as_str().ok_or("no upload token id")?.to_owned();
    // The third chunk is stored, but its answer never reaches the client.
    server
        .fault(Fault::lose_response())
        .when(kaltura::action("uploadToken", "upload"))
        .on_nth(3)
        .mount();

    // Act: the first three chunks, the third one's answer lost, so the client asks how much
    // arrived and resumes from there with the rest as the final chunk.
    let chunks: Vec<&[u8]> = file.chunks(CHUNK).collect();
    client.upload(&id, chunks[0], 0, false).await?;
    client.upload(&id, chunks[1], CHUNK, false).await?;
    let lost = client.upload(&id, chunks[2], 2 * CHUNK, false).await;
    let progress = client
        .call("uploadToken", "get", &[("uploadTokenId", &id)])
        .await?;
    let resume_at = uploaded_size(&progress)?;
    let done = client
        .upload(&id, &file[resume_at..], resume_at, true)
        .await?;
    let entry = client
        .call(
            "media",
            "add",
            &[
                ("entry:objectType", "KalturaMediaEntry"),
                ("entry:name", "Lecture 1"),
                ("entry:mediaType", "1"),
            ],
        )
        .await?;
    let entry_id = entry["id"].as_str().ok_or("no entry id")?.to_owned();
    client
        .call(
            "media",
            "addContent",
            &[
                ("entryId", &entry_id),
                ("resource:objectType", "KalturaUploadedFileTokenResource"),
                ("resource:token", &id),
            ],
        )
        .await?;

    // Assert: the token saw every chunk, holds the file byte for byte and was consumed by the
    // entry, which is ready.
    let expected = format!("{:x}", Sha256::digest(&file));
    assert!(lost.is_err(), "the third answer was not lost: {lost:?}");
    assert_eq!(resume_at, 3 * CHUNK);
    assert_eq!(done["status"], UploadTokenStatus::FullUpload.code());
    let stored = server
        .kaltura()
        .upload_token(&id)
        .ok_or("the upload token is missing")?;
    assert_eq!(stored.status, UploadTokenStatus::Closed);
    assert_eq!(stored.file_name.as_deref(), Some("lecture.mp4"));
    assert_eq!(stored.sha256(), Some(expected.as_str()));
    assert_eq!(stored.content().as_deref(), Some(file.as_slice()));
    assert_eq!(stored.chunks.len(), 4);
    assert!(stored.chunks[3].final_chunk);
    let entry = server
        .kaltura()
        .entry(&entry_id)
        .ok_or("the entry is missing")?;
    assert_eq!(entry.status, EntryStatus::Ready);
    assert_eq!(entry.upload_token_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        server
            .received(kaltura::action("uploadToken", "upload"))
            .len(),
        4
    );
    println!(
        "kaltura: token {id} assembled {} bytes in 4 chunks (resumed at {resume_at}), entry {entry_id} ready",
        file.len()
    );
    Ok(())
}
