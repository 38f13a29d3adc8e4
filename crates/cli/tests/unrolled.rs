//! `bpfpatch check OBJ --unrolled REPORT.json` on the `kernel` rewrites of the committed
//! `xdp_meta` objects: the regions the report names keep their discipline (no diagnostic) and
//! the trusted-region mode accepts every program, which without the report are rejected at
//! their ctx loads as today's kernel does ("invalid bpf_context access"); a planted missing
//! NULL check or escaping trusted pointer is rejected at its instruction; a planted breach is
//! reported at its instruction and rejects the program; a bad report is bad input (exit 2)
//! naming the file and the key.

#![allow(clippy::print_stderr)] // reports how many regions it checked

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::testdata;
use serde_json::Value;

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Unrolls `input` for `driver` with the `kernel` lowering into `dir`; the object and report paths.
fn kernel_rewrite(
    dir: &Path,
    input: &str,
    abi: &str,
    driver: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let obj = dir.join(format!("{input}-{driver}.o"));
    let report = dir.join(format!("{input}-{driver}.json"));
    let input = testdata(input);
    let out = bpfpatch(&[
        "unroll",
        s(&input),
        "-o",
        s(&obj),
        "--driver",
        driver,
        "--lowering",
        "kernel",
        "--abi",
        abi,
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&report, &out.stdout).expect("write report");
    (obj, report)
}

fn check_json(args: &[&str]) -> (Option<i32>, Value) {
    let out = bpfpatch(args);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), doc)
}

#[test]
fn kernel_rewrites_keep_their_discipline_and_are_accepted_in_trusted_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut regions, mut accepted, mut rejected_without) = (0, 0, 0);
    for (input, abi) in [("xdp_meta.v4.o", "mainline"), ("xdp_meta_rfc.v4.o", "rfc")] {
        for driver in ["veth", "ice", "mlx4"] {
            let (obj, report) = kernel_rewrite(dir.path(), input, abi, driver);
            let sites: Value = serde_json::from_slice(&std::fs::read(&report).expect("read")).expect("JSON");
            regions += sites["sites"].as_array().expect("sites").len();
            let (code, with) = check_json(&["check", s(&obj), "--unrolled", s(&report), "--json"]);
            assert_eq!(with["unrolled"], serde_json::json!([]), "{input} {driver}: no breach");
            // Trusted mode: the regions' ctx loads are typed through the wrapper, the rest of
            // each program is checked as usual, and every program is safe.
            let programs = with["programs"].as_array().expect("programs");
            let want = if abi == "rfc" { 1 } else { 4 };
            assert_eq!(programs.len(), want, "{input} {driver}");
            for p in programs {
                assert_eq!(p["verdict"], "accept", "{input} {driver}: {p}");
            }
            assert_eq!(code, Some(0), "{input} {driver}");
            accepted += programs.len();

            let (code_without, without) = check_json(&["check", s(&obj), "--json"]);
            assert!(without.get("unrolled").is_none());
            let programs = without["programs"].as_array().expect("programs");
            if driver == "mlx4" && abi == "rfc" {
                // Without the contract, the mlx4 timestamp routine is a kfunc the kernel's BTF
                // does not have (libbpf would not load it).
                assert!(programs.iter().all(|p| p["verdict"] == "unknown"), "{without}");
                let m = programs[0]["error"]["message"].as_str().expect("message");
                assert!(m.contains("mlx4_xdp_rx_timestamp"), "{m}");
                continue;
            }
            assert_eq!(code_without, Some(1));
            for p in programs {
                if driver == "mlx4" && p["name"] == "xdp_meta_vlan" {
                    // mlx4 has no VLAN op: its sequence is `r0 = -95`, no ctx access.
                    assert_eq!(p["verdict"], "accept", "{p}");
                    continue;
                }
                assert_eq!(p["verdict"], "reject", "{input} {driver}: {p}");
                let m = p["error"]["message"].as_str().expect("message");
                assert!(m.starts_with("invalid bpf_context access off="), "{input} {driver}: {m}");
                rejected_without += 1;
            }
        }
    }
    assert_eq!(regions, 27, "6 sites in each mainline rewrite, 3 in each RFC one");
    assert_eq!((accepted, rejected_without), (15, 13));
    eprintln!(
        "checked {regions} unrolled regions in 6 kernel rewrites: {accepted} programs accepted in trusted mode, \
         {rejected_without} of them rejected without it"
    );
}

