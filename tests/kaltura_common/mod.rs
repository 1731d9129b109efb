//! Helpers for the Kaltura black-box tests: replaying requests captured from the official
//! clients byte for byte, and answers reduced to what snapshots should pin.
#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP answer, read off the socket.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The bytes of `fixtures/kaltura/requests/NAME`, with each `(from, to)` replaced and the
/// `Content-Length` recomputed when a replacement changed the body.
pub fn fixture(name: &str, replacements: &[(&str, &str)]) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/kaltura/requests/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut head = head;
    for (from, to) in replacements {
        head = head.replace(from, to);
        body = replace(&body, from.as_bytes(), to.as_bytes());
    }
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_owned()
            }
        })
        .collect();
    let mut out = head.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    out
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if !from.is_empty() && haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Sends `bytes` as they are over a new connection and reads one answer.
pub async fn replay(server: &vidmock::MockServer, bytes: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> Raw {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before an answer");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Raw {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// Replaces every v2 KS (`djJ8…`) with `[ks]` and the XML execution time with `[time]`.
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("djJ8") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=')))
            .unwrap_or(tail.len());
        out.push_str("[ks]");
        rest = &tail[len..];
    }
    out.push_str(rest);
    match (out.find("<executionTime>"), out.find("</executionTime>")) {
        (Some(start), Some(end)) => {
            format!("{}<executionTime>[time]{}", &out[..start], &out[end..])
        }
        _ => out,
    }
}

/// The text between `<result>` and `</result>` of an XML answer.
pub fn xml_result(body: &str) -> &str {
    let start = body.find("<result>").expect("a result element") + "<result>".len();
    let end = body.rfind("</result>").expect("a closing result");
    &body[start..end]
}
