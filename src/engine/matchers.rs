//! Request matchers for faults, expectations and journal queries, named as in wiremock-rs:
//! `method("POST")`, `path("/upload")`, `header("content-range", "part 1/*")`, …
//!
//! Every matcher implements [`Match`]; so do each vendor module's own matchers (an api.video
//! operation, a Kaltura service and action, …) and any closure
//! `Fn(&Request) -> bool + Send + Sync`. With the `wiremock` feature,
//! `matchers::wiremock(m)` makes any `wiremock::Match` one too.
//!
//! # Example
//!
//! ```
//! use vidmock::matchers::{method, path, query_param};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = vidmock::MockServer::start().await;
//! reqwest::get(format!("{}/upload-tokens?pageSize=5", server.uri())).await.unwrap();
//!
//! assert_eq!(server.received(method("GET")).len(), 1);
//! assert_eq!(server.received(path("/upload-tokens")).len(), 1);
//! assert_eq!(server.received(query_param("pageSize", "5")).len(), 1);
//! assert_eq!(server.received(|r: &vidmock::Request| r.body.is_empty()).len(), 1);
//! # }
//! ```

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// A request as matchers see it: the head, and the body when it is small enough to hold (a
/// large upload's body is empty here while it streams; the journal keeps a prefix).
///
/// # Example
///
/// ```
/// use vidmock::{Match, Request};
///
/// let request = Request {
///     method: http::Method::GET,
///     url: "http://127.0.0.1:8484/upload-tokens?pageSize=5".parse().unwrap(),
///     headers: http::HeaderMap::new(),
///     body: bytes::Bytes::new(),
/// };
/// assert!(vidmock::matchers::path("/upload-tokens").matches(&request));
/// assert_eq!(request.query_pairs().next().unwrap().1, "5");
/// ```
#[derive(Clone, Debug)]
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// The absolute URL as the client addressed the server (`http://HOST:PORT/path?query`),
    /// path and query as sent.
    pub url: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body, or the part of it the server held.
    pub body: Bytes,
}

impl Request {
    /// The query's `name=value` pairs, form-decoded (`+` is a space), in order.
    ///
    /// # Example
    ///
    /// ```
    /// let request = vidmock::Request {
    ///     method: http::Method::GET,
    ///     url: "http://127.0.0.1/x?a=1&b=two+words".parse().unwrap(),
    ///     headers: http::HeaderMap::new(),
    ///     body: bytes::Bytes::new(),
    /// };
    /// let pairs: Vec<_> = request.query_pairs().collect();
    /// assert_eq!(pairs[1], ("b".into(), "two words".into()));
    /// ```
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.url.query().unwrap_or("").as_bytes())
    }

    /// The request as wiremock-rs sees one, for `wiremock::Match` implementations.
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::wiremock::Match;
    /// let request = vidmock::Request {
    ///     method: http::Method::GET,
    ///     url: "http://127.0.0.1/x".parse().unwrap(),
    ///     headers: http::HeaderMap::new(),
    ///     body: bytes::Bytes::new(),
    /// };
    /// assert!(vidmock::wiremock::matchers::path("/x").matches(&request.to_wiremock()));
    /// ```
    #[cfg(feature = "wiremock")]
    pub fn to_wiremock(&self) -> wiremock::Request {
        let url = url::Url::parse(&self.url.to_string())
            .or_else(|_| url::Url::parse("http://127.0.0.1/"))
            .expect("a valid literal URL");
        wiremock::Request {
            url,
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.to_vec(),
        }
    }
}

/// Decides whether a request is one a fault, an expectation or a journal query is about.
///
/// # Example
///
/// ```
/// use vidmock::{Match, Request};
///
/// /// Requests with a body longer than `0`.
/// struct HasBody;
///
/// impl Match for HasBody {
///     fn matches(&self, request: &Request) -> bool {
///         !request.body.is_empty()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// assert!(server.received(HasBody).is_empty());
/// # }
/// ```
pub trait Match: Send + Sync {
    /// Whether `request` is one this matcher selects.
    fn matches(&self, request: &Request) -> bool;
}

