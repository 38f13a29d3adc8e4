//! Runs every bpf_conformance `.data` file under `<shared>/corpus/bpf-conformance` and requires
//! all of them to pass (positive tests give the expected result, negative tests are refused).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use bpf_verifier_model::conformance::run_dir;

fn shared() -> PathBuf {
    std::env::var_os("BPFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

#[test]
fn bpf_conformance_suite_passes() {
    let dir = shared().join("corpus/bpf-conformance");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "BPFPATCH_REQUIRE_CORPUS=1 but {} is absent",
            dir.display()
        );
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let results = run_dir(&dir).expect("the corpus is readable");
    let mut per_dir: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (path, outcome) in &results {
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let entry = per_dir.entry(parent).or_default();
        if outcome.passed {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            failures.push(format!("{}: {}", path.display(), outcome.observed));
        }
    }
    for f in &failures {
        println!("FAILED {f}");
    }
    for (d, (p, f)) in &per_dir {
        println!("{d}: {p} passed, {f} failed");
    }
    let passed = results.iter().filter(|(_, o)| o.passed).count();
    println!("{passed} passed, {} failed", results.len() - passed);
    assert!(results.len() > 200, "expected the whole suite, found {} files", results.len());
    assert!(failures.is_empty(), "{} conformance tests failed", failures.len());
}
