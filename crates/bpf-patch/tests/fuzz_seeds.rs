//! Replays every committed fuzz seed (`fuzz/seeds/<target>/*`) through the fuzz target bodies, so
//! the inputs that once found bugs keep being checked without a fuzzer.

mod common;

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

#[test]
fn object_seeds() {
    replay("object", bpf_patch::fuzz::object);
}

/// Every corpus and testdata object through the object fuzz body (no panic, round trip and an
/// insertion hold), plus each one truncated at a few lengths.
#[test]
fn object_body_on_the_corpus() {
    let Some(files) = common::corpus_objects() else { return };
    for f in &files {
        let data = std::fs::read(f).expect("read");
        bpf_patch::fuzz::object(&data);
        for cut in [data.len() / 3, data.len() / 2, data.len().saturating_sub(9)] {
            bpf_patch::fuzz::object(&data[..cut]);
        }
    }
}
