//! The `vidmock` binary's contract (DESIGN.md, "CLI"): other programs parse its first line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidmock"))
        .args(args)
        .env_remove("VIDMOCK_APIVIDEO_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    (Running(child), lines)
}

#[test]
fn the_first_line_is_the_listening_address_on_loopback() {
    let (_running, lines) = start(&["--port", "0"]);

    let address = lines[0]
        .strip_prefix("vidmock listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]));
    assert!(address.parse::<u16>().unwrap() > 0);
}

#[test]
fn the_credentials_in_force_follow_the_first_line() {
    let (_running, lines) = start(&["--port", "0", "--apivideo-key", "key-one"]);

    assert_eq!(lines[1], "apivideo api key: key-one");
}

#[test]
fn the_listening_server_answers_its_health_route() {
    let (_running, lines) = start(&["--port", "0"]);
    let base = lines[0].strip_prefix("vidmock listening on ").unwrap();

    let body = std::thread::spawn({
        let url = format!("{base}/__vidmock/health");
        move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
        }
    })
    .join()
    .unwrap();

    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
}

#[test]
fn sigterm_stops_the_binary_cleanly() {
    let (mut running, _lines) = start(&["--port", "0"]);

    let pid = running.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = running.0.wait().unwrap();

    assert!(status.success(), "{status:?}");
}
