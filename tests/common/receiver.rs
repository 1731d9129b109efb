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
    pub query: Option<String>,
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
        Self::serve(None).await
    }

    /// The same receiver over HTTPS, at `https://localhost:PORT/hooks`, with a certificate
    /// signed by a certificate authority made now; and that authority's certificate (PEM).
    #[cfg(feature = "tls")]
    pub async fn start_https() -> (Receiver, String) {
        let (chain, key, authority) = localhost_certificate();
        let acceptor = tls_acceptor(&chain, &key);
        (Self::serve(Some(acceptor)).await, authority)
    }

    #[cfg(feature = "tls")]
    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/hooks"),
            None => format!("http://127.0.0.1:{port}/hooks"),
        };
        Self::accept(listener, url, move |stream| {
            let tls = tls.clone();
            async move {
                match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => Some(Box::new(stream) as Box<dyn Stream>),
                        Err(_) => None,
                    },
                    None => Some(Box::new(stream) as Box<dyn Stream>),
                }
            }
        })
    }

    #[cfg(not(feature = "tls"))]
    async fn serve(_tls: Option<std::convert::Infallible>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        Self::accept(listener, url, |stream| async move {
            Some(Box::new(stream) as Box<dyn Stream>)
        })
    }

    fn accept<F, Fut>(listener: tokio::net::TcpListener, url: String, wrap: F) -> Receiver
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Option<Box<dyn Stream>>> + Send + 'static,
    {
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
                let stream = wrap(stream);
                tokio::spawn(async move {
                    let Some(stream) = stream.await else {
                        return;
                    };
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
                                    query: parts.uri.query().map(str::to_owned),
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

/// A connection the receiver serves: plain TCP or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A certificate for `localhost` (chain and key, PEM) and the authority that signed it (PEM).
#[cfg(feature = "tls")]
fn localhost_certificate() -> (String, String, String) {
    let authority_key = rcgen::KeyPair::generate().unwrap();
    let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(rcgen::DnType::CommonName, "receiver test authority");
    let authority_pem = authority.self_signed(&authority_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(authority, authority_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (leaf.pem(), key.serialize_pem(), authority_pem)
}

#[cfg(feature = "tls")]
fn tls_acceptor(chain: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}
