//! The abstract verifier against `ebpf-samples/elf_inventory.json`, PREVAIL's expected verdict
//! for every (object, section, function) of the ebpf-samples corpus, including the objects
//! libbpf cannot load (legacy `maps` sections) and functions in `.text`. Every function is
//! checked as an entry program, typed as a pre-libbpf loader would
//! (`ProgType::of_legacy_section`). What must hold: nothing the inventory marks `reject` or
//! `reject_load` is accepted. What should hold, and is counted: `pass` and `expected_failure`
//! (PREVAIL's own imprecision; the kernel accepts) are accepted. The table of every entry is
//! written to `$CARGO_TARGET_TMPDIR/elf-inventory.tsv`.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use bpf_patch::elf::BpfObject;
use bpf_verifier_model::load::{LoadOptions, VMLINUX_BTF};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::object::{check_object_with, CheckOptions, ProgramCheck};
use serde_json::Value;

fn samples() -> Option<PathBuf> {
    let shared = std::env::var_os("BPFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("corpus/ebpf-samples");
    if dir.join("elf_inventory.json").is_file() {
        return Some(dir);
    }
    if std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_some_and(|v| v == "1") {
        panic!("BPFPATCH_REQUIRE_CORPUS=1 but {}/elf_inventory.json is absent", dir.display());
    }
    println!("skipping: {}/elf_inventory.json is absent (set BPFPATCH_SHARED)", dir.display());
    None
}

/// One expectation of the inventory.
struct Entry {
    object: String,
    section: String,
    function: String,
    /// `pass`, `reject`, `reject_load` or `expected_failure`.
    status: String,
}

fn entries(inventory: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    for (project, p) in inventory["projects"].as_object().expect("projects is an object") {
        for (object, o) in p["objects"].as_object().expect("objects is an object") {
            let overrides = &o["test_overrides"];
            for (section, functions) in o["sections"].as_object().expect("sections is an object") {
                for f in functions.as_array().expect("a section lists functions") {
                    let function = f["function"].as_str().expect("function name").to_owned();
                    let default = if f["reject_load"] == true { "reject_load" } else { "pass" };
                    let status = overrides["programs"][section.as_str()][function.as_str()]["status"]
                        .as_str()
                        .or_else(|| overrides["sections"][section.as_str()]["status"].as_str())
                        .unwrap_or(default)
                        .to_owned();
                    out.push(Entry {
                        object: format!("{project}/{object}"),
                        section: section.clone(),
                        function,
                        status,
                    });
                }
            }
        }
    }
    out
}

/// Our verdict on an entry: `accept`, `reject`, `unknown` (not modelled), `load-error` (our
/// loader refused the object or program), or `absent` (no such function in the object).
fn ours(checks: &Result<Vec<ProgramCheck>, String>, e: &Entry) -> (&'static str, String) {
    let checks = match checks {
        Ok(c) => c,
        Err(why) => return ("load-error", why.clone()),
    };
    let Some(c) = checks.iter().find(|c| c.name == e.function) else { return ("absent", String::new()) };
    match &c.report {
        Ok(r) => match &r.outcome {
            Outcome::Accept => ("accept", String::new()),
            Outcome::Reject(d) => ("reject", format!("insn {}: {}", d.insn, d.message)),
            Outcome::Unsupported { what, .. } => ("unknown", what.clone()),
        },
        Err(why) => ("load-error", why.clone()),
    }
}

fn check(path: &std::path::Path) -> Result<Vec<ProgramCheck>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let obj = BpfObject::parse(&bytes).map_err(|e| e.to_string())?;
    let mut options = LoadOptions { all_functions: true, ..LoadOptions::default() };
    if LoadOptions::has_core(&obj).map_err(|e| e.to_string())? {
        let btf = std::path::Path::new(VMLINUX_BTF);
        options = LoadOptions {
            all_functions: true,
            ..LoadOptions::for_btf(&obj, btf).map_err(|e| e.to_string())?
        };
    }
    let check = CheckOptions { legacy_sections: true, ..CheckOptions::default() };
    check_object_with(&obj, &options, &check).map_err(|e| e.to_string())
}

#[test]
fn nothing_the_inventory_rejects_is_accepted() {
    let Some(dir) = samples() else { return };
    let text = std::fs::read_to_string(dir.join("elf_inventory.json")).expect("readable inventory");
    let inventory: Value = serde_json::from_str(&text).expect("the inventory is JSON");
    let all = entries(&inventory);
    let present: Vec<&Entry> = all.iter().filter(|e| dir.join(&e.object).is_file()).collect();
    assert!(!present.is_empty(), "no inventory object is in {}", dir.display());
    let mut results: BTreeMap<&str, Result<Vec<ProgramCheck>, String>> = BTreeMap::new();
    for e in &present {
        results.entry(&e.object).or_insert_with(|| check(&dir.join(&e.object)));
    }
    let mut table = String::from("object\tsection\tfunction\texpected\tours\tdetail\n");
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut wrong_accepts = Vec::new();
    for e in &present {
        let (v, detail) = ours(&results[e.object.as_str()], e);
        let _ = writeln!(table, "{}\t{}\t{}\t{}\t{v}\t{detail}", e.object, e.section, e.function, e.status);
        *counts.entry((e.status.as_str(), v)).or_default() += 1;
        if v == "accept" && e.status.starts_with("reject") {
            wrong_accepts.push(format!("{} {} {}", e.object, e.section, e.function));
        }
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("elf-inventory.tsv");
    std::fs::write(&out, table).expect("write the table");
    println!(
        "elf_inventory: {} entries, {} in objects present ({} objects); table in {}",
        all.len(),
        present.len(),
        results.len(),
        out.display()
    );
    let verdicts = ["accept", "reject", "unknown", "load-error", "absent"];
    println!("{:<18}{}", "expected \\ ours", verdicts.map(|v| format!("{v:>11}")).join(""));
    for status in ["pass", "expected_failure", "reject", "reject_load"] {
        let row =
            verdicts.map(|v| format!("{:>11}", counts.get(&(status, v)).copied().unwrap_or(0))).join("");
        println!("{status:<18}{row}");
    }
    assert!(wrong_accepts.is_empty(), "accepted what the inventory rejects: {wrong_accepts:?}");
    let decided_rejects = counts.get(&("reject", "reject")).copied().unwrap_or(0)
        + counts.get(&("reject", "load-error")).copied().unwrap_or(0);
    assert!(decided_rejects > 0, "no `reject` entry was decided: the comparison is not running");
}
