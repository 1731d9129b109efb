//! Whole requests over a socket: no request may panic the server or make it answer 500.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::fuzzing::request(data));
