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
pub fn action(service: &str, action: &str) -> ActionMatcher {
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

impl wiremock::Match for ActionMatcher {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let path = super::collapse_slashes(request.url.path());
        if !super::owns(&path) {
            return false;
        }
        let (service, action) = names(request, &path);
        service.eq_ignore_ascii_case(&self.service)
            && (self.service == "multirequest" || action.eq_ignore_ascii_case(&self.action))
    }
}

/// `service` and `action` as the dispatcher would read them (path over query over body).
fn names(request: &wiremock::Request, path: &str) -> (String, String) {
    let mut service = None;
    let mut action = None;
    let mut take = |key: &str, value: &str| match key {
        "service" => service = Some(value.to_owned()),
        "action" => action = Some(value.to_owned()),
        _ => {}
    };
    // Lowest precedence first; later sources overwrite.
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&request.body) {
        for key in ["service", "action"] {
            if let Some(serde_json::Value::String(value)) = body.get(key) {
                take(key, value);
            }
        }
    } else {
        for (key, value) in url::form_urlencoded::parse(&request.body) {
            take(&key, &value);
        }
    }
    for (key, value) in request.url.query_pairs() {
        take(&key, &value);
    }
    for (key, value) in path_pairs(path) {
        take(&key, &value);
    }
    (service.unwrap_or_default(), action.unwrap_or_default())
}
