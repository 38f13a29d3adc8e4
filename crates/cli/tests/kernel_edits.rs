//! Objects edited inside their functions still load and verify in the running kernel, and
//! behave the same: for every accepted `testdata` program, instructions are inserted in the
//! middle of each function, before its calls, inside loops (before backward jumps) and at a
//! CO-RE relocation; libbpf loads the rewritten object and the verifier accepts every program.
//! `BPF_PROG_TEST_RUN` results of the XDP parser are compared with the original's.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::elf::{rewrite, BpfObject, ObjectEdits};
use bpf_patch::op::{decode_all, Op};
use bpf_patch::{Insn, Slot};
use bpfpatch::kernel::{load_each, load_one, LoadOptions};
use common::{kernel, testdata, testdata_objects};

/// The testdata objects that load without device binding (all but the XDP metadata ones).
fn unbound_objects() -> Vec<std::path::PathBuf> {
    testdata_objects().into_iter().filter(|p| !p.to_string_lossy().contains("xdp_meta")).collect()
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
    let files = unbound_objects();
    let (mut programs, mut insertions) = (0, 0);
    for path in &files {
        let bytes = std::fs::read(path).expect("read");
        let (out, n) = edited(&bytes);
        insertions += n;
        let loads =
            load_each(&out, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The programs calling the RX-metadata kfuncs (`xdp_meta*`) load only device-bound.
        for l in loads.iter().filter(|l| !l.name.starts_with("xdp_meta")) {
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

/// Frames for the test runs: UDP to several ports, a TTL-0 frame and a non-IP frame.
fn frames() -> Vec<Vec<u8>> {
    let mut udp = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    udp.extend_from_slice(&[0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    udp.extend_from_slice(&[0x10, 0x92, 0, 7, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut out = Vec::new();
    for (ttl, port) in [(64u8, 7u16), (64, 9), (0, 53), (64, 53)] {
        let mut f = udp.clone();
        f[22] = ttl;
        f[36..38].copy_from_slice(&port.to_be_bytes());
        out.push(f);
    }
    let mut arp = udp.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    out.push(arp);
    out
}

#[test]
fn edited_programs_return_the_same_results_under_test_run() {
    if !kernel() {
        return;
    }
    let (mut compared, mut runs) = (0, 0);
    for path in &unbound_objects() {
        let bytes = std::fs::read(path).expect("read");
        let (out, _) = edited(&bytes);
        let obj = BpfObject::parse(&bytes).expect("parses");
        for p in obj.programs.iter().filter(|p| p.entry) {
            let section = &obj.sections[p.section].name;
            let (_, Some(a)) = load_one(&bytes, &p.name, section, &LoadOptions::default()).expect("opens")
            else {
                continue;
            };
            let (_, Some(b)) = load_one(&out, &p.name, section, &LoadOptions::default()).expect("opens")
            else {
                panic!(
                    "{} {}: the edited program does not load on its own although the original does",
                    path.display(),
                    p.name
                )
            };
            let mut ran = false;
            for f in frames() {
                match (a.test_run(&f, 1), b.test_run(&f, 1)) {
                    (Ok(x), Ok(y)) => {
                        assert_eq!(
                            (x.retval, &x.data_out),
                            (y.retval, &y.data_out),
                            "{} {}",
                            path.display(),
                            p.name
                        );
                        runs += 1;
                        ran = true;
                    }
                    (Err(_), Err(_)) => {}
                    (x, y) => panic!(
                        "{} {}: original {:?}, edited {:?}",
                        path.display(),
                        p.name,
                        x.map(|r| r.retval),
                        y.map(|r| r.retval)
                    ),
                }
            }
            compared += usize::from(ran);
        }
    }
    eprintln!("{compared} programs: original and edited agree on {runs} BPF_PROG_TEST_RUN results (return value and packet)");
    assert!(compared >= 20, "only {compared} programs could be test-run");
}

#[test]
fn inserted_code_can_carry_map_and_kfunc_relocations() {
    use bpf_patch::elf::{NewReloc, RelocKind, R_BPF_64_32, R_BPF_64_64};
    use bpf_patch::text::assemble;
    if !kernel() {
        return;
    }
    let cases = [
        // A second bpf_cast_to_kern_ctx call at the start of a TC program (R6 is free there).
        (
            "core.v3.o",
            "core_tc",
            "tc",
            "r6 = r1\ncall local -0x1\nr1 = r6",
            1,
            R_BPF_64_32,
            "bpf_cast_to_kern_ctx",
            RelocKind::Kfunc,
        ),
        // A map address load at the start of an XDP program (R0 is written before any use).
        ("xdp_parse.v3.o", "xdp_parse", "xdp", "r0 = 0x0 ll", 0, R_BPF_64_64, "action_count", RelocKind::Map),
    ];
    for (file, prog, section, code, at, r_type, symbol, kind) in cases {
        let bytes = std::fs::read(testdata(file)).expect("read");
        let mut edits = ObjectEdits::new();
        edits.insert_before(prog, Slot(0), assemble(code).expect("assembles")).with_reloc(NewReloc {
            at,
            r_type,
            symbol: symbol.to_owned(),
        });
        let out = rewrite(&bytes, &edits).expect("rewrite");
        let obj = BpfObject::parse(&out).expect("parses");
        let p = obj.program(prog).expect("program");
        let relocs = &obj.sections[p.section].relocs;
        let r = relocs
            .iter()
            .find(|r| r.slot == Slot(p.start.0 + at))
            .unwrap_or_else(|| panic!("{file}: no relocation at the inserted code"));
        assert_eq!((r.symbol.as_str(), r.kind), (symbol, kind), "{file}");
        let (load, _) = load_one(&out, prog, section, &LoadOptions::default()).expect("opens");
        assert!(load.accepted, "{file} {prog}: {:?}\n{}", load.summary.message, load.log);
    }
}
