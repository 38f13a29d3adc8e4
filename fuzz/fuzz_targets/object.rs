#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bpf_patch::fuzz::object(data));
