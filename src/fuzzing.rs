//! Entry points for the fuzz targets under `fuzz/` (feature `fuzzing`; not a supported API).
//!
//! The parsers that take request bytes are private to their vendor modules, and should stay so;
//! the fuzz targets are a separate crate, so each parser is reached through a `fuzzing` module
//! of its vendor (`vidmock::VENDOR::fuzzing`), fed exactly as a request reaches it; this one
//! holds what the vendors share and the targets that go through every vendor. Every function takes arbitrary bytes and must return without panicking:
//! that is the property the fuzzer checks. Where a parser has a round-trip property (a KS that
//! vidmock minted must read back), the function asserts it too.

use std::sync::OnceLock;

use crate::engine::fuzz::{fields, runtime};

/// Multipart bodies as every vendor reads them: `data` is `BOUNDARY\nBODY`; the body goes to
/// each vendor's reader (an upload's parts, a form's fields).
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
    runtime().block_on(crate::registry::fuzz_multipart(body, &boundary));
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

/// A whole request: `data` is sent as it is over a fresh connection to a mock server of every
/// vendor (the default credentials; a vendor's placeholder in `data`, such as `KS_PLACEHOLDER`,
/// becomes a valid credential), the
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
    let data = crate::registry::fuzz_placeholders()
        .iter()
        .fold(data.to_vec(), |data, (from, to)| {
            replace(&data, from, to.as_bytes())
        });
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
