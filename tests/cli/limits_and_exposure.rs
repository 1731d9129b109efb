//! Limits and exposure: oversized bodies get the vendor's own error (never a reset or a hang),
//! the binary listens on loopback unless told otherwise and guards its admin API off loopback,
//! and nothing a request carries ever becomes a filesystem path.

use std::path::Path;
use std::process::Command;

use crate::binary::{temp_dir, Running};
use serde_json::Value;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn upload_form(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    )
}

#[tokio::test]
async fn an_upload_over_the_file_limit_gets_uploaded_file_too_large_not_a_reset() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_max_file_size(64 * 1024)
        .start()
        .await;
    let token = server.apivideo().create_token(None).token;
    let http = reqwest::Client::new();

    // Act
    let mut answers = Vec::new();
    for range in [None, Some("part 1/1"), Some("bytes 0-8388607/8388608")] {
        let mut request = http
            .post(format!("{}/upload?token={token}", server.uri()))
            .multipart(upload_form("big.mp4", vec![1u8; 8 * 1024 * 1024]));
        if let Some(range) = range {
            request = request.header("content-range", range);
        }
        let answer = request.send().await.expect("an answer, not a reset");
        let status = answer.status().as_u16();
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = answer.json().await.unwrap();
        answers.push((status, content_type, body["type"].clone()));
    }

    // Assert
    for (status, content_type, slug) in answers {
        assert_eq!(status, 400);
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(
            slug,
            "https://docs.api.video/reference/uploaded-file-too-large"
        );
    }
    assert!(server.apivideo().videos().is_empty());
}

#[tokio::test]
async fn a_json_payload_over_one_mebibyte_gets_invalid_payload_not_a_reset() {
    // Arrange
    let server = MockServer::start().await;
    let body = format!("{{\"title\":\"{}\"}}", "a".repeat(8 * 1024 * 1024));

    // Act
    let answer = reqwest::Client::new()
        .post(format!("{}/videos", server.uri()))
        .basic_auth(KEY, Some(""))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer, not a reset");

    // Assert
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/invalid-payload"
    );
}

#[tokio::test]
async fn a_kaltura_form_over_the_post_limit_is_ignored_as_php_ignores_it() {
    // Arrange
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("a", SessionType::Admin);
    let mut body = format!("ks={ks}&pad=").into_bytes();
    body.resize(24 * 1024 * 1024, b'x');

    // Act
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/api_v3/service/uploadtoken/action/list?format=1",
            server.uri()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("an answer, not a reset");

    // Assert
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "MISSING_KS");
    assert_eq!(body["objectType"], "KalturaAPIException");
}

