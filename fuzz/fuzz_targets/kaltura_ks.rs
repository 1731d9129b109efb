//! Kaltura KS reading: no string may panic it, and every KS vidmock mints reads back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::kaltura::fuzzing::ks(data));
