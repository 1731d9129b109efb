//! HTTP helpers shared by the black-box tests: a client, and answers reduced to what matters.

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

/// One HTTP answer as tests look at it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        Self {
            status,
            content_type,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Status, content type and body together, for snapshots.
    pub fn wire(&self) -> Value {
        serde_json::json!({
            "status": self.status,
            "contentType": self.content_type,
            "body": if self.text.is_empty() { Value::Null } else { self.json() },
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `Authorization: Basic base64(key:)`, as `curl -u key:` and the Node client send it.
pub fn basic(request: reqwest::RequestBuilder, key: &str) -> reqwest::RequestBuilder {
    request.basic_auth(key, Some(""))
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    Answer::from(request.send().await.unwrap()).await
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body from `stream`; its status line.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if body.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
    }
}

/// On one raw connection to `server`: sends the head of a 4 MiB multipart `POST path` and its
/// first 64 KiB, reads the answer, sends the rest of the body, then sends `GET next` and reads
/// that answer too. Both status lines; panics if the connection breaks on the way.
pub async fn answer_before_the_body_then_next(
    server: &vidmock::MockServer,
    path: &str,
    next: &str,
) -> (String, String) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let body = vec![b'x'; 4 * 1024 * 1024];
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\n\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..64 * 1024]).await.unwrap();
    let early = read_answer(&mut stream).await;
    stream.write_all(&body[64 * 1024..]).await.unwrap();
    let request = format!("GET {next} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    (early, read_answer(&mut stream).await)
}
