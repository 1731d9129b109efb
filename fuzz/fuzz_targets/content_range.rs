//! api.video's Content-Range parser: no value may panic it, and parsed ranges print back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::apivideo::fuzzing::content_range(data));
