//! End-to-end tests of `bpfpatch asm` and `bpfpatch disasm` through the real binary: round trip,
//! exit codes, error messages that name the file and place, and no partial output.

use std::path::Path;
use std::process::{Command, Output};

fn bpfpatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfpatch")).args(args).output().expect("run bpfpatch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PROGRAM: &str = "\
; XDP: drop IPv4 frames shorter than 34 bytes, pass the rest
    r2 = *(u32 *)(r1 + 0x4)
    r1 = *(u32 *)(r1 + 0x0)
    r3 = r1
    r3 += 0x22
    if r3 > r2 goto <drop>
    r0 = 0x2
    exit
drop:
    r0 = 0x1
    exit
";

#[test]
fn asm_then_disasm_prints_one_indexed_line_per_instruction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("prog.s");
    let bin = dir.path().join("prog.bin");
    std::fs::write(&src, PROGRAM).expect("write source");
    let out = bpfpatch(&["asm", path(&src), "-o", path(&bin)]);
    assert!(out.status.success(), "asm failed: {}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&bin).expect("output exists").len(), 9 * 8);

    let out = bpfpatch(&["disasm", path(&bin)]);
    assert!(out.status.success(), "disasm failed: {}", text(&out.stderr));
    let listing = text(&out.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 9, "{listing}");
    assert!(lines[0].starts_with("0:") && lines[0].ends_with("r2 = *(u32 *)(r1 + 0x4)"), "{listing}");
    assert!(lines[4].starts_with("4:") && lines[4].ends_with("if r3 > r2 goto +0x2"), "{listing}");
    assert!(lines[8].starts_with("8:") && lines[8].ends_with("exit"), "{listing}");
}

#[test]
fn ld_imm64_takes_two_slots_in_the_index_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("ld.s");
    let bin = dir.path().join("ld.bin");
    std::fs::write(&src, "r1 = 0x1122334455667788 ll\nr0 = 0x0\nexit\n").expect("write source");
    assert!(bpfpatch(&["asm", path(&src), "-o", path(&bin)]).status.success());
    let listing = text(&bpfpatch(&["disasm", path(&bin)]).stdout);
    let indexes: Vec<&str> = listing.lines().map(|l| l.split(':').next().expect("index").trim()).collect();
    assert_eq!(indexes, ["0", "2", "3"], "{listing}");
}

#[test]
fn assembler_errors_name_the_file_and_line_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("bad.s");
    let bin = dir.path().join("bad.bin");
    std::fs::write(&src, "r0 = 0x0\nr0 = frobnicate r1\nexit\n").expect("write source");
    let out = bpfpatch(&["asm", path(&src), "-o", path(&bin)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.s") && err.contains('2'), "error does not name file and line: {err}");
    assert!(!bin.exists(), "partial output written");
}

#[test]
fn malformed_streams_are_refused_with_the_slot_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: &[(&str, &[u8], &str)] = &[
        ("trailing.bin", &[0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95], "not a multiple of 8"),
        // exit with imm = 1: reserved field
        ("reserved.bin", &[0x95, 0, 0, 0, 1, 0, 0, 0], "slot 0"),
        // r0 = 0 then a truncated ld_imm64
        ("ldimm.bin", &[0xb7, 0, 0, 0, 0, 0, 0, 0, 0x18, 1, 0, 0, 0, 0, 0, 0], "slot 1"),
    ];
    for (name, bytes, want) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).expect("write input");
        let out = bpfpatch(&["disasm", path(&file)]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}: partial listing printed");
        let err = text(&out.stderr);
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    }
}

#[test]
fn every_command_has_help_and_usage_errors_exit_2() {
    for cmd in ["asm", "disasm"] {
        let out = bpfpatch(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help");
        assert!(text(&out.stdout).contains("Usage"), "{cmd} --help");
    }
    assert_eq!(bpfpatch(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(bpfpatch(&["disasm", "/nonexistent/file.bin"]).status.code(), Some(2));
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn lossless_listing_assembles_back_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("calls.bin");
    // call local +0x1 (pseudo call), call kfunc 0x10271, exit, exit
    let bytes: Vec<u8> = [
        [0x85, 0x10, 0, 0, 1, 0, 0, 0],
        [0x85, 0x20, 0, 0, 0x71, 0x02, 0x01, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    std::fs::write(&bin, &bytes).expect("write input");
    let out = bpfpatch(&["disasm", "--lossless", path(&bin)]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(listing.contains("call local 0x1") && listing.contains("call kfunc 0x10271"), "{listing}");
    let src = dir.path().join("calls.s");
    let back = dir.path().join("back.bin");
    std::fs::write(&src, &listing).expect("write listing");
    assert!(bpfpatch(&["asm", path(&src), "-o", path(&back)]).status.success());
    assert_eq!(std::fs::read(&back).expect("read back"), bytes);
}
