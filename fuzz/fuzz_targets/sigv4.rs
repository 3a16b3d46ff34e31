//! `vpce_proxy::fuzzing::sigv4_parse` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpce_proxy::fuzzing::sigv4_parse(data));
