//! api.video's error body: an RFC 7807 problem sent as `application/problem+json`.
//!
//! Every error vidmock's api.video side sends goes through [`Problem`], so the shape (type URL,
//! title, status, optional name/detail/problems) and the exact media type live in one place.

use std::borrow::Cow;

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::engine::body::{IntoResponse, Response};

/// The prefix of every `type` URL; the last path segment is the error's slug.
pub const TYPE_PREFIX: &str = "https://docs.api.video/reference/";

/// An api.video error response.
///
/// # Example
///
/// ```
/// use vidmock::apivideo::Problem;
/// let problem = Problem::new(400, "invalid-attribute", "An attribute is invalid.")
///     .name("ttl")
///     .detail("This value should be greater than or equal to 0.");
/// let body = problem.to_json();
/// assert_eq!(body["type"], "https://docs.api.video/reference/invalid-attribute");
/// assert_eq!(body["status"], 400);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Problem {
    /// Boxed: problems travel in `Result`s on every path and should stay one pointer wide.
    body: Box<ProblemBody>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    type_url: String,
    title: Cow<'static, str>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Vec<ProblemItem>>,
}

/// One entry of a problem's `problems` array.
///
/// # Example
///
/// ```
/// let item = vidmock::apivideo::ProblemItem::new("attribute-required", "This attribute is required.", "title");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProblemItem {
    #[serde(rename = "type")]
    type_url: String,
    title: String,
    name: String,
}

impl ProblemItem {
    /// An item with the given slug, title and attribute name.
    ///
    /// # Example
    ///
    /// ```
    /// let item = vidmock::apivideo::ProblemItem::new("invalid-attribute", "This attribute must be an array.", "tags");
    /// ```
    pub fn new(slug: &str, title: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            type_url: format!("{TYPE_PREFIX}{slug}"),
            title: title.into(),
            name: name.into(),
        }
    }
}

impl Problem {
    /// A problem with `status`, the slug that ends its `type` URL, and its title.
    ///
    /// # Example
    ///
    /// ```
    /// let p = vidmock::apivideo::Problem::new(404, "resource-not-found", "The requested resource could not be found.");
    /// assert_eq!(p.status(), 404);
    /// ```
    pub fn new(status: u16, slug: &str, title: impl Into<Cow<'static, str>>) -> Self {
        Self {
            body: Box::new(ProblemBody {
                type_url: format!("{TYPE_PREFIX}{slug}"),
                title: title.into(),
                status,
                detail: None,
                name: None,
                problems: None,
            }),
        }
    }

