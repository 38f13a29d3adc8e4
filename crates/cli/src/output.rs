//! Output files: written to a temporary file beside the target and renamed, so a failed run never
//! leaves partial output and never touches the input.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!("{}: cannot create a temporary file in {}", path.display(), dir.display())
    })?;
    tmp.write_all(bytes).with_context(|| format!("{}: write failed", path.display()))?;
    tmp.as_file().sync_all().with_context(|| format!("{}: sync failed", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("{}: rename failed", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_target_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").expect("seed file");
        write_atomic(&target, b"new contents").expect("write");
        assert_eq!(std::fs::read(&target).expect("read back"), b"new contents");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
    }
}
