//! Raw HTTP/1.1 over a TCP socket, for requests no HTTP client library would send: broken
//! chunked encoding, bad multipart boundaries, invalid UTF-8, NUL bytes. Every exchange has a
//! deadline, so a server that hangs fails the row instead of the run.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

/// How long one exchange may take before it counts as a hung connection.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One answer read off the socket.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request: method, target (path and query, sent as given) and headers; `Host` and
/// `Connection: close` are added, and `Content-Length` unless a header sets the framing.
pub fn request(method: &str, target: &[u8], headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    let framed = headers.iter().any(|(name, _)| {
        name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
    });
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !framed {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A multipart body: each part is (field name, filename, bytes); `None` filename makes a plain
/// field. Ends with the closing boundary.
pub fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(filename) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Sends `bytes` over a new connection and reads one answer, within [`DEADLINE`]. The server
/// may answer before it has read everything (and then stop reading): a failed write is not an
/// error as long as an answer comes.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Result<Raw, String> {
    match tokio::time::timeout(DEADLINE, exchange_inner(addr, bytes)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

/// Panics at the first name given twice: a failure must name the one row it comes from.
pub fn assert_unique_names<'a>(names: impl IntoIterator<Item = &'a str>) {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        assert!(seen.insert(name), "duplicate row {name:?}");
    }
}

/// Sends the request of every row (`row` gives its name and bytes) over its own connection and
/// judges the answer with `check`. Returns one line per row that failed, a hung or dropped
/// connection included; each is printed too, since an assertion shows only their count.
pub async fn failed_rows<R>(
    addr: SocketAddr,
    rows: &[R],
    row: impl Fn(&R) -> (&str, &[u8]),
    check: impl Fn(&R, &Raw) -> Result<(), String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for each in rows {
        let (name, request) = row(each);
        let outcome = match exchange(addr, request).await {
            Ok(answer) => check(each, &answer),
            Err(error) => Err(error),
        };
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    for failure in &failures {
        eprintln!("FAILED {failure}");
    }
    failures
}

/// How many of the requests `server` recorded it answered with a 5xx.
pub fn server_errors(server: &vidmock::MockServer) -> usize {
    server
        .received_requests()
        .iter()
        .filter(|r| r.status.is_some_and(|s| s >= 500))
        .count()
}

async fn exchange_inner(addr: SocketAddr, bytes: &[u8]) -> Result<Raw, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let bytes = bytes.to_vec();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
        let _ = writer.flush().await;
        // Keep the write half open until the answer is read: a half-close would end the
        // request early.
        writer
    });
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = reader
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e} (after {} bytes)", buffer.len()))?;
        if n == 0 {
            return Err(format!(
                "connection closed before an answer (after {} bytes)",
                buffer.len()
            ));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut rest = buffer[head_end + 4..].to_vec();
    let body = if let Some(length) = find("content-length") {
        let length: usize = length.parse().map_err(|_| "bad content-length")?;
        while rest.len() < length {
            read_body(&mut reader, &mut chunk, &mut rest).await?;
        }
        rest.truncate(length);
        rest
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            if let Some(body) = dechunk(&rest) {
                break body;
            }
            read_body(&mut reader, &mut chunk, &mut rest).await?;
        }
    } else if status == 204 || status == 304 {
        Vec::new()
    } else {
        loop {
            let n = reader.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break rest;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    };
    drop(writing);
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// Reads more of a body whose end is known (by its length or its last chunk) onto `body`:
/// the connection closing first is an error.
async fn read_body(
    reader: &mut OwnedReadHalf,
    chunk: &mut [u8],
    body: &mut Vec<u8>,
) -> Result<(), String> {
    let n = reader
        .read(chunk)
        .await
        .map_err(|e| format!("read body: {e}"))?;
    if n == 0 {
        return Err("connection closed mid-body".into());
    }
    body.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// A complete chunked body decoded, or `None` while more bytes are needed.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