/// Patches `obj`'s `xdp_meta` with `edits` (`(slot, assembly)`) into `dir/name`.
fn plant(dir: &Path, obj: &Path, name: &str, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let planted = dir.join(name);
    let mut args = vec!["patch", s(obj), "-o", s(&planted), "--prog", "xdp_meta"];
    for (slot, asm) in edits {
        args.extend(["--replace", slot, "--asm", asm]);
    }
    let out = bpfpatch(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    planted
}

#[test]
fn trusted_mode_rejects_unchecked_and_escaping_trusted_pointers_at_their_instruction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (obj, report) = kernel_rewrite(dir.path(), "xdp_meta.v4.o", "mainline", "veth");
    // The veth timestamp region is slots 9..19 (9: r3 = skb, 10: `if r3 != 0x0 goto +0x2`, 13: a
    // load through r3, 17: `*r2 = ts`, 18: `r0 = 0`); the hash region 25..40 (25: r4 = skb,
    // 26: `if r4 == 0x0 goto +0xc`, 27: a load through r4).
    let cases = [
        // The NULL check tests the wrong register.
        ("null-ts.o", ("10", "if r2 != 0x0 goto +0x2"), 13, "R3 invalid mem access 'trusted_ptr_or_null_'"),
        // The NULL check is gone (a no-op in its place).
        ("null-hash.o", ("26", "goto +0x0"), 27, "R4 invalid mem access 'trusted_ptr_or_null_'"),
        (
            "escape-r0.o",
            ("18", "r0 = r3"),
            19,
            "R0 holds a trusted_ptr_ at the end of the unrolled region: trusted pointers may not leave it",
        ),
        (
            "escape-store.o",
            ("17", "*(u64 *)(r2 + 0x0) = r3"),
            17,
            "R3 trusted pointer escapes the unrolled region through a store",
        ),
    ];
    for (name, edit, insn, message) in cases {
        let planted = plant(dir.path(), &obj, name, &[edit]);
        let (code, doc) =
            check_json(&["check", s(&planted), "--unrolled", s(&report), "--json", "--prog", "xdp_meta"]);
        assert_eq!(code, Some(1), "{name}");
        assert_eq!(doc["unrolled"], serde_json::json!([]), "{name}: the discipline holds");
        let p = &doc["programs"][0];
        assert_eq!(p["verdict"], "reject", "{name}: {p}");
        assert_eq!(
            (p["error"]["insn"].as_u64(), p["error"]["message"].as_str()),
            (Some(insn), Some(message)),
            "{name}"
        );
    }
}

#[test]
fn planted_breaches_are_reported_at_their_instruction_and_reject() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (obj, report) = kernel_rewrite(dir.path(), "xdp_meta.v4.o", "mainline", "veth");
    // The veth timestamp region of `xdp_meta` is slots 9..19: 9 loads the skb, 10 is its NULL
    // check, 14 loads the shared-info offset into r5.
    let planted = dir.path().join("planted.o");
    let out = bpfpatch(&[
        "patch",
        s(&obj),
        "-o",
        s(&planted),
        "--prog",
        "xdp_meta",
        "--replace",
        "14",
        "--asm",
        "r6 = *(u32 *)(r3 + 0xbc)",
        "--replace",
        "10",
        "--asm",
        "if r3 != 0x0 goto +0x9",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, doc) = check_json(&["check", s(&planted), "--unrolled", s(&report), "--json"]);
    assert_eq!(code, Some(1));
    let diags = doc["unrolled"].as_array().expect("diagnostics");
    let got: Vec<(u64, &str)> = diags
        .iter()
        .map(|d| (d["insn"].as_u64().expect("insn"), d["problem"].as_str().expect("problem")))
        .collect();
    assert_eq!(got, [(10, "jumps to 20, outside the region"), (14, "writes r6")]);
    for d in diags {
        assert_eq!(d["program"], "xdp_meta");
        assert_eq!(d["region"], serde_json::json!([9, 19]));
        assert_eq!(d["kfunc"], "bpf_xdp_metadata_rx_timestamp");
        assert_eq!(d["lowering"], "kernel");
    }
    let p = doc["programs"]
        .as_array()
        .expect("programs")
        .iter()
        .find(|p| p["name"] == "xdp_meta")
        .expect("xdp_meta");
    assert_eq!(p["verdict"], "reject");

    let out = bpfpatch(&["check", s(&planted), "--unrolled", s(&report)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "  unrolled: xdp_meta insn 14: bpf_xdp_metadata_rx_timestamp region 9..19 (kernel): writes r6\n"
        ),
        "{text}"
    );
}

#[test]
fn a_bad_report_is_bad_input_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (obj, report) = kernel_rewrite(dir.path(), "xdp_meta.v4.o", "mainline", "veth");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&report).expect("read")).expect("JSON");
    doc["sites"][2].as_object_mut().expect("site").remove("emitted");
    let cases = [
        ("not-json.json", b"{ not json".to_vec(), "not JSON"),
        ("no-key.json", serde_json::to_vec(&doc).expect("JSON"), "missing key `sites[2].emitted`"),
        ("no-lowering.json", br#"{"sites": []}"#.to_vec(), "missing key `lowering`"),
    ];
    for (name, bytes, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = bpfpatch(&["check", s(&obj), "--unrolled", s(&path)]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    }
    let out = bpfpatch(&["check", s(&obj), s(&obj), "--unrolled", s(&report)]);
    assert_eq!(out.status.code(), Some(2), "one report, two objects");
}

#[test]
#[allow(clippy::print_stdout)] // the skip reason
fn trusted_mode_reads_the_layouts_from_btf_as_unroll_did() {
    let vmlinux = Path::new("/sys/kernel/btf/vmlinux");
    if std::fs::File::open(vmlinux).is_err() {
        assert!(std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"), "no {vmlinux:?}");
        println!("skipped: {} is not readable", vmlinux.display());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let obj = dir.path().join("veth.o");
    let input = testdata("xdp_meta.v4.o");
    let args = ["unroll", s(&input), "-o", s(&obj), "--driver", "veth", "--btf", s(vmlinux), "--json"];
    let out = bpfpatch(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = dir.path().join("veth.json");
    std::fs::write(&report, &out.stdout).expect("write report");
    let (code, doc) =
        check_json(&["check", s(&obj), "--unrolled", s(&report), "--btf", s(vmlinux), "--json"]);
    let programs = doc["programs"].as_array().expect("programs");
    assert_eq!(programs.len(), 4);
    assert!(programs.iter().all(|p| p["verdict"] == "accept"), "{doc}");
    assert_eq!(code, Some(0));
}