impl<F> Match for F
where
    F: Fn(&Request) -> bool + Send + Sync,
{
    fn matches(&self, request: &Request) -> bool {
        self(request)
    }
}

/// A boxed matcher is a matcher, so one chosen at run time goes wherever a matcher does.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::matchers::{method, path};
/// let chosen: Box<dyn vidmock::Match> = if true { Box::new(method("GET")) } else { Box::new(path("/")) };
/// let server = vidmock::MockServer::start().await;
/// assert!(server.received(chosen).is_empty());
/// # }
/// ```
impl Match for Box<dyn Match> {
    fn matches(&self, request: &Request) -> bool {
        (**self).matches(request)
    }
}

/// Matches every request.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.expect(vidmock::matchers::any()).times(0..=1);
/// # }
/// ```
pub fn any() -> AnyMatcher {
    AnyMatcher
}

/// See [`any`].
#[derive(Clone, Debug)]
pub struct AnyMatcher;

impl Match for AnyMatcher {
    fn matches(&self, _: &Request) -> bool {
        true
    }
}

/// Matches requests with this method (case-insensitive: `"post"` is `POST`).
///
/// # Panics
///
/// When `method` is not a valid method token.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// assert_eq!(server.received(vidmock::matchers::method("get")).len(), 1);
/// # }
/// ```
pub fn method(method: impl AsRef<str>) -> MethodMatcher {
    let upper = method.as_ref().to_ascii_uppercase();
    MethodMatcher(Method::from_bytes(upper.as_bytes()).expect("a valid HTTP method"))
}

/// See [`method`].
#[derive(Clone, Debug)]
pub struct MethodMatcher(Method);

impl Match for MethodMatcher {
    fn matches(&self, request: &Request) -> bool {
        request.method == self.0
    }
}

/// Matches requests whose path is exactly `path` (a leading `/` is added when missing; the
/// query is not part of it: see [`query_param`]).
///
/// # Panics
///
/// When `path` contains a `?`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.fault(vidmock::Fault::reset()).when(vidmock::matchers::path("/upload")).mount();
/// # }
/// ```
pub fn path(path: impl Into<String>) -> PathMatcher {
    let path = path.into();
    assert!(
        !path.contains('?'),
        "the path {path:?} contains a `?`: match the query with `query_param`"
    );
    if path.starts_with('/') {
        PathMatcher(path)
    } else {
        PathMatcher(format!("/{path}"))
    }
}

/// See [`path`].
#[derive(Clone, Debug)]
pub struct PathMatcher(String);

impl Match for PathMatcher {
    fn matches(&self, request: &Request) -> bool {
        request.url.path() == self.0
    }
}

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
/// Matches requests whose path the regular expression `pattern` finds a match in (anchor it
/// with `^…$` to match the whole path).
///
/// # Panics
///
/// When `pattern` is not a valid regular expression.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens/to123", server.uri())).await.unwrap();
/// let matcher = vidmock::matchers::path_regex(r"^/upload-tokens/to\w+$");
/// assert_eq!(server.received(matcher).len(), 1);
/// # }
/// ```
pub fn path_regex(pattern: impl AsRef<str>) -> PathRegexMatcher {
    PathRegexMatcher(regex::Regex::new(pattern.as_ref()).expect("a valid regular expression"))
}

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
/// See [`path_regex`].
#[derive(Clone, Debug)]
pub struct PathRegexMatcher(regex::Regex);

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
impl Match for PathRegexMatcher {
    fn matches(&self, request: &Request) -> bool {
        self.0.is_match(request.url.path())
    }
}

