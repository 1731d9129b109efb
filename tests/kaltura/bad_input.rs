//! Malformed requests to Kaltura API v3, over a real socket: each gets a `KalturaAPIException`
//! with the server's own code, in the format asked for (JSON or XML, HTTP 200), the XML stays
//! well-formed whatever characters the request carried, and the server answers normally
//! afterwards.

use std::fmt::Write as _;
use std::time::Duration;

use crate::raw::{
    assert_unique_names, exchange, failed_rows, multipart, request, server_errors, Raw,
};
use quick_xml::events::Event;
use serde_json::Value;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

const BOUNDARY: &str = "vidmock-bad-input";

/// What one malformed request must get back.
#[derive(Clone, Debug)]
enum Expect {
    /// A `KalturaAPIException` with this code.
    Error(&'static str),
    /// A multirequest whose items are these errors (`None`: an item that is not an error).
    Items(Vec<Option<&'static str>>),
    /// No serializer could be chosen: 200, empty body, this `X-Kaltura` header.
    NoFormat(&'static str),
}

struct Row {
    name: String,
    /// 1 (JSON) or 2 (XML); 0 when the format itself is the bad input.
    format: u8,
    request: Vec<u8>,
    expect: Expect,
}

/// What the rows refer to: sessions and tokens made before the table runs.
struct World {
    admin: String,
    expired: String,
    ended: String,
    foreign_v2: String,
    foreign_v1: String,
    pending: String,
    full: String,
}

fn percent(text: &[u8]) -> String {
    percent_encoding::percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A urlencoded POST to `service.action` with `format` in the query; `fields` are encoded
/// byte for byte (so invalid UTF-8 and control characters arrive as they are).
fn form(service: &str, action: &str, format: u8, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k.as_bytes()), percent(v)))
        .collect();
    request(
        "POST",
        format!("/api_v3/service/{service}/action/{action}?format={format}").as_bytes(),
        &[("Content-Type", b"application/x-www-form-urlencoded")],
        body.join("&").as_bytes(),
    )
}

/// A JSON POST to `service.action` with `format` in the query.
fn json(service: &str, action: &str, format: u8, body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        format!("/api_v3/service/{service}/action/{action}?format={format}").as_bytes(),
        &[("Content-Type", b"application/json")],
        body,
    )
}

/// `uploadToken.upload` with `ks` and `uploadTokenId` in the query and `body` as multipart.
fn upload(world: &World, token: &str, format: u8, content_type: &[u8], body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        format!(
            "/api_v3/service/uploadtoken/action/upload?format={format}&ks={}&uploadTokenId={token}",
            world.admin
        )
        .as_bytes(),
        &[("Content-Type", content_type)],
        body,
    )
}

/// JSON bodies no JSON parser accepts (PHP's `json_decode` included): the body then carries
/// no parameters at all.
fn broken_json(ks: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut deep = format!("{{\"ks\":\"{ks}\",\"x\":");
    deep.push_str(&"[".repeat(10_000));
    deep.push_str(&"]".repeat(10_000));
    deep.push('}');
    vec![
        (
            "a missing value",
            format!("{{\"ks\":\"{ks}\",\"a\":}}").into_bytes(),
        ),
        (
            "a missing colon",
            format!("{{\"ks\" \"{ks}\"}}").into_bytes(),
        ),
        ("single quotes", format!("{{'ks':'{ks}'}}").into_bytes()),
        (
            "a trailing comma",
            format!("{{\"ks\":\"{ks}\",}}").into_bytes(),
        ),
        (
            "an unterminated string",
            format!("{{\"ks\":\"{ks}}}").into_bytes(),
        ),
        (
            "two documents",
            format!("{{\"ks\":\"{ks}\"}}{{}}").into_bytes(),
        ),
        ("an array", format!("[\"{ks}\"]").into_bytes()),
        ("invalid UTF-8", {
            let mut b = format!("{{\"ks\":\"{ks}\",\"a\":\"").into_bytes();
            b.extend_from_slice(b"\xff\xfe\"}");
            b
        }),
        (
            "a lone surrogate escape",
            format!("{{\"ks\":\"{ks}\",\"a\":\"\\ud800\"}}").into_bytes(),
        ),
        (
            "a trailing lone surrogate",
            format!("{{\"ks\":\"{ks}\",\"a\":\"x\\udfff\"}}").into_bytes(),
        ),
        ("a NUL byte", format!("{{\"ks\":\"{ks}\",\0}}").into_bytes()),
        (
            "a number beyond f64",
            format!("{{\"ks\":\"{ks}\",\"a\":1e400}}").into_bytes(),
        ),
        ("ten thousand nested arrays", deep.into_bytes()),
        ("an empty body", Vec::new()),
    ]
}

