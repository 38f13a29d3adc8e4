//! `bpfpatch disasm FILE.bin`: one `INDEX: TEXT` line per instruction, INDEX in 8-byte slots,
//! TEXT exactly as llvm-objdump-19 prints it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use bpf_patch::insn::{slots_from_bytes, Endian};
use bpf_patch::text::Syntax;

use crate::Status;

/// Arguments of `bpfpatch disasm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Raw instruction stream (a multiple of 8 bytes; `-` reads standard input).
    pub input: PathBuf,
    /// Read big-endian slots instead of little-endian.
    #[arg(long)]
    pub big_endian: bool,
    /// Spell out what llvm-objdump's text drops (`call local`, `call kfunc`, ...), so that the
    /// listing assembles back to the same bytes.
    #[arg(long)]
    pub lossless: bool,
}

/// Runs the command. The whole stream is decoded before anything is printed.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let bytes = super::read_bytes(&args.input)?;
    let endian = if args.big_endian { Endian::Big } else { Endian::Little };
    let name = args.input.display();
    let insns = slots_from_bytes(&bytes, endian).with_context(|| format!("{name}"))?;
    let syntax = if args.lossless { Syntax::Lossless } else { Syntax::Llvm };
    let listing = bpf_patch::text::listing_with(&insns, syntax).with_context(|| format!("{name}"))?;
    out.write_all(listing.as_bytes()).context("writing to standard output")?;
    Ok(Status::Ok)
}
