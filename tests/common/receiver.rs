//! A subscriber for outbound deliveries: a real HTTP server on a loopback port that records
//! every request it gets and answers with the statuses a test scripts.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub struct Receiver {
    pub url: String,
    got: mpsc::UnboundedReceiver<Received>,
    /// Statuses to answer, in order; 202 once they run out.
    script: Arc<Mutex<VecDeque<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver answering 202 to everything, at `http://127.0.0.1:PORT/hooks`.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let (tx, got) = mpsc::unbounded_channel();
        let script: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let answers = script.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let answers = answers.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let tx = tx.clone();
                            let answers = answers.clone();
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let _ = tx.send(Received {
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_owned(),
                                    headers: parts.headers,
                                    body: body.to_vec(),
                                });
                                let status = answers.lock().unwrap().pop_front().unwrap_or(202);
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                            b"ok",
                                        )))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            got,
            script,
            task,
        }
    }

    /// Answers these statuses to the next requests, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    /// The next request, or a panic after a few seconds.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.got.recv())
            .await
            .expect("no delivery arrived within 5 seconds")
            .unwrap()
    }

    /// Whether nothing arrives within `wait` (real time).
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.got.recv()).await.is_err()
    }
}