fn rows(w: &World) -> Vec<Row> {
    let mut rows = Vec::new();
    let ks = w.admin.as_bytes();
    for format in [1u8, 2] {
        let f = if format == 1 { "JSON" } else { "XML" };
        let mut add = |name: String, request: Vec<u8>, expect: Expect| {
            rows.push(Row {
                name: format!("{name} ({f})"),
                format,
                request,
                expect,
            })
        };
        let e = Expect::Error;

        // --- The front door ------------------------------------------------------------------
        add(
            "a call without a service".into(),
            request(
                "POST",
                format!("/api_v3/?format={format}").as_bytes(),
                &[],
                b"",
            ),
            e("SERVICE_NOT_SPECIFIED"),
        );
        for (what, service) in [
            ("an unknown service", "nosuch"),
            ("a service with a control character", "up%01load"),
            ("a service that is not UTF-8", "%FF%FE"),
            ("a service with markup", "%3Cscript%3E%26"),
            ("a service with a NUL", "upload%00token"),
            ("a traversal as service", "..%2F..%2Fetc%2Fpasswd"),
            ("a service with a noncharacter", "%EF%BF%BE"),
        ] {
            add(
                format!("a call to {what}"),
                request(
                    "POST",
                    format!("/api_v3/service/{service}/action/get?format={format}").as_bytes(),
                    &[],
                    b"",
                ),
                e("SERVICE_DOES_NOT_EXISTS"),
            );
        }
        add(
            "a call without an action".into(),
            request(
                "POST",
                format!("/api_v3/service/uploadtoken?format={format}").as_bytes(),
                &[],
                b"",
            ),
            e("ACTION_NOT_SPECIFIED"),
        );
        for (what, action) in [
            ("an unknown action", "nosuch"),
            ("an action with a control character", "ge%1Ft"),
            ("an action that is not UTF-8", "%C3%28"),
            ("an action with an escape character", "%1B%5B31m"),
        ] {
            add(
                format!("a call to {what}"),
                request(
                    "POST",
                    format!("/api_v3/service/uploadtoken/action/{action}?format={format}")
                        .as_bytes(),
                    &[],
                    b"",
                ),
                e("ACTION_DOES_NOT_EXISTS"),
            );
        }

        // --- Sessions ------------------------------------------------------------------------
        let long_ks = "djJ8".repeat(25_000);
        for (what, bad) in [
            ("a garbage KS", &b"garbage"[..]),
            ("a bare v2 prefix", b"djJ8"),
            ("a v2 KS without a payload", b"djJ8MTAxfA"),
            (
                "a v2 KS of an unknown partner",
                b"djJ8OTk5fAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            (
                "a v2 KS signed with another secret",
                w.foreign_v2.as_bytes(),
            ),
            (
                "a v1 KS signed with another secret",
                w.foreign_v1.as_bytes(),
            ),
            (
                "a v1 KS with a forged signature",
                b"ZGVhZGJlZWZ8MTAxOzEwMTs5OTk5OTk5OTk5OzI7MTt1Ow==",
            ),
            ("a KS with control characters", b"\x01\x02\x03\x1b[0m"),
            ("a KS that is not UTF-8", b"\xff\xfe\xc3\x28"),
            ("a KS with markup", b"<ks a=\"1\">&amp;</ks>]]>"),
            ("a KS with a noncharacter", "\u{FFFE}\u{FFFF}".as_bytes()),
            ("a traversal as KS", b"../../etc/passwd"),
            ("a 100 KB KS", long_ks.as_bytes()),
            ("an expired KS", w.expired.as_bytes()),
            ("a KS ended by session.end", w.ended.as_bytes()),
        ] {
            add(
                format!("uploadToken.list with {what}"),
                form("uploadtoken", "list", format, &[("ks", bad)]),
                e("INVALID_KS"),
            );
        }
        add(
            "uploadToken.list without a KS".into(),
            form("uploadtoken", "list", format, &[]),
            e("MISSING_KS"),
        );
        add(
            "uploadToken.list with an empty KS".into(),
            form("uploadtoken", "list", format, &[("ks", b"")]),
            e("MISSING_KS"),
        );
        add(
            "uploadToken.add with a partnerId but no KS".into(),
            form("uploadtoken", "add", format, &[("partnerId", b"101")]),
            e("SERVICE_FORBIDDEN"),
        );
        for (what, fields) in [
            (
                "a wrong secret",
                vec![("secret", &b"nope"[..]), ("partnerId", b"101")],
            ),
            (
                "an unknown partner",
                vec![("secret", b"vidmock-admin-secret"), ("partnerId", b"999")],
            ),
            (
                "a partnerId beyond 64 bits",
                vec![
                    ("secret", b"vidmock-admin-secret"),
                    ("partnerId", b"99999999999999999999999"),
                ],
            ),
            (
                "a negative partnerId",
                vec![("secret", b"vidmock-admin-secret"), ("partnerId", b"-101")],
            ),
            (
                "a partnerId of letters",
                vec![("secret", b"vidmock-admin-secret"), ("partnerId", b"abc")],
            ),
            ("no partnerId", vec![("secret", b"vidmock-admin-secret")]),
            (
                "the user secret for an admin session",
                vec![
                    ("secret", b"vidmock-user-secret"),
                    ("partnerId", b"101"),
                    ("type", b"2"),
                ],
            ),
        ] {
            add(
                format!("session.start with {what}"),
                form("session", "start", format, &fields),
                e("START_SESSION_ERROR"),
            );
        }
        add(
            "session.start without a secret".into(),
            form("session", "start", format, &[("partnerId", b"101")]),
            e("MISSING_MANDATORY_PARAMETER"),
        );
        for (what, value) in [("7", &b"7"[..]), ("-1", b"-1"), ("a word", b"admin")] {
            add(
                format!("session.start with type {what}"),
                form(
                    "session",
                    "start",
                    format,
                    &[
                        ("secret", b"vidmock-admin-secret"),
                        ("partnerId", b"101"),
                        ("type", value),
                    ],
                ),
                e("INVALID_ENUM_VALUE"),
            );
        }

        // --- Mandatory parameters, unknown ids --------------------------------------------------
        for action in ["get", "delete", "upload"] {
            add(
                format!("uploadToken.{action} without uploadTokenId"),
                form("uploadtoken", action, format, &[("ks", ks)]),
                e("MISSING_MANDATORY_PARAMETER"),
            );
        }
        add(
            "media.get without entryId".into(),
            form("media", "get", format, &[("ks", ks)]),
            e("MISSING_MANDATORY_PARAMETER"),
        );
        for action in ["get", "delete"] {
            for (what, id) in [
                ("an unknown id", &b"0_00000000000000000000000000000000"[..]),
                ("a traversal id", b"../../etc/passwd"),
                ("a Windows traversal id", b"..\\..\\windows\\win.ini"),
                ("a 64 KB id", &[b'a'; 65536]),
                ("an id that is not UTF-8", b"0_\xff\xfe"),
            ] {
                add(
                    format!("uploadToken.{action} with {what}"),
                    form(
                        "uploadtoken",
                        action,
                        format,
                        &[("ks", ks), ("uploadTokenId", id)],
                    ),
                    e("UPLOAD_TOKEN_NOT_FOUND"),
                );
            }
        }
        add(
            "media.get with an unknown entry".into(),
            form(
                "media",
                "get",
                format,
                &[("ks", ks), ("entryId", b"0_zzzzzzzz")],
            ),
            e("ENTRY_ID_NOT_FOUND"),
        );
        add(
            "media.addFromUploadedFile with an unknown token".into(),
            form(
                "media",
                "addFromUploadedFile",
                format,
                &[
                    ("ks", ks),
                    ("uploadTokenId", b"../../etc/passwd"),
                    ("mediaEntry:mediaType", b"1"),
                ],
            ),
            e("UPLOADED_FILE_NOT_FOUND_BY_TOKEN"),
        );
        add(
            "media.add without a media type".into(),
            form("media", "add", format, &[("ks", ks), ("entry:name", b"x")]),
            e("PROPERTY_VALIDATION_CANNOT_BE_NULL"),
        );

        // --- Characters XML cannot carry ----------------------------------------------------------
        for (what, bad) in [
            ("a NUL", &b"a\x00b"[..]),
            ("U+0001", b"a\x01b"),
            ("a backspace", b"a\x08b"),
            ("a vertical tab", b"a\x0bb"),
            ("a form feed", b"a\x0cb"),
            ("U+000E", b"a\x0eb"),
            ("an escape", b"a\x1bb"),
            ("U+001F", b"a\x1fb"),
            ("U+FFFE", "a\u{FFFE}b".as_bytes()),
            ("U+FFFF", "a\u{FFFF}b".as_bytes()),
        ] {
            add(
                format!("uploadToken.add with {what} in fileName"),
                form(
                    "uploadtoken",
                    "add",
                    format,
                    &[("ks", ks), ("uploadToken:fileName", bad)],
                ),
                e("INVALID_PARAMETER_CHAR"),
            );
        }
        for (what, escape) in [
            ("U+0001", "\\u0001"),
            ("U+0000", "\\u0000"),
            ("U+001B", "\\u001b"),
            ("U+FFFF", "\\uffff"),
        ] {
            add(
                format!("uploadToken.add with {what} escaped in a JSON fileName"),
                json(
                    "uploadtoken",
                    "add",
                    format,
                    format!(
                        "{{\"ks\":\"{}\",\"uploadToken\":{{\"objectType\":\"KalturaUploadToken\",\"fileName\":\"a{escape}b\"}}}}",
                        w.admin
                    )
                    .as_bytes(),
                ),
                e("INVALID_PARAMETER_CHAR"),
            );
            add(
                format!("uploadToken.get with {what} escaped in a JSON uploadTokenId"),
                json(
                    "uploadtoken",
                    "get",
                    format,
                    format!(
                        "{{\"ks\":\"{}\",\"uploadTokenId\":\"0_{escape}\"}}",
                        w.admin
                    )
                    .as_bytes(),
                ),
                e("INVALID_PARAMETER_CHAR"),
            );
        }

        // --- Types: enums, objects as scalars, readonly properties ---------------------------------
        for (what, field, value) in [
            ("autoFinalize 7", "uploadToken:autoFinalize", &b"7"[..]),
            ("autoFinalize -2", "uploadToken:autoFinalize", b"-2"),
            ("autoFinalize a word", "uploadToken:autoFinalize", b"maybe"),
        ] {
            add(
                format!("uploadToken.add with {what}"),
                form("uploadtoken", "add", format, &[("ks", ks), (field, value)]),
                e("INVALID_ENUM_VALUE"),
            );
        }
        for (what, value) in [("9", &b"9"[..]), ("-7", b"-7"), ("a word", b"done")] {
            add(
                format!("uploadToken.list with statusEqual {what}"),
                form(
                    "uploadtoken",
                    "list",
                    format,
                    &[("ks", ks), ("filter:statusEqual", value)],
                ),
                e("INVALID_ENUM_VALUE"),
            );
        }
        for (action, field) in [
            ("add", "uploadToken"),
            ("list", "filter"),
            ("list", "pager"),
        ] {
            add(
                format!("uploadToken.{action} with a string for {field}"),
                form(
                    "uploadtoken",
                    action,
                    format,
                    &[("ks", ks), (field, b"scalar")],
                ),
                e("PROPERTY_VALIDATION_WRONG_FORMAT"),
            );
        }
        for property in [
            "id",
            "partnerId",
            "userId",
            "status",
            "uploadedFileSize",
            "createdAt",
            "updatedAt",
            "uploadUrl",
            "attachedObjectType",
            "attachedObjectId",
        ] {
            let value: &[u8] = if property == "status" { b"1" } else { b"5" };
            add(
                format!("uploadToken.add setting the readonly {property}"),
                form(
                    "uploadtoken",
                    "add",
                    format,
                    &[("ks", ks), (&format!("uploadToken:{property}"), value)],
                ),
                e("PROPERTY_VALIDATION_NOT_UPDATABLE"),
            );
        }
        for (what, size) in [
            // KalturaUploadToken.php:158 checks `!isset`: 0 and letters (cast to 0.0) are set.
            ("no fileSize", None),
            (
                "a null fileSize",
                Some(("uploadToken:fileSize__null", &b"1"[..])),
            ),
        ] {
            let mut fields: Vec<(&str, &[u8])> =
                vec![("ks", ks), ("uploadToken:autoFinalize", b"1")];
            fields.extend(size);
            add(
                format!("uploadToken.add with autoFinalize and {what}"),
                form("uploadtoken", "add", format, &fields),
                e("UPLOAD_TOKEN_MISSING_FILE_SIZE"),
            );
        }

        // --- Uploads: the multipart body -------------------------------------------------------
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        let ctb = ct.as_bytes();
        let uploads: Vec<(&str, &[u8], Vec<u8>, &'static str)> = vec![
            (
                "no file part",
                ctb,
                multipart(BOUNDARY, &[("resume", None, b"0")]),
                "MISSING_MANDATORY_PARAMETER",
            ),
            (
                "fileData as a plain field",
                ctb,
                multipart(BOUNDARY, &[("fileData", None, b"abc")]),
                "UPLOAD_ERROR",
            ),
            (
                "an empty filename",
                ctb,
                multipart(BOUNDARY, &[("fileData", Some(""), b"abc")]),
                "UPLOAD_ERROR",
            ),
            (
                "a body cut inside the file part",
                ctb,
                {
                    let body = multipart(BOUNDARY, &[("fileData", Some("a.mp4"), b"0123456789")]);
                    body[..body.len() - 24].to_vec()
                },
                "UPLOAD_ERROR",
            ),
            (
                "another boundary than the body's",
                b"multipart/form-data; boundary=other",
                multipart(BOUNDARY, &[("fileData", Some("a.mp4"), b"abc")]),
                "MISSING_MANDATORY_PARAMETER",
            ),
            (
                "multipart without a boundary",
                b"multipart/form-data",
                multipart(BOUNDARY, &[("fileData", Some("a.mp4"), b"abc")]),
                "MISSING_MANDATORY_PARAMETER",
            ),
            (
                "garbage instead of multipart",
                ctb,
                b"\0\0\xff\xfe garbage".to_vec(),
                "MISSING_MANDATORY_PARAMETER",
            ),
            (
                "part headers that never end",
                ctb,
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"a\"\r\n"
                )
                .into_bytes(),
                "MISSING_MANDATORY_PARAMETER",
            ),
            (
                "a JSON body",
                b"application/json",
                b"{\"fileData\":\"abc\"}".to_vec(),
                "UPLOAD_ERROR",
            ),
            (
                "resume on a token that has no file yet",
                ctb,
                multipart(
                    BOUNDARY,
                    &[("resume", None, b"1"), ("fileData", Some("a.mp4"), b"abc")],
                ),
                "UPLOAD_TOKEN_CANNOT_RESUME",
            ),
        ];
        for (what, content_type, body, code) in uploads {
            add(
                format!("uploadToken.upload with {what}"),
                upload(w, &w.pending, format, content_type, &body),
                e(code),
            );
        }
        add(
            "uploadToken.upload to a token already complete".into(),
            upload(
                w,
                &w.full,
                format,
                ct.as_bytes(),
                &multipart(BOUNDARY, &[("fileData", Some("a.mp4"), b"abc")]),
            ),
            e("UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD"),
        );
        add(
            "uploadToken.upload with a traversal filename to an unknown token".into(),
            upload(
                w,
                "../../etc/passwd",
                format,
                ct.as_bytes(),
                &multipart(BOUNDARY, &[("fileData", Some("../../etc/passwd"), b"abc")]),
            ),
            e("UPLOAD_TOKEN_NOT_FOUND"),
        );
        add(
            "uploadToken.upload with broken chunked encoding".into(),
            request(
                "POST",
                format!(
                    "/api_v3/service/uploadtoken/action/upload?format={format}&ks={}&uploadTokenId={}",
                    w.admin, w.pending
                )
                .as_bytes(),
                &[("Content-Type", ct.as_bytes()), ("Transfer-Encoding", b"chunked")],
                b"xyz\r\nabc\r\n0\r\n\r\n",
            ),
            e("MISSING_MANDATORY_PARAMETER"),
        );

        // --- Bodies that carry no parameters -----------------------------------------------------
        for (what, body) in broken_json(&w.admin) {
            add(
                format!("uploadToken.list with {what} as its JSON body"),
                json("uploadtoken", "list", format, &body),
                e("MISSING_KS"),
            );
        }
        add(
            "uploadToken.list with a form body over 16 MiB".into(),
            {
                let mut body = format!("ks={}&pad=", w.admin).into_bytes();
                body.resize(16 * 1024 * 1024 + 1024, b'x');
                request(
                    "POST",
                    format!("/api_v3/service/uploadtoken/action/list?format={format}").as_bytes(),
                    &[("Content-Type", b"application/x-www-form-urlencoded")],
                    &body,
                )
            },
            e("MISSING_KS"),
        );
        add(
            "uploadToken.list with broken chunked encoding".into(),
            request(
                "POST",
                format!("/api_v3/service/uploadtoken/action/list?format={format}").as_bytes(),
                &[
                    ("Content-Type", b"application/x-www-form-urlencoded"),
                    ("Transfer-Encoding", b"chunked"),
                ],
                format!("zz\r\nks={}\r\n0\r\n\r\n", w.admin).as_bytes(),
            ),
            e("MISSING_KS"),
        );

        // --- Multirequests ----------------------------------------------------------------------
        add(
            "a multirequest whose items are all malformed".into(),
            form(
                "multirequest",
                "",
                format,
                &[
                    ("ks", ks),
                    ("1:service", b"uploadtoken"),
                    ("1:action", b"get"),
                    ("2:service", b"uploadtoken"),
                    ("2:action", b"get"),
                    ("2:uploadTokenId", b"../../etc/passwd"),
                    ("3:service", b"nosuch"),
                    ("3:action", b"x"),
                    ("4:service", b"uploadtoken"),
                    ("4:action", b"add"),
                    ("4:uploadToken:fileName", b"\x01"),
                    ("5:service", b"uploadtoken"),
                    ("5:action", b"get"),
                    ("5:uploadTokenId", b"{9:result:id}"),
                ],
            ),
            Expect::Items(vec![
                Some("MISSING_MANDATORY_PARAMETER"),
                Some("UPLOAD_TOKEN_NOT_FOUND"),
                Some("SERVICE_DOES_NOT_EXISTS"),
                Some("INVALID_PARAMETER_CHAR"),
                Some("UPLOAD_TOKEN_NOT_FOUND"),
            ]),
        );
        add(
            "a multirequest item with a bad KS of its own".into(),
            form(
                "multirequest",
                "",
                format,
                &[
                    ("ks", ks),
                    ("1:service", b"uploadtoken"),
                    ("1:action", b"list"),
                    ("2:service", b"uploadtoken"),
                    ("2:action", b"list"),
                    ("2:ks", b"\x02garbage"),
                ],
            ),
            Expect::Items(vec![None, Some("INVALID_KS")]),
        );
        add(
            "a multirequest referring to a failed item".into(),
            form(
                "multirequest",
                "",
                format,
                &[
                    ("ks", ks),
                    ("1:service", b"uploadtoken"),
                    ("1:action", b"get"),
                    ("1:uploadTokenId", b"0_nope"),
                    ("2:service", b"uploadtoken"),
                    ("2:action", b"get"),
                    ("2:uploadTokenId", b"{1:result:id}"),
                ],
            ),
            Expect::Items(vec![
                Some("UPLOAD_TOKEN_NOT_FOUND"),
                Some("MISSING_MANDATORY_PARAMETER"),
            ]),
        );
    }

    // --- Formats that choose no serializer ------------------------------------------------------
    for (what, query, header) in [
        ("format 7", "format=7", "error- UNKNOWN_RESPONSE_FORMAT"),
        ("format -1", "format=-1", "error- UNKNOWN_RESPONSE_FORMAT"),
        (
            "format of letters",
            "format=xml",
            "error- UNKNOWN_RESPONSE_FORMAT",
        ),
        (
            "format with a NUL",
            "format=1%00",
            "error- UNKNOWN_RESPONSE_FORMAT",
        ),
        (
            "format beyond 64 bits",
            "format=99999999999999999999999",
            "error- UNKNOWN_RESPONSE_FORMAT",
        ),
        (
            "format 9 without a callback",
            "format=9",
            "error- MANDATORY_PARAMETER_MISSING",
        ),
        (
            "format 9 with a callback of markup",
            "format=9&callback=%3Cscript%3E",
            "error- INVALID_FIELD_VALUE",
        ),
        (
            "format 9 with a callback with a NUL",
            "format=9&callback=a%00b",
            "error- INVALID_FIELD_VALUE",
        ),
    ] {
        rows.push(Row {
            name: format!("uploadToken.list with {what}"),
            format: 0,
            request: request(
                "POST",
                format!("/api_v3/service/uploadtoken/action/list?{query}").as_bytes(),
                &[],
                b"",
            ),
            expect: Expect::NoFormat(header),
        });
    }
    rows
}

