//! `vpce_proxy::fuzzing::classify_request` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpce_proxy::fuzzing::classify_request(data));
