//! Kaltura Sessions (KS): the v1 and v2 wire formats of `kSessionBase`.
//!
//! Clients mint KSs offline from the admin secret (`generateSession`, `generateSessionV2`), so
//! vidmock validates any well-formed KS by its signature rather than looking up the ones it
//! issued. It issues v2, the server's default (../shared/specs/kaltura.md §6.3).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::engine::hex;

type Encryptor = cbc::Encryptor<aes::Aes128>;
type Decryptor = cbc::Decryptor<aes::Aes128>;

/// Standard alphabet, padding optional: what the server's `base64_decode` accepts once `-`/`_`
/// are mapped back to `+`/`/`.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// What a KS says, once read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KsData {
    pub partner_id: i64,
    /// Absolute unix seconds.
    pub valid_until: i64,
    /// 0 USER, 2 ADMIN (anything ≥ 1 counts as admin).
    pub session_type: i64,
    /// Empty for an anonymous session.
    pub user_id: String,
    /// `name:value` privileges, comma-separated as `session.start` takes them.
    pub privileges: String,
}

/// Why a KS string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not base64, not either layout, or no partner id.
    Malformed,
    /// The partner id is well formed; the signature must be checked with its secrets.
    UnknownPartner,
    /// No admin secret of the partner signs it.
    BadSignature,
}

/// The partner id a KS claims, without checking anything else.
pub(crate) fn claimed_partner(ks: &str) -> Option<i64> {
    let decoded = decode_base64(ks)?;
    if let Some(rest) = decoded.strip_prefix(b"v2|") {
        let end = rest.iter().position(|&b| b == b'|')?;
        return std::str::from_utf8(&rest[..end]).ok()?.parse().ok();
    }
    let bar = decoded.iter().position(|&b| b == b'|')?;
    let info = std::str::from_utf8(&decoded[bar + 1..]).ok()?;
    info.split(';').next()?.parse().ok()
}

fn decode_base64(ks: &str) -> Option<Vec<u8>> {
    // Byte by byte: the URL-safe letters are ASCII, and every other byte is kept as it is.
    let mapped: Vec<u8> = ks
        .trim()
        .bytes()
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    LENIENT.decode(mapped).ok()
}

/// Reads and verifies `ks` with the admin secrets of the partner it names.
pub(crate) fn read(ks: &str, secrets: &[String]) -> Result<KsData, ReadError> {
    let decoded = decode_base64(ks).ok_or(ReadError::Malformed)?;
    if let Some(rest) = decoded.strip_prefix(b"v2|") {
        read_v2(rest, secrets)
    } else {
        read_v1(&decoded, secrets)
    }
}

fn read_v1(decoded: &[u8], secrets: &[String]) -> Result<KsData, ReadError> {
    let bar = decoded
        .iter()
        .position(|&b| b == b'|')
        .ok_or(ReadError::Malformed)?;
    let signature = std::str::from_utf8(&decoded[..bar]).map_err(|_| ReadError::Malformed)?;
    let info_bytes = &decoded[bar + 1..];
    let info = std::str::from_utf8(info_bytes).map_err(|_| ReadError::Malformed)?;
    let fields: Vec<&str> = info.split(';').collect();
    if fields.len() < 4 {
        return Err(ReadError::Malformed);
    }
    let partner_id: i64 = fields[0].parse().map_err(|_| ReadError::Malformed)?;
    let signed = secrets.iter().any(|secret| {
        let mut hasher = Sha1::new();
        hasher.update(secret.as_bytes());
        hasher.update(info_bytes);
        hex::encode(hasher.finalize()).eq_ignore_ascii_case(signature)
    });
    if !signed {
        return Err(ReadError::BadSignature);
    }
    Ok(KsData {
        partner_id,
        valid_until: fields[2].trim().parse().unwrap_or(0),
        session_type: fields[3].trim().parse().unwrap_or(0),
        user_id: fields.get(5).copied().unwrap_or("").to_owned(),
        privileges: fields.get(6).copied().unwrap_or("").to_owned(),
    })
}