#[tokio::test]
async fn filenames_from_requests_never_become_paths_and_the_state_file_stays_where_given() {
    // Arrange
    let dir = temp_dir("limits-paths");
    let state = dir.join("state.json");
    let server = MockServer::builder()
        .retention(vidmock::Retention::Memory)
        .state_file(&state)
        .unwrap()
        .start()
        .await;
    let token = server.apivideo().create_token(None).token;
    let ks = server.kaltura().ks("a", SessionType::Admin);
    let http = reqwest::Client::new();
    let evil = [
        "../../evil-apivideo",
        "..\\..\\evil-win",
        "/tmp/evil-absolute",
    ];

    // Act
    let mut titles = Vec::new();
    for name in evil {
        let video: Value = http
            .post(format!("{}/upload?token={token}", server.uri()))
            .multipart(upload_form(name, b"content".to_vec()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        titles.push(video["title"].as_str().unwrap().to_owned());
    }
    let mut file_names = Vec::new();
    for name in evil {
        let form = reqwest::multipart::Form::new()
            .text("ks", ks.clone())
            .text("format", "1")
            .text("uploadToken:fileName", name.to_owned());
        let token: Value = http
            .post(format!(
                "{}/api_v3/service/uploadtoken/action/add",
                server.uri()
            ))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = token["id"].as_str().unwrap().to_owned();
        let form = reqwest::multipart::Form::new()
            .text("ks", ks.clone())
            .text("format", "1")
            .text("uploadTokenId", id)
            .part(
                "fileData",
                reqwest::multipart::Part::bytes(b"bytes".to_vec()).file_name(name.to_owned()),
            );
        let uploaded: Value = http
            .post(format!(
                "{}/api_v3/service/uploadtoken/action/upload",
                server.uri()
            ))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        file_names.push(uploaded["fileName"].as_str().unwrap().to_owned());
    }
    server.shutdown().await;

    // Assert
    assert_eq!(titles, ["evil-apivideo", "evil-win", "evil-absolute"]);
    assert_eq!(file_names, evil, "a fileName set on add is kept as text");
    let mut files = tree(&dir);
    files.retain(|f| !f.starts_with("state.json.d"));
    assert_eq!(files, ["state.json", "state.json.log"]);
    for blob in tree(&dir.join("state.json.d")) {
        assert!(
            blob.len() == 64 && blob.bytes().all(|b| b.is_ascii_hexdigit()),
            "kept bytes are named by their sha256 only: {blob}"
        );
    }
    for name in ["evil-apivideo", "evil-win", "evil-absolute"] {
        assert!(!dir.parent().unwrap().join(name).exists());
        assert!(!Path::new("/tmp").join(name).exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_state_file_that_cannot_be_replaced_refuses_the_change_and_leaves_no_temporary_file() {
    // Arrange
    let dir = temp_dir("limits-failed-save");
    let state = dir.join("state.json");
    let server = MockServer::builder()
        .state_file(&state)
        .unwrap()
        .start()
        .await;
    let http = reqwest::Client::new();
    let create = || {
        http.post(format!("{}/upload-tokens", server.uri()))
            .basic_auth(KEY, Some(""))
            .json(&serde_json::json!({}))
            .send()
    };
    assert_eq!(create().await.unwrap().status(), 200);
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir_all(state.join("occupied")).unwrap();

    // Act: a reset is saved as a whole new state file, which cannot replace a directory.
    let refused = http
        .post(format!("{}/__vidmock/reset", server.uri()))
        .send()
        .await
        .unwrap()
        .status();
    let still_refused = create().await.unwrap().status();
    std::fs::remove_dir_all(&state).unwrap();
    let saved = create().await.unwrap().status();

    // Assert
    assert_eq!(refused, 500, "an unsaved change is not acknowledged");
    assert_eq!(
        still_refused, 500,
        "nor is one after it, until the state is saved whole"
    );
    assert_eq!(saved, 200);
    assert_eq!(tree(&dir), ["state.json", "state.json.log"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the binary with `args`; its process and the lines it printed up to the credentials.
fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut running = Running::spawn(Command::new(env!("CARGO_BIN_EXE_vidmock")).args(args));
    let mut lines = Vec::new();
    while let Some(line) = running.line() {
        let done = line.starts_with("admin token:") || line.starts_with("kaltura partner:");
        lines.push(line);
        if done && lines.iter().any(|l| l.starts_with("admin token:")) {
            break;
        }
        if done && !args.contains(&"0.0.0.0") {
            break;
        }
    }
    (running, lines)
}

#[test]
fn the_binary_listens_on_loopback_and_has_no_admin_token_there_by_default() {
    // Arrange, Act
    let (_running, lines) = start(&["--port", "0"]);

    // Assert
    assert!(
        lines[0].starts_with("vidmock listening on http://127.0.0.1:"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("admin token:")));
}

#[tokio::test]
async fn off_loopback_the_binary_makes_up_an_admin_token_and_enforces_it() {
    // Arrange
    let (_running, lines) = start(&["--host", "0.0.0.0", "--port", "0"]);
    let port = lines[0].rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("an admin token is printed")
        .to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // Act
    let without = http
        .get(format!("{base}/__vidmock/requests"))
        .send()
        .await
        .unwrap()
        .status();
    let wrong = http
        .post(format!("{base}/__vidmock/reset"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap()
        .status();
    let with = http
        .get(format!("{base}/__vidmock/health"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    let vendor = http
        .get(format!("{base}/upload-tokens"))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap()
        .status();

    // Assert
    assert!(lines[0].starts_with("vidmock listening on http://0.0.0.0:"));
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(without, 401);
    assert_eq!(wrong, 401);
    assert_eq!(with, 200);
    assert_eq!(vendor, 200);
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_planted_where_the_state_is_written_are_replaced_never_followed() {
    // Arrange: a file to protect, and symlinks to it at the change log's name and at the
    // temporary names saving once used (`.NAME.tmp-PID-N`).
    let dir = temp_dir("limits-symlinks");
    let state = dir.join("state.json");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("state.json.log")).unwrap();
    for n in 0..64 {
        let name = format!(".state.json.tmp-{}-{n}", std::process::id());
        std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
    }
    let server = MockServer::builder()
        .state_file(&state)
        .unwrap()
        .start()
        .await;
    let http = reqwest::Client::new();

    // Act: changes appended to the log, and a reset saved as a whole new state file.
    for _ in 0..3 {
        let created = http
            .post(format!("{}/upload-tokens", server.uri()))
            .basic_auth(KEY, Some(""))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 200);
    }
    let reset = http
        .post(format!("{}/__vidmock/reset", server.uri()))
        .send()
        .await
        .unwrap();
    server.shutdown().await;

    // Assert
    assert_eq!(reset.status(), 204);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    let log = std::fs::symlink_metadata(dir.join("state.json.log")).unwrap();
    assert!(
        log.file_type().is_file(),
        "the log is a file of its own now"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
