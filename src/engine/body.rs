//! The one body type every request and response of the engine carries, and the few ways an
//! answer is made from a status, text or bytes.
//!
//! A boxed body with a boxed error, like a web framework's, without the framework: the
//! connection hands each handler a request whose body is hyper's (read lazily), and a handler
//! answers with bytes it has, or with a stream.

use bytes::Bytes;
use futures_util::{Stream, TryStream, TryStreamExt};
use http::header::{self, HeaderValue};
use http::StatusCode;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Any error a body can end with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request as every handler sees it.
pub(crate) type Request = http::Request<Body>;
/// A response as every handler makes it.
pub(crate) type Response = http::Response<Body>;

/// A request or response body: bytes known in advance, or a stream read as it comes.
pub(crate) struct Body(UnsyncBoxBody<Bytes, BoxError>);

impl Body {
    /// Wraps any body of bytes.
    pub(crate) fn new<B>(body: B) -> Self
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(body.map_err(Into::into).boxed_unsync())
    }

    /// No bytes at all.
    pub(crate) fn empty() -> Self {
        Self::new(Empty::new())
    }

    /// A body read from a stream of chunks, of a length unknown in advance.
    pub(crate) fn from_stream<S>(stream: S) -> Self
    where
        S: TryStream + Send + 'static,
        S::Ok: Into<Bytes>,
        S::Error: Into<BoxError>,
    {
        Self::new(StreamBody::new(
            stream
                .map_ok(|chunk| Frame::data(chunk.into()))
                .map_err(Into::into),
        ))
    }

    /// The body's bytes as a stream of chunks (trailers are skipped).
    pub(crate) fn into_data_stream(self) -> impl Stream<Item = Result<Bytes, BoxError>> + Send {
        BodyExt::into_data_stream(self)
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::new(Full::new(bytes))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::from(Bytes::from_static(text.as_bytes()))
    }
}

/// What a handler may answer with. Text is `text/plain; charset=utf-8` and bytes
/// `application/octet-stream` unless the handler sets another type.
pub(crate) trait IntoResponse {
    /// The complete answer.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

/// Nothing but the status.
impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = Response::default();
        *response.status_mut() = self;
        response
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        typed(Body::from(self), "text/plain; charset=utf-8")
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        typed(Body::from(self), "text/plain; charset=utf-8")
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        typed(Body::from(self), "application/octet-stream")
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        typed(Body::from(self), "application/octet-stream")
    }
}

/// A body with another status than 200.
impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

fn typed(body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
