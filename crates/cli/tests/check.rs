//! `bpfpatch check` as a user drives it: directories, several files with a bad one among them,
//! `--prog-type`, `--log-level 1` and `2`, the summary, exit codes, and with `--kernel` the
//! kernel's verdict under the same forced type.

mod common;

use std::process::{Command, Output};

use common::testdata;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path(name: &str) -> String {
    testdata(name).to_str().expect("utf-8 path").to_owned()
}

#[test]
fn a_directory_is_searched_and_the_summary_counts_every_program() {
    let dir = testdata("");
    let objects = std::fs::read_dir(&dir)
        .expect("testdata/obj")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "o")));
    let n = objects.count();
    let out = bpfpatch(&["check", dir.to_str().expect("utf-8"), "--json"]);
    // testdata has programs the model rejects without a device binding (xdp_meta).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["files"].as_array().map(Vec::len), Some(n));
    let s = &v["summary"];
    assert_eq!(s["files"], n);
    let programs: usize = v["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["programs"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(s["programs"], programs);
    let by_verdict = ["accept", "reject", "unknown"].map(|k| s["ours"][k].as_u64().unwrap_or(0));
    assert_eq!(by_verdict.iter().sum::<u64>() as usize, programs, "{s}");
    assert!(s["peak_memory_bytes"].as_u64().is_some_and(|b| b > 0), "{s}");
    let plain = text(&bpfpatch(&["check", dir.to_str().expect("utf-8")]).stdout);
    assert!(plain.contains(&format!("summary: {n} files")), "{plain}");
}

#[test]
fn a_bad_file_among_good_ones_is_reported_and_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("garbage.o");
    std::fs::write(&bad, b"not an ELF file").expect("write");
    let good = path("alu.v3.o");
    let out = bpfpatch(&["check", &good, bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("xdp_alu") && stdout.contains("accept"), "{stdout}");
    assert!(stdout.contains("garbage.o") && stdout.contains("not a readable ELF object"), "{stdout}");
    assert!(stdout.contains("1 not BPF objects"), "{stdout}");
    // Alone, a bad file is an error with nothing on stdout.
    let out = bpfpatch(&["check", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("garbage.o"), "{}", text(&out.stderr));
}

#[test]
fn prog_type_overrides_the_section_and_log_level_1_shows_the_path() {
    // xdp_alu reads xdp_md fields; as SCHED_CLS they are __sk_buff scalars, not packet pointers.
    let obj = path("alu.v3.o");
    let out = bpfpatch(&["check", &obj, "--prog-type", "sched_cls", "--log-level", "1", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = &v["programs"][0];
    assert_eq!(p["prog_type"], "sched_cls");
    assert_eq!(p["verdict"], "reject");
    let insn = p["error"]["insn"].as_u64().expect("an instruction");
    let path: Vec<u64> =
        p["error"]["path"].as_array().expect("a path").iter().filter_map(|i| i.as_u64()).collect();
    assert_eq!((path.first(), path.last()), (Some(&0), Some(&insn)), "{p}");
    assert_eq!(p["error"]["path_len"], path.len());
    let log: Vec<&str> = p["log"].as_array().expect("a log").iter().filter_map(|l| l.as_str()).collect();
    // The path starts at instruction 0 and ends at the failing one, then its registers.
    assert!(log.first().is_some_and(|l| l.starts_with("0: ")), "{log:?}");
    assert!(log.iter().rev().nth(1).is_some_and(|l| l.starts_with(&format!("{insn}: "))), "{log:?}");
    assert!(log.last().is_some_and(|l| l.contains("R10=fp0")), "{log:?}");
    let bad = bpfpatch(&["check", &obj, "--prog-type", "no_such_type"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn log_level_2_shows_the_state_before_every_explored_instruction() {
    let obj = path("alu.v3.o");
    let out = bpfpatch(&["check", &obj, "--prog", "xdp_alu", "--log-level", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first = stdout.lines().find(|l| l.starts_with("    ")).map(str::trim);
    assert_eq!(first, Some("0: w0 = 0x2 ; R1=ctx() R10=fp0"), "{stdout}");
    let out = bpfpatch(&["check", &obj, "--prog", "xdp_alu", "--log-level", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = &v["programs"][0];
    // One line per explored instruction, each with a state: every processed one except the
    // visits pruned on arrival.
    let log = p["log"].as_array().expect("a log");
    let processed = p["insns_processed"].as_u64().expect("a count") as usize;
    assert!(log.len() <= processed && log.len() * 10 >= processed * 9, "{} of {processed}", log.len());
    assert!(log.iter().all(|l| l.as_str().is_some_and(|l| l.contains(" ; ") && l.contains("R10=fp0"))));
}

#[cfg(feature = "kernel")]
#[test]
fn the_kernel_gets_the_same_forced_type_and_agrees() {
    if !common::kernel() {
        return;
    }
    let obj = path("alu.v3.o");
    let out = bpfpatch(&["check", &obj, "--prog-type", "sched_cls", "--kernel", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = &v["programs"][0];
    assert_eq!(p["verdict"], "reject", "{p}");
    assert_eq!(p["kernel"]["verdict"], "reject", "{p}");
    assert_eq!(p["kernel"]["message"], p["error"]["message"], "{p}");
}

#[test]
#[allow(clippy::print_stderr)]
fn dev_bound_models_a_device_bound_load() {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("skipping: the kfunc prototypes come from /sys/kernel/btf/vmlinux");
        return;
    }
    let obj = path("xdp_meta.v4.o");
    let out = bpfpatch(&["check", &obj]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("metadata kfuncs require device-bound program"), "{stdout}");
    let out = bpfpatch(&["check", "--dev-bound", &obj]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches(" accept ").count(), 4, "{stdout}");
}

#[test]
fn kfuncs_names_a_bundled_table() {
    let obj = path("xdp_meta.v4.o");
    let out = bpfpatch(&["check", "--kfuncs", "6.18.44", "--dev-bound", &obj]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches(" accept ").count(), 4, "{stdout}");
    assert!(stdout.contains("(kfunc prototypes from the bundled table of Linux 6.18.44)"), "{stdout}");
    let out = bpfpatch(&["check", "--kfuncs", "6.18.44", &obj]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("metadata kfuncs require device-bound program"));
    let out = bpfpatch(&["check", "--kernel-version", "4.19.0", &obj]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no bundled kfunc table for kernel 4.19.0"), "{}", text(&out.stderr));
}
