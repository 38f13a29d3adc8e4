//! Shared helpers of the cli integration tests: the kernel-availability check (a printed skip,
//! or a failure under `BPFPATCH_REQUIRE_KERNEL=1`) and the committed testdata objects.
#![allow(dead_code, clippy::print_stderr)]

use std::path::{Path, PathBuf};

pub mod btf;

/// True when BPF programs can be loaded here; otherwise prints why the test skips, or panics
/// when CI requires the kernel.
#[cfg(feature = "kernel")]
pub fn kernel() -> bool {
    if bpfpatch::kernel::kernel_available() {
        return true;
    }
    assert!(
        std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(),
        "BPFPATCH_REQUIRE_KERNEL is set but BPF is not usable here"
    );
    eprintln!("skipping: needs root and /sys/kernel/btf/vmlinux");
    false
}

/// A committed testdata object.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj").join(name)
}

/// Every committed testdata object, sorted.
pub fn testdata_objects() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata(""))
        .expect("testdata/obj exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    v.sort();
    v
}
