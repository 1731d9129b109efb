//! Kaltura's parameter merger and PHP coercions: no input may panic them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vidmock::kaltura::fuzzing::params(data));