fn read_v2(rest: &[u8], secrets: &[String]) -> Result<KsData, ReadError> {
    let bar = rest
        .iter()
        .position(|&b| b == b'|')
        .ok_or(ReadError::Malformed)?;
    let partner_id: i64 = std::str::from_utf8(&rest[..bar])
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or(ReadError::Malformed)?;
    let encrypted = &rest[bar + 1..];
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
        return Err(ReadError::Malformed);
    }
    for secret in secrets {
        let mut buffer = encrypted.to_vec();
        let Ok(plain) = Decryptor::new(&key(secret).into(), &[0u8; 16].into())
            .decrypt_padded_mut::<NoPadding>(&mut buffer)
        else {
            continue;
        };
        let mut end = plain.len();
        while end > 0 && plain[end - 1] == 0 {
            end -= 1;
        }
        let plain = &plain[..end];
        if plain.len() < 20 + 16 {
            continue;
        }
        let (hash, signed) = plain.split_at(20);
        if Sha1::digest(signed).as_slice() != hash {
            continue;
        }
        return Ok(fields_v2(partner_id, &signed[16..]));
    }
    Err(ReadError::BadSignature)
}

fn fields_v2(partner_id: i64, query: &[u8]) -> KsData {
    let mut data = KsData {
        partner_id,
        valid_until: 0,
        session_type: 0,
        user_id: String::new(),
        privileges: String::new(),
    };
    let mut privileges = Vec::new();
    for (name, value) in form_urlencoded::parse(query) {
        match name.as_ref() {
            "_e" => data.valid_until = value.trim().parse().unwrap_or(0),
            "_t" => data.session_type = value.trim().parse().unwrap_or(0),
            "_u" => data.user_id = value.into_owned(),
            "_m" | "_d" => {}
            "all" if value == "*" => privileges.push("*".to_owned()),
            _ if value.is_empty() => privileges.push(name.into_owned()),
            _ => privileges.push(format!("{name}:{value}")),
        }
    }
    data.privileges = privileges.join(",");
    data
}