/// Whether XML 1.0 may carry `c`.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{D7FF}').contains(&c)
        || ('\u{E000}'..='\u{FFFD}').contains(&c)
        || c >= '\u{10000}'
}

/// An XML answer as the error codes it holds, top level or per multirequest item; `Err` when
/// the document is not well-formed (unbalanced tags, bad entities, characters XML forbids).
fn xml_errors(body: &[u8]) -> Result<Vec<Option<String>>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    if let Some(bad) = text.chars().find(|c| !xml_char(*c)) {
        return Err(format!("carries {bad:?}, which XML cannot"));
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut items: Vec<Option<String>> = Vec::new();
    let mut top: Option<String> = None;
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("not well-formed: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(start)) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if path == ["xml", "result"] && name == "item" {
                    items.push(None);
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let decoded = t.decode().map_err(|e| format!("bad text: {e}"))?;
                let unescaped = quick_xml::escape::unescape(&decoded)
                    .map_err(|e| format!("bad entity: {e}"))?;
                if let Some(bad) = unescaped.chars().find(|c| !xml_char(*c)) {
                    return Err(format!("escapes {bad:?}, which XML cannot carry"));
                }
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match p.as_slice() {
                    ["xml", "result", "error", "code"] => top = Some(unescaped.into_owned()),
                    ["xml", "result", "item", "error", "code"] => {
                        if let Some(last) = items.last_mut() {
                            *last = Some(unescaped.into_owned());
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                if !["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str()) {
                    return Err(format!("reference &{name};"));
                }
            }
            Ok(_) => {}
        }
    }
    if !path.is_empty() {
        return Err(format!("unclosed {path:?}"));
    }
    Ok(match top {
        Some(code) => vec![Some(code)],
        None => items,
    })
}

/// A JSON answer as the error codes it holds, top level or per multirequest item.
fn json_errors(body: &[u8]) -> Result<Vec<Option<String>>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let code = |v: &Value| {
        (v["objectType"] == "KalturaAPIException" && v["message"].is_string())
            .then(|| v["code"].as_str().unwrap_or_default().to_owned())
    };
    Ok(match &value {
        Value::Array(items) => items.iter().map(code).collect(),
        other => vec![code(other)],
    })
}

