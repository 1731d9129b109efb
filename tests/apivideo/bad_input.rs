//! Malformed requests to the api.video side, over a real socket: each gets api.video's own
//! problem+json (status, `type` slug, `name`), never a panic, a 500 or a hung connection, and
//! the server answers normally afterwards.

use std::fmt::Write as _;
use std::time::Duration;

use crate::raw::{assert_unique_names, failed_rows, multipart, request, server_errors, Raw};
use base64::Engine;
use serde_json::Value;
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";
const BOUNDARY: &str = "vidmock-bad-input";

/// What one malformed request must get back.
#[derive(Clone, Debug)]
enum Expect {
    /// A problem+json answer with this status, slug and (when given) `name`.
    Problem {
        status: u16,
        slug: &'static str,
        name: Option<&'static str>,
    },
    /// 201 with a new video titled exactly so: what a client-supplied filename becomes.
    VideoTitled(String),
}

fn problem(status: u16, slug: &'static str) -> Expect {
    Expect::Problem {
        status,
        slug,
        name: None,
    }
}

fn named(status: u16, slug: &'static str, name: &'static str) -> Expect {
    Expect::Problem {
        status,
        slug,
        name: Some(name),
    }
}

struct Row {
    name: String,
    request: Vec<u8>,
    expect: Expect,
}

/// What the rows refer to: credentials and objects made before the table runs.
struct World {
    basic: String,
    expired_bearer: String,
    token: String,
    video: String,
    done_video: String,
}

fn basic_of(credentials: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

fn json_post(target: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    json_call("POST", target, auth, body)
}

fn json_call(method: &str, target: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", b"application/json")];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth.as_bytes()));
    }
    request(method, target.as_bytes(), &headers, body)
}

fn get(target: &[u8], auth: &str) -> Vec<u8> {
    request("GET", target, &[("Authorization", auth.as_bytes())], b"")
}

/// `POST /upload?token=…` with a multipart body and extra headers.
fn upload(token: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut all: Vec<(&str, &[u8])> = vec![("Content-Type", content_type.as_bytes())];
    all.extend_from_slice(headers);
    request(
        "POST",
        format!("/upload?token={token}").as_bytes(),
        &all,
        body,
    )
}

fn file_body(filename: &str, data: &[u8]) -> Vec<u8> {
    multipart(BOUNDARY, &[("file", Some(filename), data)])
}

