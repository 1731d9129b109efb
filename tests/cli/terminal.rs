//! What the binary prints in its terminal: the start-up lines, then one line per request.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::binary::Running;

/// Starts the binary with `args`, stderr read line by line into a channel: the running binary,
/// its start-up lines (up to the dashboard's), and the channel.
fn start(args: &[&str]) -> (Running, Vec<String>, mpsc::Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
    command
        .args(["--port", "0"])
        .args(args)
        .env_remove("VIDMOCK_LOG")
        .env_remove("VIDMOCK_QUIET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut running = Running { child, stdout };
    let mut start_up = Vec::new();
    while let Some(line) = running.line() {
        let last = line.starts_with("dashboard: ");
        start_up.push(line);
        if last {
            break;
        }
    }
    (running, start_up, lines)
}

/// The stderr lines that arrive until `count` of them are in, or none arrives for `wait`.
fn lines_within(lines: &mpsc::Receiver<String>, count: usize, wait: Duration) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < count {
        match lines.recv_timeout(wait) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    got
}

#[tokio::test]
async fn the_terminal_shows_the_dashboard_then_one_line_per_request_with_its_vendor_error() {
    // Arrange
    let (_running, start_up, lines) = start(&[]);
    let base = start_up[0]
        .strip_prefix("vidmock listening on ")
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();

    // Act
    client
        .post(format!("{base}/upload-tokens"))
        .basic_auth("vidmock-api-key", Some(""))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    client
        .post(format!(
            "{base}/api_v3/service/uploadtoken/action/list?format=1&ks=secret-ks"
        ))
        .send()
        .await
        .unwrap();
    let printed = lines_within(&lines, 2, Duration::from_secs(10)).join("\n");

    // Assert
    assert_eq!(
        start_up.last().map(String::as_str),
        Some(format!("dashboard: {base}/__vidmock/").as_str())
    );
    assert!(
        printed.contains("POST /upload-tokens 200 createToken "),
        "{printed}"
    );
    assert!(
        printed.contains("POST /api_v3/service/uploadtoken/action/list 200 · INVALID_KS"),
        "{printed}"
    );
    assert!(
        !printed.contains("secret-ks"),
        "no query is printed: {printed}"
    );
}

#[tokio::test]
async fn quiet_prints_no_line_per_request() {
    // Arrange
    let (_running, start_up, lines) = start(&["--quiet"]);
    let base = start_up[0]
        .strip_prefix("vidmock listening on ")
        .unwrap()
        .to_owned();

    // Act
    reqwest::Client::new()
        .get(format!("{base}/upload-tokens"))
        .basic_auth("vidmock-api-key", Some(""))
        .send()
        .await
        .unwrap();
    let printed = lines_within(&lines, 1, Duration::from_secs(1));

    // Assert
    assert!(printed.is_empty(), "{printed:?}");
}
