//! Entry points for the fuzz targets under `fuzz/` (feature `fuzzing`; not a supported API).
//!
//! The parsers that take request bytes are private to their vendor modules, and should stay so;
//! the fuzz targets are a separate crate, so each parser is reached here, fed exactly as a
//! request reaches it. Every function takes arbitrary bytes and must return without panicking:
//! that is the property the fuzzer checks. Where a parser has a round-trip property (a KS that
//! vidmock minted must read back), the function asserts it too.

use std::sync::OnceLock;

use http::Request;

use crate::body::Body;

/// A runtime for the async parsers: one per process, current-thread.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Splits fuzz input into `n` fields on `\n`-free separators: the first `n - 1` lines, then the
/// rest as it is (so the last field may hold any bytes, newlines included).
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.iter().position(|&b| b == b'\n') {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + 1..];
            }
            None => break,
        }
    }
    out.push(rest);
    while out.len() < n {
        out.push(&[]);
    }
    out
}

/// The Kaltura parameter merger and PHP coercions: `data` is `CONTENT-TYPE\nPATH-AND-QUERY\nBODY`;
/// the request's parameters are read as the front door reads them (body, files, query, path,
/// nesting), and every value is then cast to string, int, float and bool as actions do.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::kaltura_params(b"application/json\n/api_v3/service/session/action/start?format=1\n{\"secret\":1}");
/// ```
#[cfg(feature = "kaltura")]
pub fn kaltura_params(data: &[u8]) {
    use crate::kaltura::params;
    let f = fields(data, 3);
    let content_type = String::from_utf8_lossy(f[0]).into_owned();
    let target = String::from_utf8_lossy(f[1]).into_owned();
    let body = bytes::Bytes::copy_from_slice(f[2]);
    let Ok(request) = Request::builder()
        .method("POST")
        .uri(&target)
        .header("content-type", &content_type)
        .body(Body::from(body))
    else {
        // Not a request line hyper would have accepted.
        return;
    };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let map = runtime().block_on(params::read(
        &parts,
        body,
        &path,
        crate::kaltura::multipart::FileParts::Memory,
    ));
    fn cast_all(map: &params::Map) {
        let args = params::Args::new(map);
        for (name, value) in map {
            params::to_php_string(value);
            params::to_php_int(value);
            params::to_php_float(value);
            params::to_php_bool(value);
            let _ = args.string(name);
            let _ = args.optional_int(name);
            let _ = args.float(name, 0.0);
            let _ = args.bool(name, false);
            let _ = args.int_enum(name, "KalturaSessionType", &[0, 2], 0);
            if let Ok(Some(object)) = args.object(name) {
                for key in ["fileName", "fileSize", "autoFinalize", "name", "mediaType"] {
                    let _ = object.string(key);
                    let _ = object.float(key);
                    let _ = object.int(key);
                    let _ = object.nullable_bool(key);
                    let _ = object.int_enum(key, "KalturaMediaType", &[1, 2, 5]);
                }
            }
            if let params::Value::Map(inner) = value {
                cast_all(inner);
            }
        }
    }
    cast_all(&map);
    let _ = crate::kaltura::dispatch::names(&map);
}

/// The KS reader: `data` as a KS string, checked against a fixed admin secret; and a KS minted
/// from `data`'s fields must read back with the same fields.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::kaltura_ks(b"djJ8MTAxfA==");
/// ```
#[cfg(feature = "kaltura")]
pub fn kaltura_ks(data: &[u8]) {
    use crate::kaltura::ks;
    let secret = "vidmock-admin-secret".to_owned();
    let text = String::from_utf8_lossy(data);
    let _ = ks::claimed_partner(&text);
    let _ = ks::read(&text, std::slice::from_ref(&secret));

    let f = fields(data, 2);
    let user_id = String::from_utf8_lossy(f[0]).into_owned();
    let privileges = String::from_utf8_lossy(f[1]).into_owned();
    let minted = ks::KsData {
        partner_id: 101,
        valid_until: 4_102_444_800,
        session_type: 2,
        user_id,
        privileges,
    };
    let mut random = [0u8; 16];
    for (slot, byte) in random.iter_mut().zip(data) {
        *slot = *byte;
    }
    let encoded = ks::encode_v2(&secret, &minted, random);
    let read = ks::read(&encoded, std::slice::from_ref(&secret));
    assert!(read.is_ok(), "a minted KS must read back: {read:?}");
}

