//! `bpfpatch dump` and `bpfpatch patch` on the committed testdata objects.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::testdata;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn dump_json(path: &Path) -> serde_json::Value {
    let out = bpfpatch(&["dump", "--json", s(path)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("dump --json prints JSON")
}

/// The instruction texts of one program of a `dump --json` document.
fn program_texts(doc: &serde_json::Value, name: &str) -> Vec<String> {
    let program =
        doc["programs"].as_array().expect("programs").iter().find(|p| p["name"] == name).expect("program");
    program["insns"]
        .as_array()
        .expect("insns")
        .iter()
        .filter_map(|i| i["text"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn dump_lists_programs_sharing_a_section_with_relocations_and_line_info() {
    let doc = dump_json(&testdata("xdp_parse.v4.o"));
    let programs = doc["programs"].as_array().expect("programs");
    let xdp: Vec<&str> =
        programs.iter().filter(|p| p["section"] == "xdp").filter_map(|p| p["name"].as_str()).collect();
    assert!(xdp.contains(&"xdp_parse") && xdp.contains(&"xdp_pass"), "{xdp:?}");
    let parse = programs.iter().find(|p| p["name"] == "xdp_parse").expect("xdp_parse");
    let insns = parse["insns"].as_array().expect("insns");
    assert_eq!(insns[0]["index"], 0);
    let relocated: Vec<&serde_json::Value> =
        insns.iter().filter(|i| !i["relocations"].as_array().expect("array").is_empty()).collect();
    let all_kinds: Vec<&serde_json::Value> = programs
        .iter()
        .flat_map(|p| p["insns"].as_array().expect("insns"))
        .flat_map(|i| i["relocations"].as_array().expect("relocations"))
        .map(|r| &r["kind"])
        .collect();
    assert!(all_kinds.iter().any(|k| *k == "map"), "no map relocation in the object");
    assert!(relocated.iter().any(|i| i["relocations"][0]["kind"] == "call"), "no bpf-to-bpf call relocation");
    assert!(
        insns.iter().any(|i| i["btf_ext"].as_array().expect("array").iter().any(|r| r.get("line").is_some())),
        "no line info"
    );
}

#[test]
fn patch_without_edits_round_trips_and_with_edits_inserts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = testdata("xdp_parse.v3.o");
    let same = dir.path().join("same.o");
    assert!(bpfpatch(&["patch", s(&input), "-o", s(&same)]).status.success());
    let (mut a, mut b) = (dump_json(&input), dump_json(&same));
    a["file"] = serde_json::Value::Null;
    b["file"] = serde_json::Value::Null;
    assert_eq!(a, b, "the round trip changed the object");

    let edited = dir.path().join("edited.o");
    let out = bpfpatch(&[
        "patch",
        s(&input),
        "-o",
        s(&edited),
        "--prog",
        "xdp_parse",
        "--insert-before",
        "2",
        "--asm",
        "goto +0x0",
        "--asm",
        "r0 = r0",
        "--delete",
        "0",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let texts = program_texts(&dump_json(&edited), "xdp_parse");
    let orig_texts = program_texts(&a, "xdp_parse");
    assert_eq!(&texts[0..3], &[orig_texts[1].as_str(), "goto +0x0", "r0 = r0"]);
    assert_eq!(texts.len(), orig_texts.len() + 1);
}

#[test]
fn bad_objects_and_bad_edits_exit_2_naming_the_problem_and_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.o");
    std::fs::write(&junk, b"\x7fELF this is not an object").expect("write");
    let out = bpfpatch(&["dump", s(&junk)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.o"));
    let target = dir.path().join("out.o");
    let cases: &[&[&str]] = &[
        &["--prog", "nope", "--delete", "0"],
        &["--prog", "xdp_parse", "--replace", "9999", "--asm", "exit"],
        &["--prog", "xdp_parse", "--insert-after", "1", "--asm", "r0 = frob"],
        &["--prog", "xdp_parse", "--insert-after", "1"],
    ];
    let input = testdata("xdp_parse.v3.o");
    for extra in cases {
        let mut args = vec!["patch", s(&input), "-o", s(&target)];
        args.extend_from_slice(extra);
        let out = bpfpatch(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(!target.exists(), "{extra:?}: partial output");
        assert!(!out.stderr.is_empty(), "{extra:?}: no message");
    }
}

/// The listing of a program, reviewed: llvm-objdump-19 text, relocations as `llvm-objdump -r`
/// prints them, source lines from `.BTF.ext`.
#[test]
fn dump_listing_snapshot() {
    let path = testdata("xdp_parse.v3.o");
    let out = bpfpatch(&["dump", s(&path), "--prog", "xdp_parse"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).replace(s(&path), "testdata/obj/xdp_parse.v3.o");
    insta::with_settings!({ snapshot_path => "../../../snapshots/cli", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("dump_xdp_parse_v3", text);
    });
}