/// Matches requests whose header `name` has exactly the value `value`. As in wiremock-rs,
/// a header's comma-separated values, from all its lines, are compared in order: `header("accept",
/// "a, b")` does not match `accept: a, b`; [`headers`] with `["a", "b"]` does.
///
/// # Panics
///
/// When `name` is not a valid header name or `value` not a valid header value.
///
/// # Example
///
/// ```
/// use vidmock::matchers::{header, method};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// server.fault(vidmock::Fault::close()).when(method("POST")).and(header("content-range", "part 3/*")).mount();
/// # }
/// ```
pub fn header(name: impl AsRef<str>, value: impl AsRef<str>) -> HeaderMatcher {
    headers(name, [value])
}

/// Matches requests whose header `name` has exactly these comma-separated values, in order.
///
/// # Panics
///
/// When `name` is not a valid header name or a value not a valid header value.
///
/// # Example
///
/// ```
/// let request = vidmock::Request {
///     method: http::Method::GET,
///     url: "http://127.0.0.1/".parse().unwrap(),
///     headers: [(http::header::ACCEPT, "a, b".parse().unwrap())].into_iter().collect(),
///     body: bytes::Bytes::new(),
/// };
/// use vidmock::Match;
/// assert!(vidmock::matchers::headers("accept", ["a", "b"]).matches(&request));
/// ```
pub fn headers<V: AsRef<str>>(
    name: impl AsRef<str>,
    values: impl IntoIterator<Item = V>,
) -> HeaderMatcher {
    HeaderMatcher {
        name: header_name(name.as_ref()),
        values: values
            .into_iter()
            .map(|v| HeaderValue::from_str(v.as_ref()).expect("a valid header value"))
            .collect(),
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::try_from(name).expect("a valid header name")
}

/// See [`header`].
#[derive(Clone, Debug)]
pub struct HeaderMatcher {
    name: HeaderName,
    values: Vec<HeaderValue>,
}

impl Match for HeaderMatcher {
    fn matches(&self, request: &Request) -> bool {
        let mut expected = self.values.iter();
        let all_equal = request
            .headers
            .get_all(&self.name)
            .iter()
            .filter_map(|line| line.to_str().ok())
            .flat_map(|line| line.split(',').map(str::trim))
            .filter(|value| HeaderValue::from_str(value).is_ok())
            .all(|value| {
                expected
                    .next()
                    .is_some_and(|e| e.as_bytes() == value.as_bytes())
            });
        all_equal && expected.next().is_none()
    }
}

/// Matches requests that carry header `name`, with any value.
///
/// # Panics
///
/// When `name` is not a valid header name.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// assert!(server.received(vidmock::matchers::header_exists("authorization")).is_empty());
/// # }
/// ```
pub fn header_exists(name: impl AsRef<str>) -> HeaderExistsMatcher {
    HeaderExistsMatcher(header_name(name.as_ref()))
}

/// See [`header_exists`].
#[derive(Clone, Debug)]
pub struct HeaderExistsMatcher(HeaderName);

impl Match for HeaderExistsMatcher {
    fn matches(&self, request: &Request) -> bool {
        request.headers.contains_key(&self.0)
    }
}

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
/// Matches requests with header `name` whose every (text) line the regular expression
/// `pattern` finds a match in.
///
/// # Panics
///
/// When `name` is not a valid header name or `pattern` not a valid regular expression.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::header_regex("content-range", r"^part \d+/\*$");
/// # let _ = matcher;
/// ```
pub fn header_regex(name: impl AsRef<str>, pattern: impl AsRef<str>) -> HeaderRegexMatcher {
    HeaderRegexMatcher {
        name: header_name(name.as_ref()),
        pattern: regex::Regex::new(pattern.as_ref()).expect("a valid regular expression"),
    }
}

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
/// See [`header_regex`].
#[derive(Clone, Debug)]
pub struct HeaderRegexMatcher {
    name: HeaderName,
    pattern: regex::Regex,
}

#[cfg(feature = "regex")]
#[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
impl Match for HeaderRegexMatcher {
    fn matches(&self, request: &Request) -> bool {
        let mut lines = request
            .headers
            .get_all(&self.name)
            .iter()
            .filter_map(|line| line.to_str().ok())
            .peekable();
        lines.peek().is_some() && lines.all(|value| self.pattern.is_match(value))
    }
}

/// Matches requests whose query has the parameter `name` with the value `value` (both
/// form-decoded).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens?pageSize=5", server.uri())).await.unwrap();
/// let matcher = vidmock::matchers::query_param("pageSize", "5");
/// assert_eq!(server.received(matcher).len(), 1);
/// # }
/// ```
pub fn query_param(name: impl Into<String>, value: impl Into<String>) -> QueryParamMatcher {
    QueryParamMatcher {
        name: name.into(),
        value: value.into(),
    }
}

/// See [`query_param`].
#[derive(Clone, Debug)]
pub struct QueryParamMatcher {
    name: String,
    value: String,
}

impl Match for QueryParamMatcher {
    fn matches(&self, request: &Request) -> bool {
        request
            .query_pairs()
            .any(|(k, v)| k == self.name.as_str() && v == self.value.as_str())
    }
}

/// Matches requests whose query has no parameter `name`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// let matcher = vidmock::matchers::query_param_is_missing("pageSize");
/// assert_eq!(server.received(matcher).len(), 1);
/// # }
/// ```
pub fn query_param_is_missing(name: impl Into<String>) -> QueryParamIsMissingMatcher {
    QueryParamIsMissingMatcher(name.into())
}

/// See [`query_param_is_missing`].
#[derive(Clone, Debug)]
pub struct QueryParamIsMissingMatcher(String);

impl Match for QueryParamIsMissingMatcher {
    fn matches(&self, request: &Request) -> bool {
        !request.query_pairs().any(|(k, _)| k == self.0.as_str())
    }
}

/// Matches requests whose body is exactly `body`.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::body_string("{}");
/// # let _ = matcher;
/// ```
pub fn body_string(body: impl Into<String>) -> BodyMatcher {
    BodyMatcher(Bytes::from(body.into()))
}

/// Matches requests whose body is exactly `body`.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::body_bytes(vec![0_u8, 1, 2]);
/// # let _ = matcher;
/// ```
pub fn body_bytes(body: impl Into<Vec<u8>>) -> BodyMatcher {
    BodyMatcher(Bytes::from(body.into()))
}

/// See [`body_string`] and [`body_bytes`].
#[derive(Clone, Debug)]
pub struct BodyMatcher(Bytes);

impl Match for BodyMatcher {
    fn matches(&self, request: &Request) -> bool {
        request.body == self.0
    }
}

/// Matches requests whose body is UTF-8 text containing `text`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let matcher = vidmock::matchers::body_string_contains("\"ttl\"");
/// server.expect(matcher).times(0);
/// # }
/// ```
pub fn body_string_contains(text: impl Into<String>) -> BodyContainsMatcher {
    BodyContainsMatcher(text.into())
}

/// See [`body_string_contains`].
#[derive(Clone, Debug)]
pub struct BodyContainsMatcher(String);

impl Match for BodyContainsMatcher {
    fn matches(&self, request: &Request) -> bool {
        std::str::from_utf8(&request.body).is_ok_and(|body| body.contains(self.0.as_str()))
    }
}

/// Matches requests whose body is JSON equal to `json` (key order does not matter).
///
/// # Panics
///
/// When `json` does not serialize to JSON.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::body_json(serde_json::json!({ "ttl": 60 }));
/// # let _ = matcher;
/// ```
pub fn body_json(json: impl serde::Serialize) -> BodyJsonMatcher {
    BodyJsonMatcher(serde_json::to_value(json).expect("a value that serializes to JSON"))
}

/// See [`body_json`].
#[derive(Clone, Debug)]
pub struct BodyJsonMatcher(serde_json::Value);

impl Match for BodyJsonMatcher {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<serde_json::Value>(&request.body).is_ok_and(|body| body == self.0)
    }
}

