//! `vpce_proxy::fuzzing::config` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpce_proxy::fuzzing::config(data));
