//! api.video's JSON payloads and list queries: no body may panic their validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::apivideo::fuzzing::json(data));
