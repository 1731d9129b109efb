//! Helpers for the Kaltura black-box tests: replaying requests captured from the official
//! clients byte for byte, and answers reduced to what snapshots should pin.

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

/// Sends `bytes` as they are over a new connection and reads one answer, whose body must be
/// UTF-8.
pub async fn replay(server: &vidmock::MockServer, bytes: &[u8]) -> Raw {
    let answer = crate::raw::exchange(server.address(), bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Raw {
        status: answer.status,
        headers: answer.headers,
        body: String::from_utf8(answer.body).unwrap(),
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

/// [`redact`], then the server's address as `[host]`, upload token ids (`0_` + 32 hex) as
/// `[token]`, entry ids (`0_` + 8 hex) as `[entry]` and the `createdAt`/`updatedAt` numbers (JSON and XML) as `[time]`.
pub fn redact_ids(text: &str) -> String {
    let text = redact(text);
    let hosts = regex::Regex::new(r"https?:(?:\\/\\/|//)127\.0\.0\.1:\d+").unwrap();
    let text = hosts.replace_all(&text, "[host]");
    let tokens = regex::Regex::new(r"\b0_[0-9a-f]{32}\b").unwrap();
    let entries = regex::Regex::new(r"\b0_[0-9a-f]{8}\b").unwrap();
    let json_times = regex::Regex::new(r#""(createdAt|updatedAt)":\d+"#).unwrap();
    let xml_times = regex::Regex::new(r"<(createdAt|updatedAt)>\d+</").unwrap();
    let text = tokens.replace_all(&text, "[token]");
    let text = entries.replace_all(&text, "[entry]");
    let text = json_times.replace_all(&text, "\"$1\":[time]");
    xml_times.replace_all(&text, "<$1>[time]</").into_owned()
}

/// Creates an upload token (JSON) with `ks` and returns its id.
pub async fn new_token(server: &vidmock::MockServer, ks: &str) -> String {
    let url = format!(
        "{}/api_v3/service/uploadtoken/action/add?format=1",
        server.uri()
    );
    let token: serde_json::Value = reqwest::Client::new()
        .post(url)
        .form(&[("ks", ks)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["id"].as_str().expect("a token id").to_owned()
}

/// The fixed token id the captured requests carry.
pub const FIXTURE_TOKEN: &str = "0_0123456789abcdef0123456789abcdef";

/// A client of one server with one KS: urlencoded calls and flat multipart uploads, in JSON
/// (`format=1`) or XML (`format=2`).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub ks: String,
    client: reqwest::Client,
}

/// One upload call's flags.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    pub resume: bool,
    pub final_chunk: bool,
    pub resume_at: i64,
}

impl Chunk {
    /// `resume=false, finalChunk=true, resumeAt=-1`: every client's single shot.
    pub const WHOLE: Chunk = Chunk {
        resume: false,
        final_chunk: true,
        resume_at: -1,
    };

    /// `resume=false, finalChunk=false, resumeAt=0`: opens a chunked upload.
    pub const FIRST: Chunk = Chunk {
        resume: false,
        final_chunk: false,
        resume_at: 0,
    };

    /// `resume=true, finalChunk=false` at `offset`.
    pub fn at(offset: i64) -> Chunk {
        Chunk {
            resume: true,
            final_chunk: false,
            resume_at: offset,
        }
    }

    /// `resume=true, finalChunk=true` at `offset`.
    pub fn last_at(offset: i64) -> Chunk {
        Chunk {
            resume: true,
            final_chunk: true,
            resume_at: offset,
        }
    }
}

impl Api {
    pub fn new(server: &vidmock::MockServer, ks: &str) -> Self {
        Self {
            base: server.uri(),
            ks: ks.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// An `Api` with the KS that `GET /api_v3/service/session/action/{query}` answers: a
    /// `session.start` string, or the `ks` of a widget session.
    pub async fn started(server: &vidmock::MockServer, query: &str) -> Self {
        let answer = call_json(server, &format!("service/session/action/{query}")).await;
        let ks = answer
            .as_str()
            .or_else(|| answer["ks"].as_str())
            .unwrap_or_else(|| panic!("no KS in {answer}"));
        Self::new(server, ks)
    }

    /// A urlencoded `service.action` call; the body as text.
    pub async fn text(
        &self,
        service: &str,
        action: &str,
        format: u8,
        fields: &[(&str, &str)],
    ) -> String {
        let mut form: Vec<(&str, &str)> = vec![("ks", &self.ks)];
        form.extend_from_slice(fields);
        self.client
            .post(format!(
                "{}/api_v3/service/{service}/action/{action}?format={format}",
                self.base
            ))
            .form(&form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A urlencoded `service.action` call in JSON.
    pub async fn json(
        &self,
        service: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> serde_json::Value {
        let text = self.text(service, action, 1, fields).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Creates a token with `fields` (e.g. `("uploadToken:fileSize", "10")`); its id.
    pub async fn add_token(&self, fields: &[(&str, &str)]) -> String {
        let token = self.json("uploadtoken", "add", fields).await;
        token["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{token}"))
            .to_owned()
    }

    /// `uploadToken.upload` with flat multipart fields (as browsers send them); the body as text.
    pub async fn upload_text(
        &self,
        format: u8,
        token: &str,
        data: &[u8],
        name: &str,
        chunk: Chunk,
    ) -> String {
        let form = reqwest::multipart::Form::new()
            .text("ks", self.ks.clone())
            .text("format", format.to_string())
            .text("uploadTokenId", token.to_owned())
            .text("resume", chunk.resume.to_string())
            .text("finalChunk", chunk.final_chunk.to_string())
            .text("resumeAt", chunk.resume_at.to_string())
            .part(
                "fileData",
                reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_owned()),
            );
        self.client
            .post(format!(
                "{}/api_v3/service/uploadtoken/action/upload",
                self.base
            ))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `uploadToken.upload` in JSON.
    pub async fn upload(&self, token: &str, data: &[u8], chunk: Chunk) -> serde_json::Value {
        let text = self.upload_text(1, token, data, "blob", chunk).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

/// Lower-case hex sha256 of `data`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// `len` bytes of a fixed pseudo-random pattern.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed as u32)
                .to_be_bytes()[1]
        })
        .collect()
}

/// `GET /api_v3/{query}`: the answer's text.
pub async fn call(server: &vidmock::MockServer, query: &str) -> String {
    reqwest::get(format!("{}/api_v3/{query}", server.uri()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `GET /api_v3/{query}`: the answer as JSON.
pub async fn call_json(server: &vidmock::MockServer, query: &str) -> serde_json::Value {
    let text = call(server, query).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// An ADMIN session's `Api` (user `editor`).
pub fn admin(server: &vidmock::MockServer) -> Api {
    Api::new(
        server,
        &server
            .kaltura()
            .ks("editor", vidmock::kaltura::SessionType::Admin),
    )
}

/// A USER session's `Api` for `name`.
pub fn user(server: &vidmock::MockServer, name: &str) -> Api {
    Api::new(
        server,
        &server
            .kaltura()
            .ks(name, vidmock::kaltura::SessionType::User),
    )
}

/// The exception code of a JSON answer, or "" when it is not an error.
pub fn code(answer: &serde_json::Value) -> &str {
    answer["code"].as_str().unwrap_or("")
}

/// A server whose entries import for 5 s and convert for 10 s.
pub async fn slow_server() -> vidmock::MockServer {
    vidmock::MockServer::builder()
        .kaltura_conversion_delays(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(10),
        )
        .start()
        .await
}

/// A video entry given `data` through a complete token; its id.
pub async fn entry_with(api: &Api, data: &[u8]) -> String {
    let entry = api
        .json(
            "media",
            "add",
            &[("entry:name", "clip"), ("entry:mediaType", "1")],
        )
        .await;
    let id = entry["id"].as_str().unwrap_or_else(|| panic!("{entry}"));
    let token = api.add_token(&[]).await;
    api.upload_text(1, &token, data, "clip.mp4", Chunk::WHOLE)
        .await;
    let added = api
        .json(
            "media",
            "addContent",
            &[("entryId", id), ("resource:token", &token)],
        )
        .await;
    assert_eq!(added["id"], id, "{added}");
    id.to_owned()
}
