//! What the fuzzing entry points share (feature `fuzzing`): a runtime for the async parsers and
//! a way to cut fuzz input into fields. Here, below the vendors, so that each vendor's entry
//! points and the crate's own use it alike.

use std::sync::OnceLock;

/// A runtime for the async parsers: one per process, current-thread.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
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
pub(crate) fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
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
