//! Identifiers the vendors hand out, random by default and reproducible with a seed.
//!
//! Every id in a server comes from one generator, so `builder().seed(42)` makes a whole test run
//! (tokens, videos, access tokens) repeat byte for byte, which keeps snapshots and bug reports
//! stable.

use std::sync::Mutex;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

/// The id generator of one server.
#[derive(Debug)]
pub(crate) struct Ids {
    rng: Mutex<fastrand::Rng>,
}

impl Ids {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Self {
            rng: Mutex::new(rng),
        }
    }

    /// `prefix` followed by `len` characters from `alphabet`.
    fn make(&self, prefix: &str, len: usize, alphabet: &[u8]) -> String {
        // A generator is always usable: recovering from poisoning cannot expose a broken state.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        for _ in 0..len {
            out.push(alphabet[rng.usize(0..alphabet.len())] as char);
        }
        out
    }

    /// `prefix` + `len` base62 characters (api.video ids: `to…`, `vi…`).
    pub(crate) fn base62(&self, prefix: &str, len: usize) -> String {
        self.make(prefix, len, BASE62)
    }

    /// `prefix` + `len` lower-case hex characters (Kaltura ids, opaque secrets).
    pub(crate) fn hex(&self, prefix: &str, len: usize) -> String {
        self.make(prefix, len, HEX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ids() {
        let (a, b) = (Ids::new(Some(7)), Ids::new(Some(7)));
        assert_eq!(a.base62("to", 22), b.base62("to", 22));
        assert_eq!(a.hex("0_", 32), b.hex("0_", 32));
    }

    #[test]
    fn ids_have_the_prefix_and_length_asked_for() {
        let ids = Ids::new(None);
        let id = ids.base62("to", 22);
        assert_eq!(id.len(), 24);
        assert!(id.starts_with("to"));
        assert!(id[2..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