/// Matches requests with `Authorization: Bearer <token>`.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::bearer_token("eyJ0");
/// # let _ = matcher;
/// ```
pub fn bearer_token(token: impl AsRef<str>) -> HeaderMatcher {
    header("authorization", format!("Bearer {}", token.as_ref()))
}

/// Matches requests with HTTP Basic credentials `username:password`.
///
/// # Example
///
/// ```
/// let matcher = vidmock::matchers::basic_auth("key", "");
/// # let _ = matcher;
/// ```
pub fn basic_auth(username: impl AsRef<str>, password: impl AsRef<str>) -> HeaderMatcher {
    use base64::Engine as _;
    let credentials = format!("{}:{}", username.as_ref(), password.as_ref());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    header("authorization", format!("Basic {encoded}"))
}

/// Makes a wiremock-rs matcher (`wiremock::Match`) one vidmock takes.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vidmock::matchers::wiremock;
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
/// let matcher = wiremock(vidmock::wiremock::matchers::path("/upload-tokens"));
/// assert_eq!(server.received(matcher).len(), 1);
/// # }
/// ```
#[cfg(feature = "wiremock")]
pub fn wiremock<M: wiremock::Match>(matcher: M) -> Wiremock<M> {
    Wiremock(matcher)
}

/// See [`wiremock()`].
#[cfg(feature = "wiremock")]
#[derive(Clone, Debug)]
pub struct Wiremock<M>(pub M);

