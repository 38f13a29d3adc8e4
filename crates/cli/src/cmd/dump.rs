//! `bpfpatch dump OBJ [--prog NAME] [--json]`: sections, programs, and each program's
//! disassembly in llvm-objdump-19 syntax, interleaved with its relocations (as `llvm-objdump -r`
//! prints them), source lines and CO-RE relocations from `.BTF.ext`. Indexes are 8-byte slots
//! from the program's first instruction.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use bpf_patch::elf::{BpfObject, ExtRecord, RelocKind};
use bpf_patch::op::decode_all;
use bpf_patch::text::{format_op, Syntax};
use serde_json::{json, Value};

use crate::Status;

/// Arguments of `bpfpatch dump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF ELF object.
    pub object: PathBuf,
    /// Only this program (function name).
    #[arg(long)]
    pub prog: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn reloc_type(r_type: u32) -> String {
    match r_type {
        bpf_patch::elf::R_BPF_64_64 => "R_BPF_64_64".into(),
        bpf_patch::elf::R_BPF_64_ABS64 => "R_BPF_64_ABS64".into(),
        bpf_patch::elf::R_BPF_64_ABS32 => "R_BPF_64_ABS32".into(),
        bpf_patch::elf::R_BPF_64_NODYLD32 => "R_BPF_64_NODYLD32".into(),
        bpf_patch::elf::R_BPF_64_32 => "R_BPF_64_32".into(),
        other => format!("R_BPF_{other}"),
    }
}

fn kind_name(k: RelocKind) -> &'static str {
    match k {
        RelocKind::Map => "map",
        RelocKind::Data => "data",
        RelocKind::FuncAddr => "func_addr",
        RelocKind::ExternVar => "extern_var",
        RelocKind::Call => "call",
        RelocKind::Kfunc => "kfunc",
        RelocKind::Other(_) => "other",
    }
}

fn record_json(r: &ExtRecord) -> Value {
    match r {
        ExtRecord::Func { type_id, name } => json!({"func": {"type_id": type_id, "name": name}}),
        ExtRecord::Line { file, line, col, text } => {
            json!({"line": {"file": file, "line": line, "col": col, "text": text}})
        }
        ExtRecord::CoreRelo { type_id, type_name, access, kind } => {
            json!({"core_relo": {"type_id": type_id, "type": type_name, "access": access, "kind": kind}})
        }
    }
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let file = args.object.display().to_string();
    let bytes = std::fs::read(&args.object).with_context(|| format!("{file}: cannot read"))?;
    let obj = BpfObject::parse(&bytes).with_context(|| file.clone())?;
    let info = obj.ext_info().with_context(|| file.clone())?;
    if let Some(want) = &args.prog {
        obj.program(want).with_context(|| format!("{file}: no program named `{want}`"))?;
    }
    let mut programs = Vec::new();
    let mut text = String::new();
    let endian = if obj.endian == bpf_patch::Endian::Little { "little" } else { "big" };
    let _ = writeln!(
        text,
        "{file}: {endian}-endian BPF object, license {:?}",
        obj.license.as_deref().unwrap_or("")
    );
    for cs in &obj.sections {
        let _ = writeln!(
            text,
            "section {} (index {}): {} slots, {} relocations",
            cs.name,
            cs.index,
            cs.insns.len(),
            cs.relocs.len()
        );
    }
    for p in obj.programs.iter().filter(|p| args.prog.as_deref().is_none_or(|w| w == p.name)) {
        let cs = &obj.sections[p.section];
        let ops = decode_all(obj.insns_of(p)).with_context(|| format!("{file}: program {}", p.name))?;
        let scope = if p.global { "global" } else { "static" };
        let role = if p.entry { "program" } else { "subprogram" };
        let _ = writeln!(
            text,
            "\n<{}> {role}, {scope}, section {}, slots {}..{}:",
            p.name,
            cs.name,
            p.start.0,
            p.start.0 + p.len
        );
        let ext = info.get(&cs.name);
        let mut insns = Vec::with_capacity(ops.len());
        for (slot, op) in ops {
            let abs = bpf_patch::Slot(p.start.0 + slot.0);
            let records = ext.and_then(|m| m.get(&abs)).map(Vec::as_slice).unwrap_or_default();
            for r in records {
                match r {
                    ExtRecord::Func { name, .. } => {
                        let _ = writeln!(text, "; func {name}");
                    }
                    ExtRecord::Line { file, line, col, text: src } => {
                        let _ = writeln!(text, "; {} ({file}:{line}:{col})", src.trim());
                    }
                    ExtRecord::CoreRelo { .. } => {}
                }
            }
            let t = format_op(&op, Syntax::Llvm);
            let _ = writeln!(text, "{:>8}:\t{t}", slot.0);
            let relocs: Vec<_> = cs.relocs.iter().filter(|r| r.slot == abs).collect();
            for r in &relocs {
                let target = if r.symbol.is_empty() {
                    r.target_section.clone().unwrap_or_default()
                } else {
                    r.symbol.clone()
                };
                let _ = writeln!(text, "\t\t{:016x}:  {}\t{target}", abs.byte_offset(), reloc_type(r.r_type));
            }
            for r in records {
                if let ExtRecord::CoreRelo { type_id, type_name, access, kind } = r {
                    let _ = writeln!(
                        text,
                        "\t\t{:016x}:  CO-RE kind {kind} [{type_id}] {type_name} ({access})",
                        abs.byte_offset()
                    );
                }
            }
            insns.push(json!({
                "index": slot.0,
                "text": t,
                "relocations": relocs.iter().map(|r| json!({"type": reloc_type(r.r_type), "symbol": r.symbol, "section": r.target_section, "kind": kind_name(r.kind)})).collect::<Vec<_>>(),
                "btf_ext": records.iter().map(record_json).collect::<Vec<_>>(),
            }));
        }
        programs.push(json!({
            "name": p.name, "section": cs.name, "start": p.start.0, "len": p.len,
            "global": p.global, "entry": p.entry, "insns": insns,
        }));
    }
    if args.json {
        let sections: Vec<Value> = obj
            .sections
            .iter()
            .map(|c| json!({"name": c.name, "index": c.index, "slots": c.insns.len()}))
            .collect();
        let doc = json!({"file": file, "endian": endian, "license": obj.license, "sections": sections, "programs": programs});
        text = serde_json::to_string_pretty(&doc)? + "\n";
    }
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(Status::Ok)
}
