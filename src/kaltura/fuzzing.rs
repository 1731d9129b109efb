//! Entry points for the fuzz targets under `fuzz/` that reach Kaltura's parsers (feature
//! `fuzzing`; not a supported API). See `crate::fuzzing`.

use std::sync::OnceLock;

use http::Request;

use crate::engine::body::Body;
use crate::engine::fuzz::{fields, runtime};

/// The Kaltura parameter merger and PHP coercions: `data` is `CONTENT-TYPE\nPATH-AND-QUERY\nBODY`;
/// the request's parameters are read as the front door reads them (body, files, query, path,
/// nesting), and every value is then cast to string, int, float and bool as actions do.
///
/// # Example
///
/// ```
/// vidmock::kaltura::fuzzing::params(b"application/json\n/api_v3/service/session/action/start?format=1\n{\"secret\":1}");
/// ```
pub fn params(data: &[u8]) {
    use super::params;
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
        super::multipart::FileParts::Memory,
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
    let _ = super::dispatch::names(&map);
}

/// The KS reader: `data` as a KS string, checked against a fixed admin secret; and a KS minted
/// from `data`'s fields must read back with the same fields.
///
/// # Example
///
/// ```
/// vidmock::kaltura::fuzzing::ks(b"djJ8MTAxfA==");
/// ```
pub fn ks(data: &[u8]) {
    use super::ks;
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

/// A form body as Kaltura's reader takes it, read both ways (into memory and skipped) to the
/// same fields.
pub(crate) async fn multipart(body: bytes::Bytes, boundary: &str) {
    super::multipart::read_both_ways(body, boundary).await;
}

/// An admin KS of the default partner, for `KS_PLACEHOLDER` in a fuzzed request.
pub(crate) fn admin_ks() -> &'static str {
    static KS: OnceLock<String> = OnceLock::new();
    KS.get_or_init(|| {
        let data = super::ks::KsData {
            partner_id: 101,
            valid_until: 4_102_444_800,
            session_type: 2,
            user_id: "fuzz".to_owned(),
            privileges: String::new(),
        };
        super::ks::encode_v2("vidmock-admin-secret", &data, [7; 16])
    })
}