/// JSON bodies no JSON parser accepts.
fn broken_json() -> Vec<(&'static str, Vec<u8>)> {
    let mut deep = "[".repeat(10_000);
    deep.push_str(&"]".repeat(10_000));
    vec![
        ("an open brace", b"{".to_vec()),
        ("a close brace", b"}".to_vec()),
        ("a missing value", br#"{"a":}"#.to_vec()),
        ("a missing colon", br#"{"a" "b"}"#.to_vec()),
        ("single quotes", br#"{'a':'b'}"#.to_vec()),
        ("a trailing comma", br#"{"a":"b",}"#.to_vec()),
        ("an unclosed array", b"[1,2".to_vec()),
        ("a truncated literal", b"nul".to_vec()),
        ("an unterminated string", br#"{"a":"b"#.to_vec()),
        ("two documents", br#"{"a":1}{"b":2}"#.to_vec()),
        ("invalid UTF-8", b"\xff\xfe\xfd".to_vec()),
        (
            "invalid UTF-8 inside a string",
            b"{\"a\":\"\xc3\x28\"}".to_vec(),
        ),
        ("a lone surrogate escape", br#"{"a":"\ud800"}"#.to_vec()),
        ("a NUL byte", b"{\"a\":\0}".to_vec()),
        ("a number beyond f64", br#"{"a":1e400}"#.to_vec()),
        ("ten thousand nested arrays", deep.into_bytes()),
        ("a bare word", b"hello".to_vec()),
        ("a form body", b"a=1&b=2".to_vec()),
    ]
}

fn rows(w: &World) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut add = |name: String, request: Vec<u8>, expect: Expect| {
        rows.push(Row {
            name,
            request,
            expect,
        })
    };

    // --- Authorization on protected routes -----------------------------------------------
    let protected: Vec<(&str, &str, String)> = vec![
        ("GET", "listTokens", "/upload-tokens".into()),
        ("POST", "createToken", "/upload-tokens".into()),
        ("GET", "getToken", format!("/upload-tokens/{}", w.token)),
        (
            "DELETE",
            "deleteToken",
            format!("/upload-tokens/{}", w.token),
        ),
        ("GET", "listVideos", "/videos".into()),
        ("GET", "getVideo", format!("/videos/{}", w.video)),
        (
            "GET",
            "getVideoStatus",
            format!("/videos/{}/status", w.video),
        ),
    ];
    let bad_auth: Vec<(&str, Option<Vec<u8>>, Expect)> = vec![
        (
            "no Authorization header",
            None,
            problem(401, "authentication-missing-authorization-header"),
        ),
        (
            "an empty Authorization header",
            Some(b"".to_vec()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "a scheme without credentials",
            Some(b"Basic".to_vec()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "Basic credentials that are not base64",
            Some(b"Basic !!!not-base64!!!".to_vec()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "Basic credentials without a colon",
            Some(basic_of(KEY.as_bytes()).into_bytes()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "Basic credentials that are not UTF-8",
            Some(basic_of(b"\xff\xfe:").into_bytes()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "an unknown API key",
            Some(basic_of(b"no-such-key:").into_bytes()),
            problem(401, "authentication-invalid-api-key"),
        ),
        (
            "an API key with a path traversal",
            Some(basic_of(b"../../etc/passwd:").into_bytes()),
            problem(401, "authentication-invalid-api-key"),
        ),
        (
            "an unknown scheme",
            Some(b"Digest username=\"a\"".to_vec()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
        (
            "an unknown bearer token",
            Some(b"Bearer not-a-token".to_vec()),
            problem(401, "authentication-invalid-access-token"),
        ),
        (
            "an expired bearer token",
            Some(format!("Bearer {}", w.expired_bearer).into_bytes()),
            problem(401, "authentication-invalid-access-token"),
        ),
        (
            "a header value with bytes beyond ASCII",
            Some(b"Bearer \xe9\xe8".to_vec()),
            problem(401, "authentication-invalid-authorization-header-value"),
        ),
    ];
    for (method, operation, path) in &protected {
        for (what, value, expect) in &bad_auth {
            let headers: Vec<(&str, &[u8])> = match value {
                Some(value) => vec![("Authorization", value.as_slice())],
                None => vec![],
            };
            add(
                format!("{operation} with {what}"),
                request(method, path.as_bytes(), &headers, b""),
                expect.clone(),
            );
        }
    }

    // --- JSON bodies -------------------------------------------------------------------------
    let json_routes: Vec<(&str, &str, String, bool)> = vec![
        ("POST", "authenticate", "/auth/api-key".into(), false),
        ("POST", "refreshToken", "/auth/refresh".into(), false),
        ("POST", "createToken", "/upload-tokens".into(), true),
        ("POST", "createVideo", "/videos".into(), true),
        ("PATCH", "updateVideo", format!("/videos/{}", w.video), true),
    ];
    for (method, operation, path, authed) in &json_routes {
        let auth = authed.then_some(w.basic.as_str());
        for (what, body) in broken_json() {
            add(
                format!("{operation} with {what}"),
                json_call(method, path, auth, &body),
                problem(400, "invalid-payload"),
            );
        }
        add(
            format!("{operation} with a JSON body over 1 MiB"),
            json_call(
                method,
                path,
                auth,
                format!("{{\"x\":\"{}\"}}", "a".repeat(1024 * 1024 + 1)).as_bytes(),
            ),
            problem(400, "invalid-payload"),
        );
        for (what, body) in [("an array", "[]"), ("a string", "\"x\""), ("a number", "7")] {
            add(
                format!("{operation} with {what} for a payload"),
                json_call(method, path, auth, body.as_bytes()),
                problem(400, "invalid-payload"),
            );
        }
        add(
            format!("{operation} with broken chunked encoding"),
            {
                let mut headers: Vec<(&str, &[u8])> = vec![
                    ("Content-Type", b"application/json"),
                    ("Transfer-Encoding", b"chunked"),
                ];
                if let Some(auth) = auth {
                    headers.push(("Authorization", auth.as_bytes()));
                }
                request(method, path.as_bytes(), &headers, b"zz\r\n{}\r\n0\r\n\r\n")
            },
            problem(400, "invalid-payload"),
        );
    }

    // --- /auth/api-key and /auth/refresh fields ------------------------------------------------
    for (operation, path, field) in [
        ("authenticate", "/auth/api-key", "apiKey"),
        ("refreshToken", "/auth/refresh", "refreshToken"),
    ] {
        add(
            format!("{operation} without {field}"),
            json_post(path, None, b"{}"),
            named(400, "attribute-required", field),
        );
        add(
            format!("{operation} with a null {field}"),
            json_post(path, None, format!("{{\"{field}\":null}}").as_bytes()),
            named(400, "attribute-required", field),
        );
        for (what, value) in [
            ("a number", "12"),
            ("a negative number", "-1"),
            ("a huge number", "99999999999999999999999999"),
            ("a boolean", "true"),
            ("an array", "[\"x\"]"),
            ("an object", "{\"a\":1}"),
        ] {
            add(
                format!("{operation} with {what} for {field}"),
                json_post(path, None, format!("{{\"{field}\":{value}}}").as_bytes()),
                named(400, "invalid-attribute", field),
            );
        }
        for (what, value) in [
            ("an unknown value", "nope"),
            ("an empty string", ""),
            ("a path traversal", "../../etc/passwd"),
            ("a NUL character", "a\\u0000b"),
        ] {
            add(
                format!("{operation} with {what} for {field}"),
                json_post(
                    path,
                    None,
                    format!("{{\"{field}\":\"{value}\"}}").as_bytes(),
                ),
                problem(400, "authentication-invalid-user-credentials"),
            );
        }
    }

    // --- POST /upload-tokens ttl -----------------------------------------------------------
    for (what, value) in [
        ("a negative ttl", "-1"),
        ("the most negative i64", "-9223372036854775808"),
        ("a ttl one past int32", "2147483648"),
        ("a ttl of u64::MAX", "18446744073709551615"),
        ("a ttl beyond 64 bits", "99999999999999999999999"),
        ("a fractional ttl", "60.5"),
        ("a ttl written as a float", "60.0"),
        ("a ttl in exponent form", "6e1"),
        ("a string ttl", "\"60\""),
        ("a boolean ttl", "true"),
        ("an array ttl", "[60]"),
        ("an object ttl", "{\"s\":60}"),
    ] {
        add(
            format!("createToken with {what}"),
            json_post(
                "/upload-tokens",
                Some(&w.basic),
                format!("{{\"ttl\":{value}}}").as_bytes(),
            ),
            named(400, "invalid-attribute", "ttl"),
        );
    }

    // --- POST /videos and PATCH /videos/{id} attributes ----------------------------------------
    for (operation, method, path) in [
        ("createVideo", "POST", "/videos".to_owned()),
        ("updateVideo", "PATCH", format!("/videos/{}", w.video)),
    ] {
        for (field, value) in [
            ("title", "12"),
            ("title", "true"),
            ("description", "[]"),
            ("public", "\"yes\""),
            ("public", "1"),
            ("panoramic", "\"false\""),
            ("mp4Support", "{}"),
            ("tags", "\"a,b\""),
            ("tags", "[1,2]"),
            ("metadata", "{\"key\":\"a\"}"),
            ("metadata", "[{\"key\":1,\"value\":\"b\"}]"),
            ("metadata", "[\"a\"]"),
            ("language", "7"),
            ("playerId", "false"),
        ] {
            let body = format!("{{\"title\":\"t\",\"{field}\":{value}}}");
            let body = if field == "title" {
                format!("{{\"title\":{value}}}")
            } else {
                body
            };
            let name: &'static str = Box::leak(field.to_owned().into_boxed_str());
            add(
                format!("{operation} with {value} for {field}"),
                json_call(method, &path, Some(&w.basic), body.as_bytes()),
                named(400, "invalid-attribute", name),
            );
        }
    }
    for (what, body) in [
        ("no title", "{}"),
        ("a null title", "{\"title\":null}"),
        ("an empty title", "{\"title\":\"\"}"),
    ] {
        add(
            format!("createVideo with {what}"),
            json_post("/videos", Some(&w.basic), body.as_bytes()),
            named(400, "attribute-required", "title"),
        );
    }

    // --- List query parameters ----------------------------------------------------------------
    for list in ["/upload-tokens", "/videos"] {
        for (param, value) in [
            ("pageSize", "0"),
            ("pageSize", "101"),
            ("pageSize", "-1"),
            ("pageSize", "abc"),
            ("pageSize", "1.5"),
            ("pageSize", "99999999999999999999999"),
            ("pageSize", ""),
            ("pageSize", "%00"),
            ("currentPage", "0"),
            ("currentPage", "-5"),
            ("currentPage", "x"),
            ("currentPage", "%FF"),
            ("sortOrder", "up"),
            ("sortOrder", "ASC%00"),
            ("sortBy", "nope"),
        ] {
            let name: &'static str = Box::leak(param.to_owned().into_boxed_str());
            add(
                format!("GET {list} with {param}={value}"),
                get(format!("{list}?{param}={value}").as_bytes(), &w.basic),
                named(400, "request-invalid-query-parameter", name),
            );
        }
    }

    // --- Ids in paths ----------------------------------------------------------------------------
    for (what, id) in [
        ("an unknown id", "to0000000000000000000000"),
        ("a path traversal", "..%2F..%2Fetc%2Fpasswd"),
        ("a backslash traversal", "..%5C..%5Cwindows"),
        ("an encoded NUL", "to%00abc"),
        ("a very long id", &"a".repeat(8000)),
        ("an id of spaces", "%20%20"),
    ] {
        add(
            format!("getToken with {what}"),
            get(format!("/upload-tokens/{id}").as_bytes(), &w.basic),
            named(404, "resource-not-found", "uploadToken"),
        );
        add(
            format!("deleteToken with {what}"),
            request(
                "DELETE",
                format!("/upload-tokens/{id}").as_bytes(),
                &[("Authorization", w.basic.as_bytes())],
                b"",
            ),
            named(404, "resource-not-found", "uploadToken"),
        );
        add(
            format!("getVideo with {what}"),
            get(format!("/videos/{id}").as_bytes(), &w.basic),
            named(404, "resource-not-found", "videoId"),
        );
    }
    for (what, path) in [
        (
            "percent-encoding that is not UTF-8",
            &b"/upload-tokens/%FF%FE"[..],
        ),
        ("a trailing slash", b"/upload-tokens/"),
        ("a dot-dot path", b"/upload-tokens/../videos"),
        ("a versioned path", b"/v1/upload-tokens"),
        ("a double slash", b"//upload-tokens"),
        ("an unknown path", b"/etc/passwd"),
    ] {
        add(
            format!("a request to {what}"),
            get(path, &w.basic),
            problem(404, "unrecognized-request-url"),
        );
    }
    for (method, path) in [
        ("PUT", "/upload-tokens"),
        ("PATCH", "/upload"),
        ("GET", "/auth/api-key"),
        ("DELETE", "/videos"),
        ("PUT", "/videos/vi1/source"),
    ] {
        add(
            format!("{method} {path}"),
            request(
                method,
                path.as_bytes(),
                &[("Authorization", w.basic.as_bytes())],
                b"",
            ),
            problem(405, "method-not-allowed"),
        );
    }

    // --- POST /upload: the token ---------------------------------------------------------------
    let small = file_body("a.mp4", b"0123456789");
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    for (what, target) in [
        ("no query", "/upload".to_owned()),
        ("an empty token", "/upload?token=".to_owned()),
        ("a token under another name", "/upload?Token=x".to_owned()),
    ] {
        add(
            format!("an upload with {what}"),
            request(
                "POST",
                target.as_bytes(),
                &[("Content-Type", ct.as_bytes())],
                &small,
            ),
            problem(401, "authentication-missing-upload-token"),
        );
    }
    for (what, token) in [
        ("an unknown token", "to0000000000000000000000"),
        ("a traversal token", "..%2F..%2Fetc%2Fpasswd"),
        ("a token that is not UTF-8", "%FF%FE"),
        ("a token with a NUL", "to%00"),
        ("a very long token", &"t".repeat(4000)),
    ] {
        add(
            format!("an upload with {what}"),
            upload(token, &[], &small),
            problem(401, "authentication-invalid-upload-token"),
        );
    }

    // --- POST /upload: Content-Range -----------------------------------------------------------
    for value in [
        &b""[..],
        b"part",
        b"part 1",
        b"part /3",
        b"part 1/",
        b"part -1/3",
        b"part +1/3",
        b"part 1.5/3",
        b"part 0x1/3",
        b"part 1/3/4",
        b"part a/b",
        b"part 1/**",
        b"part 1-2/3",
        b"bytes 0/10",
        b"bytes 0-/10",
        b"bytes -9/10",
        b"bytes a-b/c",
        b"bytes 0-9/",
        b"bytes 0-9",
        b"bytes=0-9/10",
        b"bytes 0--9/10",
        b"chunk 1/2",
        b"PART 1/2",
        b"part\t1/2",
        b"part 1 / 2",
        b"\xe9\xe8 1/2",
        b"part \xff/2",
    ] {
        add(
            format!(
                "an upload with Content-Range {:?}",
                String::from_utf8_lossy(value)
            ),
            upload(&w.token, &[("Content-Range", value)], &small),
            problem(400, "video-content-range-malformed"),
        );
    }
    for (value, slug) in [
        ("part 0/1", "video-content-range-by-part-part-zero"),
        ("part 1/0", "video-content-range-by-part-total-parts-zero"),
        (
            "part 10001/*",
            "video-content-range-by-part-part-too-high-allowed",
        ),
        (
            "part 1/10001",
            "video-content-range-by-part-total-parts-too-high",
        ),
        (
            "part 99999999999999999999999/1",
            "video-content-range-by-part-part-too-high-allowed",
        ),
        (
            "part 3/2",
            "video-content-range-by-part-part-too-high-total",
        ),
        (
            "part 1/2",
            "video-content-range-by-part-uploaded-file-too-small",
        ),
        (
            "bytes 9-0/10",
            "video-content-range-by-bytes-from-byte-too-high",
        ),
        (
            "bytes 0-3/10",
            "video-content-range-by-bytes-range-mismatch",
        ),
        (
            "bytes 0-9/0",
            "video-content-range-by-bytes-total-bytes-zero",
        ),
        (
            "bytes 0-9/5",
            "video-content-range-by-bytes-to-byte-too-high-total",
        ),
        (
            "bytes 52428800000-52428800009/*",
            "video-content-range-by-bytes-to-byte-too-high-allowed",
        ),
        (
            "bytes 0-9/52428800001",
            "video-content-range-by-bytes-total-bytes-too-high",
        ),
        (
            "bytes 0-9/99999999999999999999999",
            "video-content-range-by-bytes-total-bytes-too-high",
        ),
        (
            "bytes 0-9/20",
            "video-content-range-by-bytes-range-too-small",
        ),
    ] {
        add(
            format!("an upload with Content-Range {value:?}"),
            upload(&w.token, &[("Content-Range", value.as_bytes())], &small),
            problem(400, slug),
        );
    }

    // --- POST /upload: the multipart body -----------------------------------------------------
    type Headers<'a> = Vec<(&'a str, &'a [u8])>;
    let bodies: Vec<(&str, Headers, Vec<u8>, &'static str)> = vec![
        (
            "no Content-Type",
            vec![],
            small.clone(),
            "uploaded-file-no-file",
        ),
        (
            "a JSON Content-Type",
            vec![("Content-Type", b"application/json")],
            b"{\"file\":\"x\"}".to_vec(),
            "uploaded-file-no-file",
        ),
        (
            "multipart without a boundary",
            vec![("Content-Type", b"multipart/form-data")],
            small.clone(),
            "uploaded-file-no-file",
        ),
        (
            "an empty boundary",
            vec![("Content-Type", b"multipart/form-data; boundary=")],
            small.clone(),
            "uploaded-file-invalid-file",
        ),
        (
            "another boundary than the body's",
            vec![("Content-Type", b"multipart/form-data; boundary=other")],
            small.clone(),
            "uploaded-file-invalid-file",
        ),
        (
            "an empty body",
            vec![],
            Vec::new(),
            "uploaded-file-invalid-file",
        ),
        (
            "a body cut inside the file part",
            vec![],
            small[..small.len() - 20].to_vec(),
            "uploaded-file-invalid-file",
        ),
        (
            "a body that is only the closing boundary",
            vec![],
            format!("--{BOUNDARY}--\r\n").into_bytes(),
            "uploaded-file-no-file",
        ),
        (
            "a part without Content-Disposition",
            vec![],
            format!("--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nabc\r\n--{BOUNDARY}--\r\n")
                .into_bytes(),
            "uploaded-file-no-file",
        ),
        (
            "part headers that never end",
            vec![],
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n"
            )
            .into_bytes(),
            "uploaded-file-invalid-file",
        ),
        (
            "garbage instead of multipart",
            vec![],
            b"\0\0\0\xff\xfe garbage".to_vec(),
            "uploaded-file-invalid-file",
        ),
        (
            "only a videoId field",
            vec![],
            multipart(BOUNDARY, &[("videoId", None, w.video.as_bytes())]),
            "uploaded-file-no-file",
        ),
        (
            "two file parts",
            vec![],
            multipart(
                BOUNDARY,
                &[("file", Some("a"), b"1"), ("other", Some("b"), b"2")],
            ),
            "uploaded-file-multiple-files",
        ),
        (
            "an empty file part",
            vec![],
            file_body("a.mp4", b""),
            "uploaded-file-empty",
        ),
        (
            "a body over the configured file limit",
            vec![],
            file_body("big.mp4", &vec![7u8; 96 * 1024]),
            "uploaded-file-too-large",
        ),
    ];
    for (what, headers, body, slug) in bodies {
        let request = if headers.is_empty() && what != "no Content-Type" {
            upload(&w.token, &[], &body)
        } else {
            request(
                "POST",
                format!("/upload?token={}", w.token).as_bytes(),
                &headers,
                &body,
            )
        };
        add(
            format!("an upload with {what}"),
            request,
            problem(400, slug),
        );
    }
    add(
        "an upload with broken chunked encoding".into(),
        request(
            "POST",
            format!("/upload?token={}", w.token).as_bytes(),
            &[
                ("Content-Type", ct.as_bytes()),
                ("Transfer-Encoding", b"chunked"),
            ],
            b"nothex\r\nabc\r\n0\r\n\r\n",
        ),
        problem(400, "uploaded-file-invalid-file"),
    );
    for (what, video) in [
        ("an unknown videoId", "vi0000000000000000000000"),
        ("a traversal videoId", "../../etc/passwd"),
    ] {
        add(
            format!("an upload with {what}"),
            upload(
                &w.token,
                &[],
                &multipart(
                    BOUNDARY,
                    &[
                        ("videoId", None, video.as_bytes()),
                        ("file", Some("a"), b"1"),
                    ],
                ),
            ),
            named(404, "resource-not-found", "videoId"),
        );
    }
    add(
        "an upload to a video whose source is complete".into(),
        upload(
            &w.token,
            &[],
            &multipart(
                BOUNDARY,
                &[
                    ("videoId", None, w.done_video.as_bytes()),
                    ("file", Some("a"), b"1"),
                ],
            ),
        ),
        named(400, "video-source-already-uploaded", "file"),
    );
    add(
        "an authenticated upload to an unknown video".into(),
        request(
            "POST",
            b"/videos/vi0000000000000000000000/source",
            &[
                ("Authorization", w.basic.as_bytes()),
                ("Content-Type", ct.as_bytes()),
            ],
            &small,
        ),
        named(404, "resource-not-found", "videoId"),
    );

    // --- Filenames never become paths: each is kept as a title, without its directories ---------
    for (filename, title) in [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/absolute/path.mp4", "path.mp4"),
        ("C:\\Users\\a\\clip.mp4", "clip.mp4"),
        ("a/b/../../c.mp4", "c.mp4"),
        ("%2e%2e%2fescape.mp4", "%2e%2e%2fescape.mp4"),
    ] {
        add(
            format!("an upload named {filename:?}"),
            upload(&w.token, &[], &file_body(filename, b"content")),
            Expect::VideoTitled(title.to_owned()),
        );
    }
    rows
}

/// Checks one answer against its expectation; `Err` says what differs.
fn check(answer: &Raw, expect: &Expect) -> Result<(), String> {
    match expect {
        Expect::Problem { status, slug, name } => {
            let body: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("{} not JSON ({e}): {:?}", answer.status, answer.text()))?;
            let mut wrong = String::new();
            if answer.status != *status {
                let _ = write!(wrong, "status {} (not {status}); ", answer.status);
            }
            if answer.header("content-type") != Some("application/problem+json") {
                let _ = write!(wrong, "content type {:?}; ", answer.header("content-type"));
            }
            let want_type = format!("https://docs.api.video/reference/{slug}");
            if body["type"] != want_type.as_str() {
                let _ = write!(wrong, "type {} (not {slug}); ", body["type"]);
            }
            if body["status"] != *status {
                let _ = write!(wrong, "body status {}; ", body["status"]);
            }
            if body["title"].as_str().is_none_or(str::is_empty) {
                let _ = write!(wrong, "no title; ");
            }
            if let Some(name) = name {
                if body["name"] != *name {
                    let _ = write!(wrong, "name {} (not {name}); ", body["name"]);
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(format!("{wrong}body {body}"))
            }
        }
        Expect::VideoTitled(title) => {
            let body: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("{} not JSON ({e}): {:?}", answer.status, answer.text()))?;
            if answer.status == 201 && body["title"] == title.as_str() {
                Ok(())
            } else {
                Err(format!("{}: {body}", answer.status))
            }
        }
    }
}

async fn world(server: &MockServer) -> World {
    let http = reqwest::Client::new();
    let grant: Value = http
        .post(format!("{}/auth/api-key", server.uri()))
        .json(&serde_json::json!({ "apiKey": KEY }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.clock().advance(Duration::from_secs(3601));
    let token = server.apivideo().create_token(None).token;
    let video = server.apivideo().create_video("container").id;
    let done_video = server.apivideo().create_video("done").id;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"whole".to_vec()).file_name("whole.mp4"),
    );
    let done = http
        .post(format!("{}/videos/{done_video}/source", server.uri()))
        .basic_auth(KEY, Some(""))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201);
    World {
        basic: basic_of(format!("{KEY}:").as_bytes()),
        expired_bearer: grant["access_token"].as_str().unwrap().to_owned(),
        token,
        video,
        done_video,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_apivideos_own_error_and_the_server_keeps_answering() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_max_file_size(64 * 1024)
        .start()
        .await;
    let world = world(&server).await;
    let rows = rows(&world);
    assert_unique_names(rows.iter().map(|row| row.name.as_str()));

    // Act
    let failures = failed_rows(
        server.address(),
        &rows,
        |row| (row.name.as_str(), row.request.as_slice()),
        |row, answer| check(answer, &row.expect),
    )
    .await;
    let after = reqwest::Client::new()
        .post(format!("{}/upload-tokens", server.uri()))
        .basic_auth(KEY, Some(""))
        .json(&serde_json::json!({ "ttl": 60 }))
        .send()
        .await
        .unwrap();

    // Assert
    assert!(rows.len() >= 200, "only {} rows", rows.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows failed",
        failures.len(),
        rows.len()
    );
    assert_eq!(after.status(), 200);
    assert_eq!(server_errors(&server), 0);
}