fn check(answer: &Raw, format: u8, expect: &Expect) -> Result<(), String> {
    let mut wrong = String::new();
    if answer.status != 200 {
        let _ = write!(wrong, "status {}; ", answer.status);
    }
    if let Expect::NoFormat(header) = expect {
        if answer.header("x-kaltura") != Some(header) || !answer.body.is_empty() {
            let _ = write!(
                wrong,
                "X-Kaltura {:?}, body {:?}",
                answer.header("x-kaltura"),
                answer.text()
            );
        }
        return if wrong.is_empty() { Ok(()) } else { Err(wrong) };
    }
    let (content_type, codes) = if format == 1 {
        ("application/json", json_errors(&answer.body))
    } else {
        ("text/xml", xml_errors(&answer.body))
    };
    if answer.header("content-type") != Some(content_type) {
        let _ = write!(wrong, "content type {:?}; ", answer.header("content-type"));
    }
    let want: Vec<Option<String>> = match expect {
        Expect::Error(code) => vec![Some((*code).to_owned())],
        Expect::Items(items) => items.iter().map(|c| c.map(str::to_owned)).collect(),
        Expect::NoFormat(_) => unreachable!(),
    };
    match codes {
        Err(why) => {
            let _ = write!(wrong, "{why}; ");
        }
        Ok(codes) if codes != want => {
            let _ = write!(wrong, "errors {codes:?} (not {want:?}); ");
        }
        Ok(_) => {}
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        let text = answer.text();
        let shown: String = text.chars().take(400).collect();
        Err(format!("{wrong}body {shown:?}"))
    }
}