    /// Sets `name`, the attribute, query parameter or path parameter at fault.
    ///
    /// # Example
    ///
    /// ```
    /// let p = vidmock::apivideo::Problem::new(404, "resource-not-found", "x").name("uploadToken");
    /// assert_eq!(p.to_json()["name"], "uploadToken");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.body.name = Some(name.into());
        self
    }

    /// Sets `detail`, a more specific explanation.
    ///
    /// # Example
    ///
    /// ```
    /// let p = vidmock::apivideo::Problem::new(400, "invalid-attribute", "x").detail("why");
    /// assert_eq!(p.to_json()["detail"], "why");
    /// ```
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.body.detail = Some(detail.into());
        self
    }

    /// Sets the `problems` array.
    ///
    /// # Example
    ///
    /// ```
    /// use vidmock::apivideo::{Problem, ProblemItem};
    /// let p = Problem::new(400, "attribute-required", "This attribute is required.")
    ///     .problems([ProblemItem::new("attribute-required", "This attribute is required.", "title")]);
    /// assert_eq!(p.to_json()["problems"][0]["name"], "title");
    /// ```
    pub fn problems(mut self, problems: impl IntoIterator<Item = ProblemItem>) -> Self {
        self.body.problems = Some(problems.into_iter().collect());
        self
    }

    /// The HTTP status.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(vidmock::apivideo::Problem::new(429, "too-many-requests", "Too many requests.").status(), 429);
    /// ```
    pub fn status(&self) -> u16 {
        self.body.status
    }

    /// The body as JSON.
    ///
    /// # Example
    ///
    /// ```
    /// let body = vidmock::apivideo::Problem::new(429, "too-many-requests", "Too many requests.").to_json();
    /// assert_eq!(body["title"], "Too many requests.");
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    // The vendor's catalogue (../shared/specs/apivideo.md §8.3). Titles are the vendor's own.

    pub(crate) fn invalid_payload() -> Self {
        Self::new(400, "invalid-payload", "The payload is invalid.")
    }

    pub(crate) fn invalid_attribute(name: &str, detail: impl Into<String>) -> Self {
        Self::new(400, "invalid-attribute", "An attribute is invalid.")
            .detail(detail)
            .name(name)
    }

    pub(crate) fn attribute_required(name: &str) -> Self {
        Self::new(400, "attribute-required", "This attribute is required.")
            .name(name)
            .problems([ProblemItem::new(
                "attribute-required",
                "This attribute is required.",
                name,
            )])
    }

    pub(crate) fn invalid_query_parameter(name: &str, detail: impl Into<String>) -> Self {
        Self::new(
            400,
            "request-invalid-query-parameter",
            "A query parameter is invalid.",
        )
        .detail(detail)
        .name(name)
    }

    pub(crate) fn invalid_user_credentials() -> Self {
        Self::new(
            400,
            "authentication-invalid-user-credentials",
            "The user credentials were incorrect.",
        )
        .name("")
    }

    pub(crate) fn missing_authorization_header() -> Self {
        Self::new(
            401,
            "authentication-missing-authorization-header",
            "The \"Authorization\" header is missing.",
        )
    }

    pub(crate) fn invalid_authorization_header_value() -> Self {
        Self::new(
            401,
            "authentication-invalid-authorization-header-value",
            "The \"Authorization\" header value is invalid.",
        )
    }

    pub(crate) fn invalid_api_key() -> Self {
        Self::new(
            401,
            "authentication-invalid-api-key",
            "The API key is invalid.",
        )
    }

    pub(crate) fn invalid_access_token() -> Self {
        Self::new(
            401,
            "authentication-invalid-access-token",
            "The access token is invalid or expired.",
        )
    }

    pub(crate) fn resource_not_found(name: &str) -> Self {
        Self::new(
            404,
            "resource-not-found",
            "The requested resource could not be found.",
        )
        .name(name)
    }

    pub(crate) fn unrecognized_request_url() -> Self {
        Self::new(404, "unrecognized-request-url", "Unrecognized request URL.")
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "method-not-allowed",
            "Method is not allowed for this route.",
        )
    }

    /// A request line longer than the HTTP layer reads (64 KiB): refused before routing.
    pub(crate) fn uri_too_long() -> Self {
        Self::new(414, "request-uri-too-long", "The request URI is too long.")
    }

    pub(crate) fn headers_too_large() -> Self {
        Self::new(
            431,
            "request-header-fields-too-large",
            "The request header fields are too large.",
        )
    }

    pub(crate) fn too_many_requests() -> Self {
        Self::new(429, "too-many-requests", "Too many requests.")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.body.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let slug = self.body.type_url.rsplit('/').next().unwrap_or_default();
        response
            .extensions_mut()
            .insert(crate::engine::journal::ErrorCode(slug.to_owned()));
        response
    }
}

/// The admin API's JSON form of a problem fault (README, "Admin API": `apivideoProblem`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProblemAction {
    #[serde(rename = "type")]
    _type: String,
    status: u16,
    slug: String,
    title: String,
    name: Option<String>,
    detail: Option<String>,
    problems: Option<Vec<ProblemItemAction>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemItemAction {
    slug: String,
    title: String,
    name: String,
}

impl Problem {
    /// The problem an admin API fault's `action` (`"type": "apivideoProblem"`) describes.
    pub(crate) fn from_action(action: &serde_json::Value) -> Result<Problem, String> {
        let spec = ProblemAction::deserialize(action)
            .map_err(|e| format!("invalid fault: action: {e}"))?;
        let mut problem = Problem::new(spec.status, &spec.slug, spec.title);
        if let Some(name) = spec.name {
            problem = problem.name(name);
        }
        if let Some(detail) = spec.detail {
            problem = problem.detail(detail);
        }
        if let Some(items) = spec.problems {
            problem = problem.problems(
                items
                    .into_iter()
                    .map(|p| ProblemItem::new(&p.slug, p.title, p.name)),
            );
        }
        Ok(problem)
    }
}

impl crate::engine::faults::VendorError for Problem {
    fn describe(&self) -> String {
        format!("apivideo problem {}", self.status())
    }

    /// The admin API's form (`apivideoProblem`), which [`Problem::from_action`] reads back.
    fn to_json(&self) -> serde_json::Value {
        let slug = |url: &str| url.rsplit('/').next().unwrap_or(url).to_owned();
        let body = &self.body;
        let mut json = serde_json::json!({
            "type": "apivideoProblem",
            "status": body.status,
            "slug": slug(&body.type_url),
            "title": body.title,
        });
        if let Some(name) = &body.name {
            json["name"] = name.clone().into();
        }
        if let Some(detail) = &body.detail {
            json["detail"] = detail.clone().into();
        }
        if let Some(items) = &body.problems {
            json["problems"] = items
                .iter()
                .map(|item| {
                    serde_json::json!({
                        "slug": slug(&item.type_url),
                        "title": item.title,
                        "name": item.name,
                    })
                })
                .collect();
        }
        json
    }

    fn answer(
        &self,
        _request: crate::engine::body::Request,
    ) -> futures_util::future::BoxFuture<'static, Response> {
        let response = self.clone().into_response();
        Box::pin(async move { response })
    }
}
