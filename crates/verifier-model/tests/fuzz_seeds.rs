//! Replays the committed seeds of the model's fuzz targets (`fuzz/seeds/verify/`).
#![allow(clippy::print_stderr)]

use std::path::Path;

#[test]
fn verify_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/verify");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        bpf_verifier_model::fuzz::verify_bytes(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
        n += 1;
    }
    eprintln!("replayed {n} seeds of fuzz target `verify`");
    assert!(n >= 20, "seeds missing in {}", dir.display());
}
