//! `vpce_proxy::fuzzing::connect_head` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpce_proxy::fuzzing::connect_head(data));
