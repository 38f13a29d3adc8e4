//! `bpfpatch diff OLD NEW [--prog NAME] [--json]`: two objects' programs side by side, one row
//! per instruction, aligned across inserted and removed instructions by [`bpf_patch::diff`]
//! (jumps whose offsets only moved with the code count as the same). Programs are matched by
//! function name; one present in only one object is reported as removed or added. Indexes are
//! 8-byte slots from the program's first instruction, as `dump` prints them. The text form
//! prints rows only for programs that differ (a program that is the same gets its header line);
//! the JSON form always has every row.
//!
//! Only instructions are compared, not relocations, `.BTF.ext` records or data sections. Exit
//! code 0 when every program is the same, 1 when something differs, 2 on bad input.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bpf_patch::diff::{diff, Diff, Row, Summary};
use bpf_patch::elf::BpfObject;
use bpf_patch::op::{decode_all, Op};
use bpf_patch::text::{format_op, Syntax};
use bpf_patch::Slot;
use serde_json::{json, Value};

use crate::Status;

/// Arguments of `bpfpatch diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old BPF ELF object.
    pub old: PathBuf,
    /// The new BPF ELF object.
    pub new: PathBuf,
    /// Only this program (function name).
    #[arg(long)]
    pub prog: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The decoded programs of one object, by name in object order.
struct Programs {
    file: String,
    list: Vec<(String, Vec<(Slot, Op)>)>,
}

impl Programs {
    fn read(path: &Path) -> anyhow::Result<Programs> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("{file}: cannot read"))?;
        let obj = BpfObject::parse(&bytes).with_context(|| file.clone())?;
        let mut list = Vec::with_capacity(obj.programs.len());
        for p in &obj.programs {
            let ops = decode_all(obj.insns_of(p)).with_context(|| format!("{file}: program {}", p.name))?;
            list.push((p.name.clone(), ops));
        }
        Ok(Programs { file, list })
    }

    fn get(&self, name: &str) -> Option<&[(Slot, Op)]> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, ops)| ops.as_slice())
    }
}

/// One program's comparison.
struct Compared<'a> {
    name: &'a str,
    /// `same`, `changed`, `added` (only in the new object) or `removed` (only in the old one).
    status: &'static str,
    old: &'a [(Slot, Op)],
    new: &'a [(Slot, Op)],
    diff: Diff,
}

fn text_at(ops: &[(Slot, Op)], slot: Slot) -> String {
    ops.binary_search_by_key(&slot, |(s, _)| *s)
        .map(|k| format_op(&ops[k].1, Syntax::Llvm))
        .expect("diff rows name slots of their own program")
}

fn marker(row: &Row) -> (char, &'static str) {
    match row {
        Row::Same(..) => ('=', "same"),
        Row::Changed(..) => ('~', "changed"),
        Row::Removed(_) => ('-', "removed"),
        Row::Inserted(_) => ('+', "inserted"),
    }
}

fn render_text(out: &mut String, c: &Compared<'_>, old_file: &str, new_file: &str) {
    let s = c.diff.summary();
    let _ = match c.status {
        "removed" => writeln!(out, "<{}>: only in {old_file} (removed)", c.name),
        "added" => writeln!(out, "<{}>: only in {new_file} (added)", c.name),
        "same" => writeln!(out, "<{}>: same ({} instructions)\n", c.name, c.old.len()),
        _ => writeln!(out, "<{}>: {} -> {} instructions", c.name, c.old.len(), c.new.len()),
    };
    if c.status == "same" {
        return;
    }
    let cells: Vec<(char, String, String)> = c
        .diff
        .rows
        .iter()
        .map(|row| {
            let cell = |ops: &[(Slot, Op)], slot: Option<Slot>| {
                slot.map(|s| format!("{:>5}: {}", s.0, text_at(ops, s))).unwrap_or_default()
            };
            (marker(row).0, cell(c.old, row.old_slot()), cell(c.new, row.new_slot()))
        })
        .collect();
    let width = cells.iter().map(|(_, l, _)| l.chars().count()).max().unwrap_or(0).min(60);
    for (m, left, right) in cells {
        let line = format!("{m} {left:<width$} | {right}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "<{}>: {}\n", c.name, counts(&s));
}

fn counts(s: &Summary) -> String {
    format!("{} inserted, {} removed, {} changed", s.inserted, s.removed, s.changed)
}

fn render_json(c: &Compared<'_>) -> Value {
    let side = |ops: &[(Slot, Op)], slot: Option<Slot>| match slot {
        Some(s) => json!({"insn": s.0, "text": text_at(ops, s)}),
        None => Value::Null,
    };
    let rows: Vec<Value> = c
        .diff
        .rows
        .iter()
        .map(|row| json!({"op": marker(row).1, "old": side(c.old, row.old_slot()), "new": side(c.new, row.new_slot())}))
        .collect();
    let s = c.diff.summary();
    json!({
        "name": c.name, "status": c.status, "rows": rows,
        "inserted": s.inserted, "removed": s.removed, "changed": s.changed,
    })
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let old = Programs::read(&args.old)?;
    let new = Programs::read(&args.new)?;
    if let Some(want) = &args.prog {
        if old.get(want).is_none() && new.get(want).is_none() {
            bail!("no program named `{want}` in {} or {}", old.file, new.file);
        }
    }
    let mut names: Vec<&str> = old.list.iter().map(|(n, _)| n.as_str()).collect();
    names.extend(new.list.iter().map(|(n, _)| n.as_str()).filter(|n| old.get(n).is_none()));
    names.retain(|n| args.prog.as_deref().is_none_or(|w| w == *n));
    let compared: Vec<Compared<'_>> = names
        .into_iter()
        .map(|name| {
            let (a, b) = (old.get(name), new.get(name));
            let (o, n) = (a.unwrap_or_default(), b.unwrap_or_default());
            let d = diff(o, n);
            let status = match (a, b) {
                (None, _) => "added",
                (_, None) => "removed",
                _ if d.is_identical() => "same",
                _ => "changed",
            };
            Compared { name, status, old: o, new: n, diff: d }
        })
        .collect();
    let differ = compared.iter().any(|c| c.status != "same");
    let text = if args.json {
        let programs: Vec<Value> = compared.iter().map(render_json).collect();
        serde_json::to_string_pretty(&json!({"programs": programs}))? + "\n"
    } else {
        let mut text = format!("--- {}\n+++ {}\n", old.file, new.file);
        for c in &compared {
            render_text(&mut text, c, &old.file, &new.file);
        }
        text
    };
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(if differ { Status::Failed } else { Status::Ok })
}