#[cfg(feature = "wiremock")]
impl<M: wiremock::Match> Match for Wiremock<M> {
    fn matches(&self, request: &Request) -> bool {
        self.0.matches(&request.to_wiremock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, headers: &[(&str, &str)], body: &'static [u8]) -> Request {
        Request {
            method: Method::POST,
            url: url.parse().unwrap(),
            headers: headers
                .iter()
                .map(|(k, v)| (header_name(k), HeaderValue::from_str(v).unwrap()))
                .collect(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn a_header_matches_only_its_values_in_order() {
        let one = request("http://h/", &[("accept", "a")], b"");
        let two = request("http://h/", &[("accept", "a, b")], b"");
        assert!(header("accept", "a").matches(&one));
        assert!(!header("accept", "a").matches(&two));
        assert!(headers("accept", ["a", "b"]).matches(&two));
        assert!(!headers("accept", ["b", "a"]).matches(&two));
        assert!(!header("accept", "a").matches(&request("http://h/", &[], b"")));
    }

    #[test]
    fn query_parameters_are_form_decoded() {
        let r = request("http://h/x?a=two+words&b=%2F", &[], b"");
        assert!(query_param("a", "two words").matches(&r));
        assert!(query_param("b", "/").matches(&r));
        assert!(query_param_is_missing("c").matches(&r));
        assert!(!query_param_is_missing("a").matches(&r));
    }

    #[test]
    fn paths_match_without_the_query_and_get_a_leading_slash() {
        let r = request("http://h/upload-tokens?x=1", &[], b"");
        assert!(path("upload-tokens").matches(&r));
        #[cfg(feature = "regex")]
        assert!(path_regex("^/upload").matches(&r));
        assert!(!path("/upload").matches(&r));
    }

    #[test]
    fn methods_match_case_insensitively() {
        assert!(method("post").matches(&request("http://h/", &[], b"")));
        assert!(!method("GET").matches(&request("http://h/", &[], b"")));
    }

    #[test]
    fn bodies_match_as_text_bytes_or_json() {
        let r = request("http://h/", &[], br#"{"b": 2, "a": 1}"#);
        assert!(body_string_contains("\"a\"").matches(&r));
        assert!(body_json(serde_json::json!({"a": 1, "b": 2})).matches(&r));
        assert!(!body_string("{}").matches(&r));
        assert!(body_bytes(br#"{"b": 2, "a": 1}"#.to_vec()).matches(&r));
    }

    #[test]
    fn credentials_match_the_authorization_header() {
        let r = request("http://h/", &[("authorization", "Basic a2V5Og==")], b"");
        assert!(basic_auth("key", "").matches(&r));
        assert!(!bearer_token("key").matches(&r));
    }
}