/// Multipart bodies as both vendors read them: `data` is `BOUNDARY\nBODY`; the body goes to
/// api.video's upload reader and to Kaltura's form reader.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::multipart(b"X\n--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nhi\r\n--X--\r\n");
/// ```
pub fn multipart(data: &[u8]) {
    let f = fields(data, 2);
    let boundary = String::from_utf8_lossy(f[0]).into_owned();
    let body = bytes::Bytes::copy_from_slice(f[1]);
    runtime().block_on(async {
        #[cfg(feature = "apivideo")]
        {
            let mut headers = http::HeaderMap::new();
            if let Ok(value) =
                http::HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
            {
                headers.insert(http::header::CONTENT_TYPE, value);
            }
            for spill in [None, Some(crate::storage::SpillDir::new())] {
                let received = crate::apivideo::upload::read_multipart(
                    &headers,
                    Body::from(body.clone()),
                    1024 * 1024,
                    spill.as_ref(),
                )
                .await;
                if let Ok(received) = received {
                    let (_, piece) = received.file.expect("a file when Ok");
                    assert!(piece.len() > 0, "an accepted file is never empty");
                }
            }
        }
        #[cfg(feature = "kaltura")]
        {
            crate::kaltura::multipart::read_both_ways(body.clone(), &boundary).await;
        }
    });
}

/// api.video's `Content-Range` parser: `data` as the header value. A value that parses must
/// describe the same range once printed again.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::content_range(b"bytes 0-9/10");
/// ```
#[cfg(feature = "apivideo")]
pub fn content_range(data: &[u8]) {
    use crate::apivideo::upload::ContentRange;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(range) = ContentRange::parse(text) else {
        return;
    };
    let total = |t: Option<u64>| t.map_or("*".to_owned(), |t| t.to_string());
    let printed = match range {
        ContentRange::Part { part, total: t } => format!("part {part}/{}", total(t)),
        ContentRange::Bytes { from, to, total: t } => format!("bytes {from}-{to}/{}", total(t)),
    };
    assert_eq!(ContentRange::parse(&printed), Some(range), "{printed}");
}

/// api.video's JSON payloads: `data` as the body of video create/update, upload-token create,
/// auth, and a list query string.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::apivideo_json(br#"{"title":"t","tags":["a"],"metadata":[{"key":"k","value":"v"}]}"#);
/// ```
#[cfg(feature = "apivideo")]
pub fn apivideo_json(data: &[u8]) {
    use crate::apivideo::{paging, tokens, videos, wire};
    let body = runtime().block_on(wire::read_json(Body::from(bytes::Bytes::copy_from_slice(
        data,
    ))));
    if let Ok(body) = body {
        let _ = videos::Attributes::parse(body.clone(), true);
        let _ = videos::Attributes::parse(body.clone(), false);
        let _ = tokens::parse_ttl(body);
    }
    let query = String::from_utf8_lossy(data);
    let _ = paging::ListQuery::parse(Some(&query), &["createdAt", "title"], &["title", "tags"]);
}

/// The address of a mock server that lives as long as the process, on a thread of its own.
fn server_address() -> std::net::SocketAddr {
    static ADDRESS: OnceLock<std::net::SocketAddr> = OnceLock::new();
    *ADDRESS.get_or_init(|| {
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            runtime.block_on(async move {
                let server = crate::MockServer::builder()
                    .retention(crate::Retention::Spill)
                    .journal_capacity(64)
                    .start()
                    .await;
                let _ = tell.send(server.address());
                std::future::pending::<()>().await;
            });
        });
        told.recv().expect("the fuzzing server started")
    })
}

/// A whole request: `data` is sent as it is over a fresh connection to a mock server of both
/// vendors (the default credentials; `KS_PLACEHOLDER` in `data` becomes a valid admin KS), the
/// connection is half-closed, and the answer read until the server closes it or a second
/// passes. Panics anywhere in the server reach the fuzzer through the panic hook it installs.
/// Requests for the admin API (`/__vidmock`, which can script faults) are skipped.
///
/// # Example
///
/// ```
/// vidmock::fuzzing::request(b"GET /upload-tokens HTTP/1.1\r\nHost: x\r\n\r\n");
/// ```
pub fn request(data: &[u8]) {
    use std::io::{Read, Write};
    // The admin API can script faults, 500s among them: the vendors' surface only.
    if data
        .windows(10)
        .any(|w| w.eq_ignore_ascii_case(b"/__vidmock"))
    {
        return;
    }
    let address = server_address();
    let data = replace(data, b"KS_PLACEHOLDER", admin_ks().as_bytes());
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(1)));
    let _ = stream.write_all(&data);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    if let Some(status) = answer.get(9..12) {
        // The vendors answer bad input with 4xx; a 500 means vidmock failed.
        assert_ne!(status, b"500", "{}", String::from_utf8_lossy(&answer));
    }
}

fn admin_ks() -> &'static str {
    static KS: OnceLock<String> = OnceLock::new();
    KS.get_or_init(|| {
        #[cfg(feature = "kaltura")]
        {
            let data = crate::kaltura::ks::KsData {
                partner_id: 101,
                valid_until: 4_102_444_800,
                session_type: 2,
                user_id: "fuzz".to_owned(),
                privileges: String::new(),
            };
            crate::kaltura::ks::encode_v2("vidmock-admin-secret", &data, [7; 16])
        }
        #[cfg(not(feature = "kaltura"))]
        String::new()
    })
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
