//! An api.video delegated upload, tested the way a user's test would: create an upload token,
//! send a 12 MiB file in 5 MiB chunks (`Content-Range: part n/N`, the video id from the first
//! answer on the later ones) with a plain HTTP client, then assert on the video vidmock
//! assembled and on the requests it received.
//!
//! ```sh
//! cargo run --example apivideo_upload
//! ```

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vidmock::{apivideo, MockServer};

/// api.video's smallest part: every part but the last must be at least this long.
const CHUNK: usize = 5 * 1024 * 1024;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    // Arrange: a server, an upload token made over HTTP with the project's API key, a file.
    let server = MockServer::start().await;
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{}/upload-tokens", server.uri()))
        .basic_auth(server.apivideo().api_key(), Some(""))
        .json(&json!({ "ttl": 3600 }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["token"].as_str().ok_or("no token in the answer")?;
    let file: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    // Act: the delegated upload, part by part, as the official clients send it.
    let parts: Vec<&[u8]> = file.chunks(CHUNK).collect();
    let mut video_id: Option<String> = None;
    let mut last = Value::Null;
    for (i, part) in parts.iter().enumerate() {
        let mut form = Form::new();
        if let Some(id) = &video_id {
            form = form.text("videoId", id.clone());
        }
        form = form.part("file", Part::bytes(part.to_vec()).file_name("clip.mp4"));
        last = client
            .post(format!("{}/upload?token={token}", server.uri()))
            .header("Content-Range", format!("part {}/{}", i + 1, parts.len()))
            .multipart(form)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        video_id = last["videoId"].as_str().map(str::to_owned);
    }

    // Assert: one complete video, titled after the file, holding exactly the bytes sent.
    let video_id = video_id.ok_or("no videoId in the answers")?;
    let video = server
        .apivideo()
        .video(&video_id)
        .ok_or("the video is missing")?;
    let expected = format!("{:x}", Sha256::digest(&file));
    assert!(video.complete);
    assert_eq!(last["title"], "clip.mp4");
    assert_eq!(video.sha256(), Some(expected.as_str()));
    assert_eq!(video.content().as_deref(), Some(file.as_slice()));
    assert_eq!(video.upload_token.as_deref(), Some(token));
    assert_eq!(video.chunks.len(), 3);
    assert_eq!(
        server.received(apivideo::op("uploadWithUploadToken")).len(),
        3
    );
    println!(
        "api.video: video {video_id} received {} bytes in {} parts, sha256 {expected}",
        file.len(),
        parts.len()
    );
    Ok(())
}
