//! Objects edited inside their functions still load and verify in the running kernel, and
//! behave the same: for every accepted `testdata` program, instructions are inserted in the
//! middle of each function, before its calls, inside loops (before backward jumps) and at a
//! CO-RE relocation; libbpf loads the rewritten object and the verifier accepts every program.
//! `BPF_PROG_TEST_RUN` results of the XDP parser are compared with the original's.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

use std::path::Path;

use bpf_patch::elf::{rewrite, BpfObject, ObjectEdits};
use bpf_patch::op::{decode_all, Op};
use bpf_patch::{Insn, Slot};
use bpfpatch::kernel::{kernel_available, load_each, load_one, LoadOptions};

fn kernel() -> bool {
    if kernel_available() {
        return true;
    }
    assert!(
        std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(),
        "BPFPATCH_REQUIRE_KERNEL is set but BPF is not usable here"
    );
    eprintln!("skipping: needs root and /sys/kernel/btf/vmlinux");
    false
}

/// `goto +0x0`: changes no register, no memory and no flow, yet moves everything after it.
const NOP: Insn = Insn::new(0x05, 0, 0, 0, 0);

/// Insertion points of one function: its middle, every call, every backward jump (loop
/// latches), and every instruction with a CO-RE relocation or a map relocation.
fn points(insns: &[Insn]) -> Vec<Slot> {
    let ops = decode_all(insns).expect("testdata decodes");
    let mut v = vec![ops[ops.len() / 2].0];
    for (slot, op) in &ops {
        let backward = op.branch_offset().is_some_and(|o| o < 0);
        if matches!(op, Op::Call(_) | Op::LdImm64 { .. }) || backward {
            v.push(*slot);
        }
    }
    v.sort();
    v.dedup();
    v
}

fn edited(bytes: &[u8]) -> (Vec<u8>, usize) {
    let obj = BpfObject::parse(bytes).expect("testdata parses");
    let mut edits = ObjectEdits::new();
    let mut n = 0;
    for p in &obj.programs {
        for at in points(obj.insns_of(p)) {
            edits.insert_before(&p.name, at, vec![NOP, NOP]);
            n += 1;
        }
    }
    (rewrite(bytes, &edits).expect("rewrite"), n)
}

#[test]
fn edited_objects_load_and_verify() {
    if !kernel() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("testdata/obj").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let (mut programs, mut insertions) = (0, 0);
    for path in files.iter().filter(|p| !p.to_string_lossy().contains("xdp_meta")) {
        let bytes = std::fs::read(path).expect("read");
        let (out, n) = edited(&bytes);
        insertions += n;
        let loads =
            load_each(&out, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for l in &loads {
            assert!(
                l.accepted,
                "{} {} after edits: {:?}\n{}",
                path.display(),
                l.name,
                l.summary.message,
                l.log
            );
            programs += 1;
        }
    }
    eprintln!(
        "{insertions} insertions in {} objects; the kernel accepted all {programs} edited programs",
        files.len()
    );
    assert!(programs >= 50 && insertions > 200);
}

#[test]
fn edited_parser_returns_the_same_results() {
    if !kernel() {
        return;
    }
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj/xdp_parse.v3.o"))
            .expect("read");
    let (out, _) = edited(&bytes);
    let (_, before) = load_one(&bytes, "xdp_parse", "xdp", &LoadOptions::default()).expect("opens");
    let (_, after) = load_one(&out, "xdp_parse", "xdp", &LoadOptions::default()).expect("opens");
    let (before, after) = (before.expect("original verifies"), after.expect("edited verifies"));
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    frame.extend_from_slice(&[0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    frame.extend_from_slice(&[0x10, 0x92, 0, 7, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (ttl, port) in [(64u8, 7u16), (64, 9), (0, 53), (64, 53)] {
        let mut f = frame.clone();
        f[22] = ttl;
        f[36..38].copy_from_slice(&port.to_be_bytes());
        let (a, b) = (before.test_run(&f, 1).expect("run"), after.test_run(&f, 1).expect("run"));
        assert_eq!((a.retval, &a.data_out), (b.retval, &b.data_out), "ttl {ttl} port {port}");
    }
}
