//! Replays every committed fuzz seed (`fuzz/seeds/<target>/*`) through the fuzz target bodies, so
//! the inputs that once found bugs keep being checked without a fuzzer.

use std::path::Path;

#[allow(clippy::print_stderr)]
fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        body(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        n += 1;
    }
    eprintln!("replayed {n} seeds of fuzz target `{target}`");
    assert!(n > 0, "no seeds for {target} in {}", dir.display());
}

#[test]
fn decode_seeds() {
    replay("decode", bpf_patch::fuzz::decode);
}

#[test]
fn assemble_seeds() {
    replay("assemble", bpf_patch::fuzz::assemble);
}

#[test]
fn edit_seeds() {
    replay("edit", bpf_patch::fuzz::edit);
}