/// The AES key of v2: the first 16 bytes of `sha1(admin secret)`.
fn key(secret: &str) -> [u8; 16] {
    let digest = Sha1::digest(secret.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Mints a v2 KS signed with `admin_secret`, using `random` as its 16 random bytes.
pub(crate) fn encode_v2(admin_secret: &str, data: &KsData, random: [u8; 16]) -> String {
    let mut fields = form_urlencoded::Serializer::new(String::new());
    for privilege in data.privileges.split(',') {
        let privilege = privilege.trim();
        if privilege.is_empty() {
            continue;
        }
        let privilege = if privilege == "*" { "all:*" } else { privilege };
        match privilege.split_once(':') {
            Some((name, value)) => fields.append_pair(name, value),
            None => fields.append_pair(privilege, ""),
        };
    }
    fields.append_pair("_e", &data.valid_until.to_string());
    fields.append_pair("_t", &data.session_type.to_string());
    fields.append_pair("_u", &data.user_id);
    let fields = fields.finish();
    let mut signed = Vec::with_capacity(16 + fields.len());
    signed.extend_from_slice(&random);
    signed.extend_from_slice(fields.as_bytes());
    let mut plain = Sha1::digest(&signed).to_vec();
    plain.extend_from_slice(&signed);
    let padded_len = plain.len().div_ceil(16) * 16;
    plain.resize(padded_len, 0);
    let encrypted = Encryptor::new(&key(admin_secret).into(), &[0u8; 16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, padded_len)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut decoded = format!("v2|{}|", data.partner_id).into_bytes();
    decoded.extend_from_slice(&encrypted);
    URL_SAFE.encode(decoded)
}

/// Mints a v1 KS (`generateSession`): `sha1_hex(secret + info) | info`.
pub(crate) fn encode_v1(admin_secret: &str, data: &KsData, rand: u32) -> String {
    let info = format!(
        "{0};{0};{1};{2};{3};{4};{5}",
        data.partner_id, data.valid_until, data.session_type, rand, data.user_id, data.privileges
    );
    let mut hasher = Sha1::new();
    hasher.update(admin_secret.as_bytes());
    hasher.update(info.as_bytes());
    STANDARD.encode(format!("{}|{info}", hex::encode(hasher.finalize())))
}

/// Fills `out` from `text`, which must hold exactly two hex digits (either case) per byte.
pub(super) fn decode_hex(text: impl AsRef<[u8]>, out: &mut [u8]) -> Result<(), InvalidHex> {
    let text = text.as_ref();
    if text.len() != out.len() * 2 {
        return Err(InvalidHex);
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Ok(())
}

fn digit(c: u8) -> Result<u8, InvalidHex> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(InvalidHex),
    }
}

/// Text that is not hex of the expected length.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct InvalidHex;

#[cfg(test)]
mod tests {
    #[test]
    fn hex_decoding_reverses_encoding_in_either_case() {
        let mut out = [0u8; 4];
        decode_hex("000FA5ff", &mut out).unwrap();
        assert_eq!(out, [0x00, 0x0f, 0xa5, 0xff]);
    }

    #[test]
    fn hex_decoding_refuses_a_wrong_length_or_a_non_digit() {
        let mut out = [0u8; 2];
        assert_eq!(decode_hex("abc", &mut out), Err(InvalidHex));
        assert_eq!(decode_hex("abcdef", &mut out), Err(InvalidHex));
        assert_eq!(decode_hex("abcg", &mut out), Err(InvalidHex));
    }

    use super::*;

    const SECRET: &str = "abcdef0123456789abcdef0123456789";
    const V1: &str = "ZjJhZTZkMjBiMmIyNjk5MDgwNWU0NDNiZjFjNjQxNmZiYmQ2N2Y0MXwxMjM0NTsxMjM0NTsxODkzNDU2MDAwOzI7NDI7dXNlckBleGFtcGxlLmNvbTs=";
    const V2: &str = "djJ8MTIzNDV85hwKjTQH_l3yN1sKgPEK33qw5ynYrk3j26CrqcLAS0wOx_6c6YsuKSCJkt6ILEg6JmhZU9Ec0E9H9ml7VUxi3x0Hn6yaRiv6rnogNFHl2qs=";

    fn vector() -> KsData {
        KsData {
            partner_id: 12345,
            valid_until: 1893456000,
            session_type: 2,
            user_id: "user@example.com".into(),
            privileges: String::new(),
        }
    }

    fn random() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn the_spec_v1_vector_validates() {
        assert_eq!(read(V1, &[SECRET.into()]), Ok(vector()));
        assert_eq!(claimed_partner(V1), Some(12345));
    }

    #[test]
    fn the_spec_v2_vector_validates() {
        assert_eq!(read(V2, &[SECRET.into()]), Ok(vector()));
        assert_eq!(claimed_partner(V2), Some(12345));
    }

    #[test]
    fn encoding_reproduces_the_spec_vectors() {
        assert_eq!(encode_v1(SECRET, &vector(), 42), V1);
        assert_eq!(encode_v2(SECRET, &vector(), random()), V2);
    }

    #[test]
    fn another_secret_does_not_validate() {
        let other = vec!["0000".to_string()];
        assert_eq!(read(V1, &other), Err(ReadError::BadSignature));
        assert_eq!(read(V2, &other), Err(ReadError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        for ks in ["", "!!!", "abcd", "djJ8", "djJ8MTIzfA=="] {
            assert_eq!(
                read(ks, &[SECRET.into()]),
                Err(ReadError::Malformed),
                "{ks}"
            );
        }
    }

    #[test]
    fn privileges_survive_a_round_trip() {
        let mut data = vector();
        data.privileges = "view:*,widget:1,edit".into();
        let ks = encode_v2(SECRET, &data, random());
        assert_eq!(read(&ks, &[SECRET.into()]), Ok(data.clone()));
        data.privileges = "*".into();
        let ks = encode_v2(SECRET, &data, random());
        assert_eq!(read(&ks, &[SECRET.into()]).unwrap().privileges, "*");
    }
}
