//! HTTPS trusted once: a local certificate authority kept in the data directory and reused at
//! every start, the developer's own certificate, and a clear answer to plain HTTP on the port.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use crate::binary::{temp_dir, Running};

/// The binary with `args`, its local authority kept in `data_dir`.
fn vidmock(args: &[&str], data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
    command
        .args(args)
        .env("VIDMOCK_DATA_DIR", data_dir)
        .env_remove("VIDMOCK_APIVIDEO_KEY")
        .env_remove("VIDMOCK_TLS_CERT")
        .env_remove("VIDMOCK_TLS_KEY");
    command
}

/// Starts the binary; its address and the lines up to the `dashboard:` line.
fn start(command: &mut Command) -> (Running, String, Vec<String>) {
    let mut running = Running::spawn(command);
    let mut lines = Vec::new();
    while let Some(line) = running.line() {
        let done = line.starts_with("dashboard: ");
        lines.push(line);
        if done {
            break;
        }
    }
    let base = lines[0]
        .strip_prefix("vidmock listening on ")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .to_owned();
    (running, base, lines)
}

/// The path printed on the `tls certificate:` line.
fn certificate_line(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|line| line.strip_prefix("tls certificate: "))
        .unwrap_or_else(|| panic!("no tls certificate line in {lines:?}"))
        .to_owned()
}

/// `GET url` with a client that trusts `root` (PEM) and no other authority: the status.
fn get_trusting_only(root: &str, url: &str) -> Result<u16, String> {
    let root = reqwest::Certificate::from_pem(root.as_bytes()).unwrap();
    let url = url.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(root)
                .build()
                .unwrap();
            client
                .get(url)
                .send()
                .await
                .map(|response| response.status().as_u16())
                .map_err(|error| format!("{error:?}"))
        })
    })
    .join()
    .unwrap()
}

#[test]
fn a_client_trusting_only_the_kept_authority_connects_across_two_starts() {
    let data = temp_dir("tls-kept-ca");

    let (first, base, lines) = start(&mut vidmock(&["--port", "0", "--tls"], &data));
    let path = certificate_line(&lines);
    let authority = std::fs::read_to_string(&path).unwrap();
    let first_status = get_trusting_only(&authority, &format!("{base}/__vidmock/health"));
    drop(first);
    let (_second, base, lines) = start(&mut vidmock(&["--port", "0", "--tls"], &data));
    let second_status = get_trusting_only(&authority, &format!("{base}/__vidmock/health"));

    assert_eq!(Path::new(&path), data.join("ca.pem"));
    assert_eq!(
        std::fs::read_to_string(certificate_line(&lines)).unwrap(),
        authority
    );
    assert_eq!(first_status, Ok(200));
    assert_eq!(second_status, Ok(200));
    assert!(
        lines.iter().any(|line| line.contains("macOS:"))
            && lines
                .iter()
                .any(|line| line.contains("update-ca-certificates"))
            && lines
                .iter()
                .any(|line| line.contains("certutil -user -addstore Root")),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_developers_own_certificate_and_key_are_served() {
    // Arrange: an authority and a certificate it signs, as mkcert makes them.
    let dir = temp_dir("tls-own-cert");
    let authority_key = rcgen::KeyPair::generate().unwrap();
    let mut authority = rcgen::CertificateParams::default();
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mkcert development CA");
    let authority_cert = authority.self_signed(&authority_key).unwrap();
    let issuer = rcgen::Issuer::new(authority, authority_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));

    let (_running, base, lines) = start(&mut vidmock(
        &[
            "--port",
            "0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &dir.join("unused"),
    ));
    let status = get_trusting_only(&authority_cert.pem(), &format!("{base}/__vidmock/health"));

    assert!(base.starts_with("https://"), "{base}");
    assert_eq!(status, Ok(200));
    assert_eq!(certificate_line(&lines), cert.display().to_string());
    assert!(!dir.join("unused").exists(), "no authority is made");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_certificate_without_its_key_is_refused_with_exit_code_2() {
    let dir = temp_dir("tls-cert-alone");

    let status = vidmock(&["--port", "0", "--tls-cert", "cert.pem"], &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();

    assert_eq!(status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_delivery_authority_that_is_not_a_certificate_is_refused_with_exit_code_2() {
    let dir = temp_dir("delivery-ca-junk");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), "not a certificate").unwrap();

    let output = vidmock(
        &[
            "--port",
            "0",
            "--delivery-ca",
            dir.join("ca.pem").to_str().unwrap(),
        ],
        &dir,
    )
    .output()
    .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("vidmock: --delivery-ca: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let data = temp_dir("tls-plain");
    let (_running, base, _lines) = start(&mut vidmock(&["--port", "0", "--tls"], &data));
    let address = base.strip_prefix("https://").unwrap().to_owned();

    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /__vidmock/health HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();

    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!(
            "This port speaks HTTPS, not plain HTTP: send the request to https://{address}/ instead of http://{address}/.\n"
        )),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&data);
}
