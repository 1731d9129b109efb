//! Lower-case hex, the two directions the crate needs (digests out, KS random bytes in).
#![cfg_attr(not(feature = "kaltura"), allow(dead_code))]

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lower-case hex, two digits a byte.
pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Fills `out` from `text`, which must hold exactly two hex digits (either case) per byte.
pub(crate) fn decode_to_slice(text: impl AsRef<[u8]>, out: &mut [u8]) -> Result<(), InvalidHex> {
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
pub(crate) struct InvalidHex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_gives_two_lower_case_digits_per_byte() {
        assert_eq!(encode([0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(encode([]), "");
    }

    #[test]
    fn decoding_reverses_encoding_in_either_case() {
        let mut out = [0u8; 4];
        decode_to_slice("000FA5ff", &mut out).unwrap();
        assert_eq!(out, [0x00, 0x0f, 0xa5, 0xff]);
    }

    #[test]
    fn decoding_refuses_a_wrong_length_or_a_non_digit() {
        let mut out = [0u8; 2];
        assert_eq!(decode_to_slice("abc", &mut out), Err(InvalidHex));
        assert_eq!(decode_to_slice("abcdef", &mut out), Err(InvalidHex));
        assert_eq!(decode_to_slice("abcg", &mut out), Err(InvalidHex));
    }
}
