//! The `Host` allow-list: a server answers only requests that name it by an address or by a
//! name its owner allowed.
//!
//! A page on any site can aim a browser at a server on the visitor's machine through DNS
//! rebinding: the page's own host name is made to resolve to 127.0.0.1, so the browser takes
//! the mock for the page's own origin and lets the page read every answer, the admin API's
//! journal (with its Authorization headers and KSs) included. What such a request cannot hide
//! is the name it used: `Host` carries the attacker's name. So every request, to the vendors'
//! routes as to the admin API, must name the server by one of:
//!
//! - `localhost`, or a name under `.localhost` (browsers resolve those to loopback themselves);
//! - an IP address, whichever (no name was resolved, so none can have been rebound; this is
//!   what lets a server listening on `0.0.0.0` be reached at any of the machine's addresses);
//! - a name its owner allowed (`--allowed-host`, [`crate::MockServerBuilder::allowed_host`]),
//!   exactly or, written with a leading dot, with its subdomains; `*` allows any name.
//!
//! The port is not compared: a rebinding page can use any port, and a forwarded port (a
//! container's) differs from the one the server listens on. A request without `Host` (HTTP/1.0)
//! is answered: browsers always send one. Vite and webpack-dev-server guard their dev servers
//! the same way.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::StatusCode;

use crate::engine::body::{Body, Request, Response};

/// The names a server answers to, besides addresses and `localhost`.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedHosts {
    /// Any name at all (`*`).
    any: bool,
    /// Names allowed exactly, lower case, without a trailing dot.
    names: Vec<String>,
    /// Domains allowed with their subdomains (written `.example.test`), lower case, without
    /// the leading dot.
    domains: Vec<String>,
}

impl AllowedHosts {
    /// The list from what its owner wrote (`myhost`, `.example.test`, `*`), or the first entry
    /// that is not a host name or address.
    pub(crate) fn new<'a>(written: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut hosts = Self::default();
        for entry in written {
            let trimmed = entry.trim();
            if trimmed == "*" {
                hosts.any = true;
                continue;
            }
            let (domain, name) = match trimmed.strip_prefix('.') {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            let Some(name) = normalize(name).filter(|name| !name.is_empty()) else {
                return Err(entry.to_owned());
            };
            if domain {
                hosts.domains.push(name);
            } else {
                hosts.names.push(name);
            }
        }
        Ok(hosts)
    }

    /// Whether `host` (as `normalize` made it) is one this server answers to.
    fn permits(&self, host: &str) -> bool {
        self.any
            || host == "localhost"
            || host.ends_with(".localhost")
            || host.parse::<IpAddr>().is_ok()
            || self.names.iter().any(|name| name == host)
            || self.domains.iter().any(|domain| {
                host == domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|sub| sub.ends_with('.'))
            })
    }

    /// `None` when `request` may be answered; otherwise the refusal to send instead. Both the
    /// `Host` header and the authority of the request target are checked, when present.
    pub(crate) fn refusal(&self, request: &Request) -> Option<Response> {
        if self.any {
            return None;
        }
        let headers = request.headers().get_all(header::HOST).iter();
        let target = request
            .uri()
            .authority()
            .map(|authority| authority.as_str().as_bytes());
        for given in headers.map(HeaderValue::as_bytes).chain(target) {
            let name = std::str::from_utf8(given).ok().and_then(|text| {
                http::uri::Authority::try_from(text)
                    .ok()
                    .and_then(|authority| normalize(authority.host()))
            });
            match name {
                Some(name) if self.permits(&name) => {}
                Some(name) => return Some(not_allowed(&String::from_utf8_lossy(given), &name)),
                None => {
                    return Some(refuse(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "vidmock: the Host {:?} is not a host name or address",
                            String::from_utf8_lossy(given)
                        ),
                    ))
                }
            }
        }
        None
    }
}

/// A host as compared: lower case, without the brackets of an IPv6 address, without a port
/// or a trailing dot; `None` when it is not a host.
fn normalize(host: &str) -> Option<String> {
    let authority = http::uri::Authority::try_from(host).ok()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

fn not_allowed(given: &str, name: &str) -> Response {
    refuse(
        StatusCode::FORBIDDEN,
        &format!(
            "vidmock: the Host {given:?} is not allowed: this server answers to localhost, IP \
             addresses and the names it is given, so that a page on another site cannot reach \
             it through DNS rebinding. To allow this name, start it with `--allowed-host {name}` \
             (VIDMOCK_ALLOWED_HOST, or `.allowed_host(\"{name}\")` on the builder); \
             `--allowed-host '*'` allows any."
        ),
    )
}

/// A refusal as the admin API words its errors: `{"error": "…"}`.
fn refuse(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>, uri: &str) -> Request {
        let mut builder = http::Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(Body::empty()).expect("a valid request")
    }

    fn allowed(hosts: &AllowedHosts, host: &str) -> bool {
        hosts.refusal(&request(Some(host), "/")).is_none()
    }

    #[test]
    fn loopback_names_and_any_address_are_allowed_and_other_names_are_not() {
        let hosts = AllowedHosts::default();

        for host in [
            "localhost",
            "LOCALHOST:8484",
            "localhost.",
            "app.localhost:3000",
            "127.0.0.1:8484",
            "[::1]:8484",
            "192.168.1.20",
            "[fe80::1]",
        ] {
            assert!(allowed(&hosts, host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:8484",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!allowed(&hosts, host), "{host}");
        }
    }

    #[test]
    fn names_given_are_allowed_exactly_or_with_their_subdomains() {
        let hosts = AllowedHosts::new(["MyHost", ".dev.test"]).expect("valid names");

        assert!(allowed(&hosts, "myhost:8484"));
        assert!(allowed(&hosts, "dev.test"));
        assert!(allowed(&hosts, "a.b.dev.test"));
        assert!(!allowed(&hosts, "evildev.test"));
        assert!(!allowed(&hosts, "myhost.evil"));
    }

    #[test]
    fn a_request_without_host_is_answered_and_an_absolute_target_is_checked_too() {
        let hosts = AllowedHosts::default();

        assert!(hosts.refusal(&request(None, "/")).is_none());
        assert!(hosts
            .refusal(&request(Some("localhost"), "http://attacker.example/"))
            .is_some());
    }

    #[test]
    fn a_star_allows_any_name_and_an_empty_entry_is_refused() {
        let any = AllowedHosts::new(["*"]).expect("valid");

        assert!(allowed(&any, "attacker.example"));
        assert_eq!(AllowedHosts::new([""]).unwrap_err(), "");
        assert_eq!(AllowedHosts::new(["a b"]).unwrap_err(), "a b");
    }
}
