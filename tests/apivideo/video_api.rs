//! Helpers shared by the tests of the rest of the video API: captions, chapters, watermarks,
//! player themes, tags, list filters and discarded videos.

use crate::common::{basic, client, send, Answer};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use vidmock::MockServer;

pub const KEY: &str = "vidmock-api-key";

pub const VTT: &str = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:10.000\nHello\n";

/// A tiny valid PNG's first bytes (the mock checks extensions, not pixels).
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

pub async fn get(server: &MockServer, path: &str) -> Answer {
    send(basic(client().get(format!("{}{path}", server.uri())), KEY)).await
}

pub async fn delete(server: &MockServer, path: &str) -> Answer {
    send(basic(
        client().delete(format!("{}{path}", server.uri())),
        KEY,
    ))
    .await
}

pub async fn post_json(server: &MockServer, path: &str, body: Value) -> Answer {
    send(basic(client().post(format!("{}{path}", server.uri())), KEY).json(&body)).await
}

pub async fn patch_json(server: &MockServer, path: &str, body: Value) -> Answer {
    send(basic(client().patch(format!("{}{path}", server.uri())), KEY).json(&body)).await
}

/// A multipart POST with one `file` part named `filename`, and text fields.
pub async fn post_file(
    server: &MockServer,
    path: &str,
    filename: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> Answer {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(filename.to_owned()),
    );
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    send(basic(client().post(format!("{}{path}", server.uri())), KEY).multipart(form)).await
}

pub async fn video(server: &MockServer, body: Value) -> String {
    let answer = post_json(server, "/videos", body).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["videoId"].as_str().unwrap().to_owned()
}

/// The answer's wire form with ids, dates and the server's address replaced, for snapshots.
pub fn redacted(server: &MockServer, answer: &Answer) -> Value {
    let text = answer.wire().to_string().replace(&server.uri(), "[base]");
    let rules = [
        (r"vi[0-9A-Za-z]{22}", "[videoId]"),
        (r"pl[0-9A-Za-z]{22}", "[playerId]"),
        (r"watermark_[0-9A-Za-z]{22}", "[watermarkId]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "[date]"),
    ];
    let text = rules.iter().fold(text, |text, (pattern, with)| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *with)
            .into_owned()
    });
    serde_json::from_str(&text).unwrap()
}

pub fn values(list: &Value, field: &str) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}
