//! `bpfpatch asm FILE.s -o FILE.bin`: assemble llvm-objdump-19 syntax (plus labels) into a raw
//! little-endian instruction stream.

use std::path::PathBuf;

use anyhow::Context;
use bpf_patch::insn::{slots_to_bytes, Endian};

use crate::output::write_atomic;
use crate::Status;

/// Arguments of `bpfpatch asm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Assembly source, one instruction or label per line (`-` reads standard input).
    pub input: PathBuf,
    /// Where to write the raw instruction stream (8 bytes per slot).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Write big-endian slots instead of little-endian.
    #[arg(long)]
    pub big_endian: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> anyhow::Result<Status> {
    let src = super::read_text(&args.input)?;
    let insns = bpf_patch::text::assemble(&src).with_context(|| format!("{}", args.input.display()))?;
    let endian = if args.big_endian { Endian::Big } else { Endian::Little };
    write_atomic(&args.output, &slots_to_bytes(&insns, endian))?;
    Ok(Status::Ok)
}
