//! Multipart bodies as both vendors read them: no body may panic the readers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::fuzzing::multipart(data));
