//! Runs every bpf_conformance `.data` file from the shared corpus through the interpreter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bpf_verifier_model::conformance::run_dir;

fn corpus() -> Option<PathBuf> {
    let shared = std::env::var_os("BPFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("corpus/bpf-conformance");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_some_and(|v| v == "1") {
        panic!("BPFPATCH_REQUIRE_CORPUS=1 but {} is absent", dir.display());
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipping: {} is absent (set BPFPATCH_SHARED)", dir.display());
    }
    None
}

#[test]
#[allow(clippy::print_stdout)]
fn every_conformance_file_gives_its_expected_outcome() {
    let Some(dir) = corpus() else { return };
    let outcomes = run_dir(&dir).expect("the corpus directory is readable");
    let mut per_dir: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let parent =
            o.path.parent().and_then(|p| p.file_name()).map_or(String::new(), |n| n.to_string_lossy().into());
        let e = per_dir.entry(parent).or_default();
        if o.passed {
            e.0 += 1;
        } else {
            e.1 += 1;
            println!(
                "FAIL {}: {:?} (expected result {:?}, error {:?})",
                o.path.display(),
                o.observed,
                o.expected_result,
                o.expected_error
            );
        }
    }
    for (d, (p, f)) in &per_dir {
        println!("{d}: {p} passed, {f} failed");
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!("{} passed, {} failed", outcomes.len() - failed, failed);
    assert!(outcomes.len() >= 200, "only {} files found", outcomes.len());
    assert_eq!(failed, 0);
}
