//! One module per `bpfpatch` command: argument struct plus a `run` that calls the libraries and
//! renders their results.

pub mod asm;
pub mod check;
pub mod conformance;
pub mod diff;
pub mod disasm;
pub mod drivers;
pub mod dump;
#[cfg(feature = "kernel")]
pub mod load;
pub mod patch;
pub mod run;
pub mod unroll;
pub mod unrolled;

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

/// Parses hex bytes: whitespace and `:` separators and an optional `0x` are ignored.
pub fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = s
        .trim()
        .trim_start_matches("0x")
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b':')
        .collect();
    if let Some(bad) = digits.iter().position(|c| !c.is_ascii_hexdigit()) {
        anyhow::bail!("hex data has a non-hex character at digit {bad}");
    }
    if digits.len() % 2 != 0 {
        anyhow::bail!("hex data has an odd number of digits ({})", digits.len());
    }
    let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    Ok(digits.chunks(2).map(|p| (nibble(p[0]) << 4) | nibble(p[1])).collect())
}

/// Reads a whole UTF-8 input file, or standard input for `-`.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", path.display()))
}
