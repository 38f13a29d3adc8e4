#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bpf_verifier_model::fuzz::verify_bytes(data));
