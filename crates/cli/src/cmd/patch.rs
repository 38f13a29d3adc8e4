//! `bpfpatch patch OBJ -o OUT --prog NAME (--insert-before N | --insert-after N | --replace N |
//! --delete N) [--asm 'TEXT'] ...`: general-purpose surgery on one program, all edits applied as
//! one batch. With no edit it rewrites the object unchanged (the round trip).
//!
//! Each `--asm` belongs to the edit flag before it; repeat it (or put newlines in it) for
//! several instructions. N is the program-relative index in 8-byte slots, as `dump` prints it.

use std::path::PathBuf;

use anyhow::{bail, Context};
use bpf_patch::elf::{rewrite, ObjectEdits};
use bpf_patch::Slot;
use clap::ArgMatches;

use crate::output::write_atomic;
use crate::Status;

/// Arguments of `bpfpatch patch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF ELF object to read (never modified).
    pub object: PathBuf,
    /// Where to write the rewritten object.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The program (function name) the edits apply to.
    #[arg(long)]
    pub prog: Option<String>,
    /// Insert the following `--asm` code before instruction N.
    #[arg(long, value_name = "N", action = clap::ArgAction::Append)]
    pub insert_before: Vec<u32>,
    /// Insert the following `--asm` code after instruction N.
    #[arg(long, value_name = "N", action = clap::ArgAction::Append)]
    pub insert_after: Vec<u32>,
    /// Replace instruction N with the following `--asm` code.
    #[arg(long, value_name = "N", action = clap::ArgAction::Append)]
    pub replace: Vec<u32>,
    /// Delete instruction N.
    #[arg(long, value_name = "N", action = clap::ArgAction::Append)]
    pub delete: Vec<u32>,
    /// Code for the edit flag before it, in llvm-objdump syntax (newlines separate instructions).
    #[arg(long, value_name = "TEXT", action = clap::ArgAction::Append)]
    pub asm: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Before,
    After,
    Replace,
    Delete,
}

/// The edits in command-line order, each with the `--asm` text that followed it.
fn ordered_edits(m: &ArgMatches) -> anyhow::Result<Vec<(Kind, u32, String)>> {
    let mut flags: Vec<(usize, Kind, u32)> = Vec::new();
    for (id, kind) in [
        ("insert_before", Kind::Before),
        ("insert_after", Kind::After),
        ("replace", Kind::Replace),
        ("delete", Kind::Delete),
    ] {
        if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<u32>(id)) {
            flags.extend(idx.zip(vals).map(|(i, &v)| (i, kind, v)));
        }
    }
    flags.sort_by_key(|f| f.0);
    let mut edits: Vec<(Kind, u32, String)> = flags.iter().map(|&(_, k, n)| (k, n, String::new())).collect();
    if let (Some(idx), Some(vals)) = (m.indices_of("asm"), m.get_many::<String>("asm")) {
        for (i, text) in idx.zip(vals) {
            let owner = flags
                .iter()
                .rposition(|f| f.0 < i)
                .context("--asm must follow an edit flag (--insert-before, --insert-after or --replace)")?;
            let slot = &mut edits[owner].2;
            slot.push_str(text);
            slot.push('\n');
        }
    }
    Ok(edits)
}

/// Runs the command. `matches` are the subcommand's, for the order of the edit flags.
pub fn run(args: &Args, matches: &ArgMatches) -> anyhow::Result<Status> {
    let file = args.object.display().to_string();
    let input = std::fs::read(&args.object).with_context(|| format!("{file}: cannot read"))?;
    let mut edits = ObjectEdits::new();
    for (kind, n, text) in ordered_edits(matches)? {
        let prog = args.prog.as_deref().context("edits need --prog")?;
        let code = bpf_patch::text::assemble(&text).with_context(|| format!("--asm for the edit at {n}"))?;
        if code.is_empty() && kind != Kind::Delete {
            bail!("the edit at instruction {n} has no --asm code");
        }
        let at = Slot(n);
        match kind {
            Kind::Before => edits.insert_before(prog, at, code),
            Kind::After => edits.insert_after(prog, at, code),
            Kind::Replace => edits.replace(prog, at, code),
            Kind::Delete => edits.delete(prog, at),
        };
    }
    let out = rewrite(&input, &edits).with_context(|| file.clone())?;
    write_atomic(&args.output, &out)?;
    Ok(Status::Ok)
}
