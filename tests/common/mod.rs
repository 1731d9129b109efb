//! Helpers shared by the black-box tests: a client, and answers reduced to what matters.
#![allow(dead_code)]

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
