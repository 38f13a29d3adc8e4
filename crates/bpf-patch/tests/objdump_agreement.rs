//! Our disassembly against llvm-objdump-19's on every code section of every object in
//! `../shared/corpus` and `testdata/`, instruction by instruction.
//!
//! llvm-objdump-19 without `--mcpu` prints some 32-bit atomics as `<unknown>` or drops their
//! fetch bit; for those (and only those) our text must equal its `--mcpu=v4` output instead.
//! Branch annotations (`<sym+0x10>`) depend on the symbol table and are compared without it.
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bpf_patch::insn::{slots_from_bytes, Endian};
use bpf_patch::op::{decode_all, AtomicOp, Op, Size};
use bpf_patch::text::{format_op, Syntax};
use object::{Object, ObjectSection, SectionKind};

/// llvm-objdump's text per section name and slot.
type Listing = BTreeMap<String, BTreeMap<u64, String>>;

fn objdump(tool: &Path, file: &Path, extra: &[&str]) -> Result<Listing, String> {
    let out = Command::new(tool)
        .args(["-d", "--no-show-raw-insn"])
        .args(extra)
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let mut listing = Listing::new();
    let mut section = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = line.strip_prefix("Disassembly of section ").and_then(|l| l.strip_suffix(':')) {
            section = Some(name.to_owned());
            continue;
        }
        let Some(sec) = &section else { continue };
        let Some((idx, text)) = line.split_once(":\t") else { continue };
        let Ok(idx) = idx.trim().parse::<u64>() else { continue };
        let text = match text.rfind(" <") {
            Some(i) if text.ends_with('>') && text.contains("goto") => &text[..i],
            _ => text,
        };
        listing.entry(sec.clone()).or_default().insert(idx, text.to_owned());
    }
    Ok(listing)
}

/// Encodings llvm-objdump-19 cannot print without `--mcpu`.
fn needs_mcpu(op: &Op) -> bool {
    matches!(op, Op::Atomic { size: Size::W, op, .. } if *op != AtomicOp::Add { fetch: false })
}

#[test]
fn disassembly_agrees_with_llvm_objdump_19() {
    let Some(files) = common::corpus_objects() else { return };
    let Some(tool) = common::tool("llvm-objdump-19") else { return };
    let (mut insns, mut sections, mut objects) = (0usize, 0usize, 0usize);
    let mut skipped = Vec::new();
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let elf = match object::File::parse(&*bytes) {
            Ok(elf) => elf,
            Err(e) => {
                skipped.push(format!("{}: object cannot parse it: {e}", file.display()));
                continue;
            }
        };
        let endian = if elf.is_little_endian() { Endian::Little } else { Endian::Big };
        // Objects with `e_machine = 0` need the target spelled out.
        let triple = if elf.is_little_endian() { "--triple=bpfel" } else { "--triple=bpfeb" };
        let llvm = match objdump(&tool, file, &[]).or_else(|_| objdump(&tool, file, &[triple])) {
            Ok(l) => l,
            Err(e) => {
                skipped.push(format!("{}: llvm-objdump-19 cannot read it: {e}", file.display()));
                continue;
            }
        };
        let mut v4: Option<Listing> = None;
        objects += 1;
        for section in elf.sections() {
            let executable = section.kind() == SectionKind::Text;
            let Ok(name) = section.name() else { continue };
            let Ok(data) = section.data() else { continue };
            if !executable || data.is_empty() {
                continue;
            }
            let where_ = format!("{} section {name}", file.display());
            let ours = match slots_from_bytes(data, endian)
                .map_err(|e| e.to_string())
                .and_then(|s| decode_all(&s).map_err(|e| e.to_string()))
            {
                Ok(ops) => ops,
                // Deliberately broken objects may hold encodings the kernel rejects; refusing them
                // with the slot is the specified behaviour there, and a bug anywhere else.
                Err(e) if file.components().any(|c| c.as_os_str() == "invalid") => {
                    refused.push(format!("{where_}: {e}"));
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{where_}: we cannot decode what llvm-objdump prints: {e}"));
                    continue;
                }
            };
            let Some(theirs) = llvm.get(name) else {
                failures.push(format!("{where_}: llvm-objdump printed no such section"));
                continue;
            };
            sections += 1;
            for (slot, op) in &ours {
                insns += 1;
                let text = format_op(op, Syntax::Llvm);
                let idx = u64::from(slot.0);
                let mut want = theirs.get(&idx).cloned().unwrap_or_default();
                if text != want && needs_mcpu(op) {
                    let v4 =
                        v4.get_or_insert_with(|| objdump(&tool, file, &["--mcpu=v4"]).unwrap_or_default());
                    want = v4.get(name).and_then(|s| s.get(&idx)).cloned().unwrap_or_default();
                }
                if text != want {
                    failures.push(format!("{where_} slot {idx}: ours `{text}`, llvm-objdump-19 `{want}`"));
                }
            }
            if ours.len() != theirs.len() {
                failures.push(format!(
                    "{where_}: {} instructions here, {} in llvm-objdump's listing",
                    ours.len(),
                    theirs.len()
                ));
            }
        }
    }
    eprintln!(
        "compared {insns} instructions in {sections} sections of {objects} objects with llvm-objdump-19"
    );
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    for r in &refused {
        eprintln!("refused (invalid encoding in a deliberately broken object): {r}");
    }
    assert!(objects > 0 && insns > 0, "nothing compared");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
