//! Shared helpers of the integration tests: where `../shared` and `testdata/` are, and file
//! discovery. A test that needs a missing resource prints why and skips, unless the environment
//! says the resource is required (CI), in which case it fails.
#![allow(dead_code, clippy::print_stderr)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` (or `$BPFPATCH_SHARED`), if present. When absent: `None` after printing why, or
/// a panic under `BPFPATCH_REQUIRE_CORPUS=1`.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BPFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    let why = format!("{} has no corpus/ folder", dir.display());
    assert!(
        std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_none(),
        "BPFPATCH_REQUIRE_CORPUS is set but {why}"
    );
    eprintln!("skipping: {why}");
    None
}

/// Every regular file below `dir`, sorted, following no symlinks.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// True if the file starts with the ELF magic.
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Every ELF file in the corpus and in `testdata/`.
pub fn corpus_objects() -> Option<Vec<PathBuf>> {
    let shared = shared_dir()?;
    let mut files: Vec<PathBuf> = walk(&shared.join("corpus")).into_iter().filter(|p| is_elf(p)).collect();
    files.extend(walk(&repo_root().join("testdata")).into_iter().filter(|p| is_elf(p)));
    Some(files)
}

/// The path of a tool, if it runs. When absent: `None` after printing why, or a panic under
/// `BPFPATCH_REQUIRE_CORPUS=1` (the tools come with the corpus checks).
pub fn tool(name: &str) -> Option<PathBuf> {
    let ok = std::process::Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(PathBuf::from(name));
    }
    assert!(
        std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_none(),
        "BPFPATCH_REQUIRE_CORPUS is set but `{name}` does not run"
    );
    eprintln!("skipping: `{name}` is not installed");
    None
}