async fn world(server: &MockServer) -> World {
    let kaltura = server.kaltura();
    let admin = kaltura.ks("admin@example.com", SessionType::Admin);
    let expired = kaltura.ks_valid_for(
        "late@example.com",
        SessionType::Admin,
        Duration::from_secs(5),
    );
    server.clock().advance(Duration::from_secs(60));
    let ended = kaltura.ks("gone@example.com", SessionType::Admin);
    let end = reqwest::Client::new()
        .post(format!(
            "{}/api_v3/service/session/action/end?format=1",
            server.uri()
        ))
        .form(&[("ks", ended.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 200);
    let foreign = MockServer::builder()
        .kaltura_partner(101, "another-admin-secret", "another-user-secret")
        .start()
        .await;
    let foreign_v2 = foreign.kaltura().ks("x", SessionType::Admin);
    let foreign_v1 = foreign
        .kaltura()
        .ks_v1("x", SessionType::Admin, Duration::from_secs(3600));
    let api = |fields: Vec<(&'static str, String)>, action: &'static str| {
        let uri = server.uri();
        let admin = admin.clone();
        async move {
            let mut form = reqwest::multipart::Form::new()
                .text("ks", admin)
                .text("format", "1");
            for (k, v) in fields {
                form = form.text(k, v);
            }
            if action == "upload" {
                form = form.part(
                    "fileData",
                    reqwest::multipart::Part::bytes(b"whole".to_vec()).file_name("whole.mp4"),
                );
            }
            let answer: Value = reqwest::Client::new()
                .post(format!("{uri}/api_v3/service/uploadtoken/action/{action}"))
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer
        }
    };
    let pending = api(vec![], "add").await["id"].as_str().unwrap().to_owned();
    let full = api(vec![], "add").await["id"].as_str().unwrap().to_owned();
    let done = api(vec![("uploadTokenId", full.clone())], "upload").await;
    assert_eq!(done["status"], 2, "{done}");
    World {
        admin,
        expired,
        ended,
        foreign_v2,
        foreign_v1,
        pending,
        full,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_kalturas_own_error_and_the_server_keeps_answering() {
    let server = MockServer::start().await;
    every_row_gets_its_error(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_its_error_also_when_uploads_stream_to_disk() {
    // File parts take another route into the server when they are spilled (the binary's
    // default): to a file of their own, a batch at a time, on the blocking pool.
    let server = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .start()
        .await;
    every_row_gets_its_error(&server).await;
}

async fn every_row_gets_its_error(server: &MockServer) {
    // Arrange
    let world = world(server).await;
    let rows = rows(&world);
    assert_unique_names(rows.iter().map(|row| row.name.as_str()));

    // Act
    let failures = failed_rows(
        server.address(),
        &rows,
        |row| (row.name.as_str(), row.request.as_slice()),
        |row, answer| check(answer, row.format, &row.expect),
    )
    .await;
    let after: Value = reqwest::Client::new()
        .post(format!(
            "{}/api_v3/service/uploadtoken/action/add?format=1",
            server.uri()
        ))
        .form(&[("ks", world.admin.as_str())])
        .send()
        .await
        .unwrap()
        .json()
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
    assert_eq!(after["objectType"], "KalturaUploadToken", "{after}");
    assert_eq!(server_errors(server), 0);
}

#[tokio::test]
async fn an_xml_error_echoing_characters_xml_cannot_carry_leaves_them_out() {
    // Arrange
    let server = MockServer::start().await;
    let ks = "bad\u{1}\u{2}ks\u{1b}[0m<&>\u{fffe}".as_bytes();

    // Act
    let answer = exchange(
        server.address(),
        &form("uploadtoken", "list", 2, &[("ks", ks)]),
    )
    .await
    .unwrap();

    // Assert
    assert_eq!(
        xml_errors(&answer.body),
        Ok(vec![Some("INVALID_KS".into())])
    );
    let time = regex::Regex::new(r"<executionTime>[^<]*</executionTime>").unwrap();
    insta::assert_snapshot!(time.replace(&answer.text(), "<executionTime>[time]</executionTime>"));
}
