//! One module per `bpfpatch` command: argument struct plus a `run` that calls the libraries and
//! renders their results.

pub mod asm;
pub mod check;
pub mod conformance;
pub mod disasm;
pub mod dump;
#[cfg(feature = "kernel")]
pub mod load;
pub mod patch;
pub mod run;

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// Reads a whole input file, or standard input for `-`.
pub(crate) fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Reads a whole UTF-8 input file, or standard input for `-`.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", path.display()))
}
