//! `bpfpatch diff` on the committed testdata objects and on `bpfpatch patch` output.
#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{testdata, testdata_objects};
use serde_json::Value;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("diff --json prints JSON")
}

fn rows(program: &Value) -> &Vec<Value> {
    program["rows"].as_array().expect("rows")
}

#[test]
fn an_object_against_itself_is_all_same() {
    let objects = testdata_objects();
    assert!(!objects.is_empty(), "no testdata objects");
    let mut insns = 0;
    for obj in &objects {
        let out = bpfpatch(&["diff", "--json", s(obj), s(obj)]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", obj.display(), String::from_utf8_lossy(&out.stderr));
        let doc = json_of(&out);
        for p in doc["programs"].as_array().expect("programs") {
            assert_eq!(p["status"], "same", "{}: {}", obj.display(), p["name"]);
            assert_eq!(
                (p["inserted"].as_u64(), p["removed"].as_u64(), p["changed"].as_u64()),
                (Some(0), Some(0), Some(0))
            );
            for r in rows(p) {
                assert_eq!(r["op"], "same");
                assert_eq!(r["old"], r["new"]);
                insns += 1;
            }
        }
        let text = bpfpatch(&["diff", s(obj), s(obj)]);
        assert_eq!(text.status.code(), Some(0));
        let text = String::from_utf8(text.stdout).expect("utf-8");
        // Programs that are the same get their header line only.
        assert!(text.lines().all(|l| !l.starts_with("= ")), "{text}");
        assert!(text.contains(": same ("), "{text}");
    }
    eprintln!("diffed {} objects against themselves: {insns} instructions, all same", objects.len());
}

#[test]
fn a_patched_object_shows_exactly_its_edits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = testdata("xdp_parse.v3.o");
    let edited = dir.path().join("edited.o");
    let patch = bpfpatch(&[
        "patch",
        s(&input),
        "-o",
        s(&edited),
        "--prog",
        "xdp_parse",
        "--insert-before",
        "5",
        "--asm",
        "r0 = 0x0",
        "--delete",
        "7",
    ]);
    assert!(patch.status.success(), "{}", String::from_utf8_lossy(&patch.stderr));

    let out = bpfpatch(&["diff", "--json", s(&input), s(&edited)]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&out);
    let programs = doc["programs"].as_array().expect("programs");
    let parse = programs.iter().find(|p| p["name"] == "xdp_parse").expect("xdp_parse");
    assert_eq!(parse["status"], "changed");
    assert_eq!(
        (parse["inserted"].as_u64(), parse["removed"].as_u64(), parse["changed"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    let mut shifted_jumps = 0;
    for r in rows(parse) {
        match r["op"].as_str() {
            Some("inserted") => {
                assert_eq!(r["new"]["insn"], 5);
                assert_eq!(r["new"]["text"], "r0 = 0x0");
                assert!(r["old"].is_null());
            }
            Some("removed") => {
                assert_eq!(r["old"]["insn"], 7);
                assert!(r["new"].is_null());
            }
            Some("same") => {
                let (o, n) = (&r["old"], &r["new"]);
                if o["text"] != n["text"] {
                    // Only a jump across the edits may read differently: its offset moved.
                    assert!(o["text"].as_str().expect("text").contains("goto"), "{r}");
                    shifted_jumps += 1;
                }
            }
            other => panic!("unexpected row {other:?}: {r}"),
        }
    }
    assert!(shifted_jumps > 0, "no jump crosses the edits; the test does not exercise re-targeting");
    for p in programs.iter().filter(|p| p["name"] != "xdp_parse") {
        assert_eq!(p["status"], "same", "{}", p["name"]);
    }

    // --prog picks one program; the text form has the markers and the summary.
    let text = bpfpatch(&["diff", "--prog", "xdp_parse", s(&input), s(&edited)]);
    assert_eq!(text.status.code(), Some(1));
    let text = String::from_utf8(text.stdout).expect("utf-8");
    assert!(text.contains("<xdp_parse>: 1 inserted, 1 removed, 0 changed"), "{text}");
    assert!(text.lines().any(|l| l.starts_with('+') && l.ends_with("    5: r0 = 0x0")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("-     7: ")), "{text}");
    assert_eq!(text.matches("\n<").count() + usize::from(text.starts_with('<')), 2, "one program: {text}");
    let text = text.replace(s(&input), "testdata/obj/xdp_parse.v3.o").replace(s(&edited), "edited.o");
    insta::with_settings!({ snapshot_path => "../../../snapshots/cli", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("diff_xdp_parse_v3_patched", text);
    });
}

#[test]
fn programs_in_one_object_only_are_added_or_removed() {
    let (a, b) = (testdata("alu.v3.o"), testdata("xdp_parse.v3.o"));
    let out = bpfpatch(&["diff", "--json", s(&a), s(&b)]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let programs = doc["programs"].as_array().expect("programs");
    let parse = programs.iter().find(|p| p["name"] == "xdp_parse").expect("xdp_parse");
    assert_eq!(parse["status"], "added");
    assert!(rows(parse).iter().all(|r| r["op"] == "inserted" && r["old"].is_null()));
    assert_eq!(parse["inserted"].as_u64(), Some(rows(parse).len() as u64));
    assert!(programs.iter().any(|p| p["status"] == "removed"));
}

#[test]
fn bad_input_exits_2_naming_the_file_with_no_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = testdata("xdp_parse.v3.o");
    let garbage = dir.path().join("garbage.o");
    std::fs::write(&garbage, b"not an ELF file").expect("write");
    let missing = dir.path().join("missing.o");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec![s(&good), s(&missing)], "missing.o"),
        (vec![s(&garbage), s(&good)], "garbage.o"),
        (vec![s(&good), s(&garbage), "--json"], "garbage.o"),
        (vec![s(&good), s(&good), "--prog", "no_such_prog"], "no_such_prog"),
    ];
    for (args, named) in cases {
        let out = bpfpatch(&[&["diff"], args.as_slice()].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: partial output");
    }
}
