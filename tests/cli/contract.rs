//! The `vidmock` binary's contract (DESIGN.md, "CLI"): other programs parse its first line.

use std::process::{Command, Stdio};

use crate::binary::Running;

fn vidmock(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
    command.args(args);
    command
}

fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut running = Running::spawn(vidmock(args).env_remove("VIDMOCK_APIVIDEO_KEY"));
    let lines = (0..2).map(|_| running.line().unwrap_or_default()).collect();
    (running, lines)
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

    let pid = running.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = running.child.wait().unwrap();

    assert!(status.success(), "{status:?}");
}

#[test]
fn kaltura_partners_from_the_command_line_are_printed_after_the_apivideo_keys() {
    let mut running = Running::spawn(
        vidmock(&["--port", "0", "--apivideo-key", "k"])
            .args(["--kaltura-partner", "7:admin-7:user-7"])
            .args(["--kaltura-partner", "8:admin-8"])
            .env_remove("VIDMOCK_APIVIDEO_KEY")
            .env_remove("VIDMOCK_KALTURA_PARTNER"),
    );

    let lines: Vec<String> = (0..4).map(|_| running.line().unwrap_or_default()).collect();

    assert!(lines[0].starts_with("vidmock listening on http://127.0.0.1:"));
    assert_eq!(lines[1], "apivideo api key: k");
    assert_eq!(
        lines[2],
        "kaltura partner: 7 admin secret: admin-7 user secret: user-7"
    );
    assert_eq!(lines[3], "kaltura partner: 8 admin secret: admin-8");
}

#[test]
fn the_kaltura_upload_url_from_the_command_line_is_what_upload_tokens_answer() {
    let (_running, lines) = start(&[
        "--port",
        "0",
        "--kaltura-upload-url",
        "uploads.example.test:8443/up",
        "--kaltura-import-delay",
        "2.5",
    ]);
    let base = lines[0].strip_prefix("vidmock listening on ").unwrap();

    let body = std::thread::spawn({
        let url = format!(
            "{base}/api_v3/service/session/action/start?format=1&secret=vidmock-admin-secret&partnerId=101&type=2"
        );
        let base = base.to_owned();
        move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async move {
                let ks: String = reqwest::get(url).await.unwrap().json().await.unwrap();
                let token = format!("{base}/api_v3/service/uploadtoken/action/add?format=1&ks={ks}");
                reqwest::get(token).await.unwrap().text().await.unwrap()
            })
        }
    })
    .join()
    .unwrap();

    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        token["uploadUrl"], "http://uploads.example.test:8443/up",
        "{body}"
    );
}

#[test]
fn a_negative_kaltura_delay_is_refused_with_exit_code_2() {
    let status = vidmock(&["--port", "0", "--kaltura-convert-delay=-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();

    assert_eq!(status.code(), Some(2));
}

#[test]
fn a_malformed_kaltura_partner_is_refused_with_exit_code_2() {
    let status = vidmock(&["--port", "0", "--kaltura-partner", "abc"])
        .env_remove("VIDMOCK_KALTURA_PARTNER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();

    assert_eq!(status.code(), Some(2));
}

#[test]
fn with_tls_the_first_line_says_https_and_the_certificate_path_follows() {
    let data = crate::binary::temp_dir("contract-tls");
    let mut running = Running::spawn(
        vidmock(&["--port", "0", "--tls"])
            .env_remove("VIDMOCK_APIVIDEO_KEY")
            .env("VIDMOCK_DATA_DIR", &data),
    );
    let mut lines = Vec::new();
    while let Some(line) = running.line() {
        let done = line.starts_with("tls certificate: ");
        lines.push(line);
        if done {
            break;
        }
    }

    assert!(
        lines[0].starts_with("vidmock listening on https://127.0.0.1:"),
        "{lines:?}"
    );
    let path = lines
        .last()
        .unwrap()
        .strip_prefix("tls certificate: ")
        .unwrap()
        .to_owned();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    drop(running);
    let _ = std::fs::remove_dir_all(&data);
}

/// Runs `examples/admin_api.py` with `args`; its output, failing the test when it fails.
fn python_example(args: &[&str], command: impl FnOnce(&mut Command) -> &mut Command) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/admin_api.py");
    let mut python = Command::new("python3");
    python
        .arg(script)
        .args(args)
        .env_remove("VIDMOCK_APIVIDEO_KEY")
        .env_remove("VIDMOCK_ADMIN_TOKEN");
    let output = command(&mut python)
        .output()
        .expect("python3 (3.11, as the compat tests use) runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_python_admin_api_example_passes_against_a_running_binary() {
    let (_running, lines) = start(&["--port", "0"]);
    let base = lines[0].strip_prefix("vidmock listening on ").unwrap();

    let stdout = python_example(&[base], |python| python);

    assert!(
        stdout.contains("ok: the journal shows 503 then 200"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("admin API example: all checks passed\n"),
        "{stdout}"
    );
}

#[test]
fn the_python_admin_api_example_starts_the_binary_itself() {
    let stdout = python_example(&[], |python| {
        python.env("VIDMOCK_BIN", env!("CARGO_BIN_EXE_vidmock"))
    });

    assert!(
        stdout.ends_with("admin API example: all checks passed\n"),
        "{stdout}"
    );
}
