//! `bpfpatch run`: programs of the committed testdata objects in the interpreter, and its errors.

mod common;

use std::process::{Command, Output};

use common::testdata;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn runs_a_program_with_a_subprogram_and_a_map() {
    let obj = testdata("xdp_parse.v3.o");
    let out = bpfpatch(&["run", obj.to_str().expect("utf-8"), "--prog", "xdp_pass", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["return"], 2);
    assert_eq!(v["return_name"], "XDP_PASS");
    assert_eq!(v["packet"], bpfpatch::cmd::run::DEFAULT_FRAME.replace(' ', ""));
    assert_eq!(v["metadata"], "");
    // xdp_pass calls count_action, which looks up and increments a map value.
    assert!(v["instructions"].as_u64().is_some_and(|n| n > 8), "{v}");
    assert_eq!(v["trace"].as_array().map(Vec::len), Some(0));
}

#[test]
fn trace_shows_each_step_and_the_function_it_is_in() {
    let obj = testdata("xdp_parse.v3.o");
    let out =
        bpfpatch(&["run", obj.to_str().expect("utf-8"), "--prog", "xdp_pass", "--trace", "--repeat", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"; xdp_pass (xdp_pass)"), "{stdout}");
    assert!(lines.contains(&"; count_action (xdp_pass)"), "{stdout}");
    let steps = lines.iter().filter(|l| l.contains(": ") && l.starts_with(' ')).count();
    let insns: usize = lines
        .iter()
        .find_map(|l| l.strip_prefix("instructions: "))
        .and_then(|n| n.parse().ok())
        .expect("instruction count");
    assert_eq!(steps, insns, "one trace line per executed instruction:\n{stdout}");
    // The counter the subprogram increments lives in a map that keeps its value across runs:
    // the third run loads 2 and stores 3.
    assert!(stdout.contains("r1=0x3"), "{stdout}");
    assert!(stdout.contains("runs: 3,"), "{stdout}");
    assert!(stdout.contains("return: 2 (XDP_PASS)"), "{stdout}");
}

#[test]
fn bad_input_is_exit_2_naming_what_is_wrong() {
    let obj = testdata("xdp_parse.v3.o");
    let obj = obj.to_str().expect("utf-8");
    let cases: [(&[&str], &str); 4] = [
        (&["run", obj, "--prog", "nope"], "no program nope (programs: "),
        (&["run", obj], "choose one with --prog"),
        (&["run", obj, "--prog", "xdp_pass", "--packet", "0g"], "--packet"),
        (&["run", "Cargo.toml", "--prog", "x"], "Cargo.toml"),
    ];
    for (args, expected) in cases {
        let out = bpfpatch(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: no partial output");
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
    }
}
