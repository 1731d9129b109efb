//! Matchers that select Kaltura requests by what they call, for faults, expectations and
//! journal queries.

use super::params::path_pairs;

/// Matches Kaltura calls of `service.action` (case-insensitive, as the dispatcher reads them),
/// wherever the request names them: the path, the query, or a JSON or form body.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/api_v3/service/session/action/start", server.uri())).await.unwrap();
/// assert_eq!(server.received(vidmock::kaltura::action("session", "start")).len(), 1);
/// assert_eq!(server.received(vidmock::kaltura::action("uploadToken", "upload")).len(), 0);
/// # }
/// ```
///
/// # Panics
///
/// When vidmock serves no such action: a misspelt name (`uploadtoken.uplaod`) would never
/// match, so it is refused at once, with the actions there are.
pub fn action(service: &str, action: &str) -> ActionMatcher {
    if let Err(message) = super::dispatch::known_action(service, action) {
        panic!("{message}");
    }
    ActionMatcher {
        service: service.to_ascii_lowercase(),
        action: action.to_ascii_lowercase(),
    }
}

/// See [`action`].
#[derive(Clone, Debug)]
pub struct ActionMatcher {
    service: String,
    action: String,
}

impl crate::Match for ActionMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        let path = super::collapse_slashes(request.url.path());
        if !super::owns(&path) {
            return false;
        }
        let (service, action) = names(request, &path);
        service.eq_ignore_ascii_case(&self.service)
            && (self.service == "multirequest" || action.eq_ignore_ascii_case(&self.action))
    }
}

/// The partner a request is for, as far as the matchers can read it: the one its KS claims (not
/// verified), else its `partnerId`; `None` when neither is readable (a KS in the body of a
/// multipart upload is not).
pub(super) fn partner_of(request: &crate::Request) -> Option<i64> {
    let path = super::collapse_slashes(request.url.path());
    param(request, &path, "ks")
        .and_then(|ks| super::ks::claimed_partner(&ks))
        .or_else(|| param(request, &path, "partnerId")?.trim().parse().ok())
}

/// `service` and `action` as the dispatcher would read them (path over query over body).
fn names(request: &crate::Request, path: &str) -> (String, String) {
    (
        param(request, path, "service").unwrap_or_default(),
        param(request, path, "action").unwrap_or_default(),
    )
}

/// A top-level parameter as the dispatcher would read it: path over query over body (JSON, a
/// multipart `json` part is not looked into, or a urlencoded form).
fn param(request: &crate::Request, path: &str, name: &str) -> Option<String> {
    if let Some((_, value)) = path_pairs(path).into_iter().rev().find(|(k, _)| k == name) {
        return Some(value);
    }
    if let Some((_, value)) = request.query_pairs().filter(|(k, _)| k == name).last() {
        return Some(value.into_owned());
    }
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&request.body) {
        return body.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    form_urlencoded::parse(&request.body)
        .filter(|(k, _)| k == name)
        .last()
        .map(|(_, v)| v.into_owned())
}

/// Matches Kaltura calls about one upload token (their `uploadTokenId` parameter).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// let url = format!("{}/api_v3/service/uploadtoken/action/get?uploadTokenId=0_abc", server.uri());
/// reqwest::get(url).await.unwrap();
/// assert_eq!(server.received(vidmock::kaltura::upload_token("0_abc")).len(), 1);
/// # }
/// ```
pub fn upload_token(id: &str) -> UploadTokenMatcher {
    UploadTokenMatcher(id.to_owned())
}

/// See [`upload_token`].
#[derive(Clone, Debug)]
pub struct UploadTokenMatcher(String);

impl crate::Match for UploadTokenMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        let path = super::collapse_slashes(request.url.path());
        super::owns(&path) && param(request, &path, "uploadTokenId").is_some_and(|id| id == self.0)
    }
}

/// Matches Kaltura calls made with a KS of user `user` (any partner of the server that
/// built it); made by [`crate::kaltura::Kaltura::ks_user`], which knows the secrets a v2 KS
/// needs to be read.
#[derive(Clone, Debug)]
pub struct KsUserMatcher {
    pub(super) user: String,
    pub(super) secrets: Vec<String>,
}

impl crate::Match for KsUserMatcher {
    fn matches(&self, request: &crate::Request) -> bool {
        let path = super::collapse_slashes(request.url.path());
        if !super::owns(&path) {
            return false;
        }
        param(request, &path, "ks")
            .and_then(|ks| super::ks::read(&ks, &self.secrets).ok())
            .is_some_and(|data| data.user_id == self.user)
    }
}

/// A recorded upload's `resumeAt` (query, a multipart field within the recorded body prefix,
/// or a JSON body), for failure messages.
pub(crate) fn chunk_of(request: &crate::RecordedRequest) -> Option<String> {
    let resume_at = form_urlencoded::parse(request.url.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "resumeAt")
        .map(|(_, v)| v.into_owned())
        .or_else(|| {
            let body = String::from_utf8_lossy(&request.body);
            let at = body.find("name=\"resumeAt\"")?;
            let value = body[at..].split("\r\n\r\n").nth(1)?.split("\r\n").next()?;
            Some(value.to_owned())
        })
        .or_else(|| {
            let json: serde_json::Value = serde_json::from_slice(&request.body).ok()?;
            json.get("resumeAt").map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })?;
    Some(format!("resumeAt={resume_at}"))
}
