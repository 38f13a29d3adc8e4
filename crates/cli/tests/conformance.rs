//! `bpfpatch conformance`: the bpf_conformance suite passes, and a wrong expectation fails with
//! exit code 1 and names the file.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

fn bpfpatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

#[test]
fn the_suite_passes_and_the_summary_line_counts_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/bpf-conformance");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_none(),
            "BPFPATCH_REQUIRE_CORPUS is set but {} is missing",
            dir.display()
        );
        eprintln!("skipping: {} is missing", dir.display());
        return;
    }
    let out = bpfpatch(&["conformance", dir.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().expect("a summary line");
    let (passed, failed) = last.split_once(" passed, ").expect("`N passed, M failed`");
    assert_eq!(failed, "0 failed", "{text}");
    assert!(passed.parse::<u32>().expect("a count") > 200, "{last}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_failing_file_is_named_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("wrong.data"), "-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
        .expect("write");
    std::fs::write(dir.path().join("right.data"), "-- asm\nmov %r0, 2\nexit\n-- result\n0x2\n")
        .expect("write");
    let out = bpfpatch(&["conformance", dir.path().to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL") && text.contains("wrong.data") && text.ends_with("1 passed, 1 failed\n"),
        "{text}"
    );
}
