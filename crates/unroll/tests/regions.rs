//! Unrolled regions checked in the rewritten objects (issue 7, "Unrolled code"): every rewrite
//! of the `xdp_meta` objects complies, for each driver and lowering; instructions mutated in the
//! output bytes (a register outside the discipline, a stack access, an exit, a spill moved to an
//! undeclared slot, a jump from outside into the middle of a region) are each reported at the
//! instruction they were planted at.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use bpf_patch::elf::BpfObject;
use bpf_patch::filter::{exit, jmp_a, mov64_imm, stx_mem};
use bpf_patch::op::{Op, Reg, Size};
use bpf_patch::Slot;
use bpf_unroll::regions::Problem;
use bpf_unroll::{check_regions, unroll, Abi, Driver, KernelIds, Lowering, Options, Region};

const IDS: KernelIds = KernelIds {
    cast_to_kern_ctx: 1001,
    rdonly_cast: 1002,
    veth_xdp_buff: 1003,
    skb_shared_info: 1004,
    ice_xdp_buff: None,
    mlx4_en_xdp_buff: None,
    bnxt_xdp_buff: None,
};

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rewrite(driver: Driver, lowering: Lowering) -> (Vec<u8>, Vec<Region>) {
    let mut options = Options::new(driver, lowering, Abi::Mainline);
    options.kernel_ids = Some(IDS);
    let (out, report) = unroll(&testdata("xdp_meta.v4.o"), &options).expect("unrolls");
    (out, Region::of_report(&report))
}

/// `bytes` with the instruction at `slot` (from the start of `program`) replaced by `op`.
fn plant(bytes: &[u8], program: &str, slot: u32, op: Op) -> Vec<u8> {
    use object::{Object, ObjectSection};
    let obj = BpfObject::parse(bytes).expect("parses");
    let p = obj.program(program).expect("program");
    let file = object::File::parse(bytes).expect("ELF");
    let section =
        file.section_by_index(object::SectionIndex(obj.sections[p.section].index)).expect("code section");
    let (offset, _) = section.file_range().expect("in the file");
    let at = offset as usize + 8 * (p.start.0 + slot) as usize;
    let mut out = bytes.to_vec();
    let (insn, _) = op.encode();
    out[at..at + 8].copy_from_slice(&insn.to_bytes(bpf_patch::Endian::Little));
    out
}

#[test]
fn every_rewrite_of_xdp_meta_complies() {
    let mut checked = 0;
    for driver in Driver::ALL {
        for lowering in Lowering::ALL {
            if lowering == Lowering::Loadable && !matches!(driver, Driver::Veth | Driver::Default) {
                continue;
            }
            let (out, regions) = rewrite(driver, lowering);
            assert_eq!(regions.len(), 6, "{driver} {lowering}");
            let diags = check_regions(&out, &regions).expect("parses");
            assert!(diags.is_empty(), "{driver} {lowering}: {diags:#?}");
            checked += regions.len();
        }
    }
    println!("{checked} unrolled regions comply with their lowering's discipline");
}

/// Recognises the diagnostic a planted instruction must cause.
type IsProblem = fn(&Problem) -> bool;

#[test]
fn planted_breaches_are_reported_at_their_instruction() {
    let (out, regions) = rewrite(Driver::Veth, Lowering::Kernel);
    let r = regions.iter().find(|r| r.program == "xdp_meta").expect("a region in xdp_meta");
    let mid = r.insn.0 + 2;
    let cases: [(Op, IsProblem); 4] = [
        (mov64_imm(Reg::R6, 0), |p| matches!(p, Problem::Discipline(v) if v.to_string().contains("r6"))),
        (mov64_imm(Reg::R1, 0), |p| matches!(p, Problem::Discipline(v) if v.to_string().contains("r1"))),
        (
            stx_mem(Size::DW, Reg::R10, Reg::R0, -8),
            |p| matches!(p, Problem::Discipline(v) if v.to_string().contains("stack")),
        ),
        (exit(), |p| matches!(p, Problem::Discipline(v) if v.to_string().contains("exits"))),
    ];
    for (op, want) in cases {
        let bad = plant(&out, "xdp_meta", mid, op);
        let diags = check_regions(&bad, &regions).expect("parses");
        assert!(diags.iter().any(|d| d.insn == Slot(mid) && want(&d.problem)), "{op:?} at {mid}: {diags:#?}");
        println!("planted {op:?}: {}", diags[0]);
    }
    // A jump from before the region into its middle.
    let before = r.insn.0 - 1;
    let into = jmp_a(i16::try_from(mid - before - 1).expect("near"));
    let diags = check_regions(&plant(&out, "xdp_meta", before, into), &regions).expect("parses");
    assert!(
        diags
            .iter()
            .any(|d| d.insn == Slot(mid) && d.problem == Problem::EnteredMidway { from: Slot(before) }),
        "{diags:#?}"
    );
    // A region that is not in the object.
    let mut moved = regions.clone();
    moved[0].program = "no_such_function".into();
    let diags = check_regions(&out, &moved).expect("parses");
    assert_eq!(diags[0].problem, Problem::NotInObject);
}

#[test]
fn loadable_spills_must_use_exactly_the_declared_slots() {
    let (out, regions) = rewrite(Driver::Veth, Lowering::Loadable);
    let r = regions.iter().find(|r| r.scratch.is_some()).expect("a region that spills");
    let (lo, hi) = r.scratch.expect("declared");
    assert_eq!(hi - lo, if r.kfunc == "bpf_xdp_metadata_rx_timestamp" { 8 } else { 16 });
    // Move every spill and reload of the region below the declared slots.
    let obj = BpfObject::parse(&out).expect("parses");
    let code = obj.insns_of(obj.program(&r.program).expect("program"));
    let delta = hi - lo;
    let mut bad = out.clone();
    let mut moved = Vec::new();
    for k in r.insn.0..r.insn.0 + r.len {
        let shifted = match Op::decode(&code[k as usize..], Slot(k)) {
            Ok(Op::Store { dst: Reg::R10, src, size, off }) => {
                Op::Store { dst: Reg::R10, src, size, off: off - delta }
            }
            Ok(Op::Load { dst, src: Reg::R10, size, off, signed }) => {
                Op::Load { dst, src: Reg::R10, size, off: off - delta, signed }
            }
            _ => continue,
        };
        bad = plant(&bad, &r.program, k, shifted);
        moved.push(Slot(k));
    }
    assert!(moved.len() >= 2, "a spill and its reload");
    let diags = check_regions(&bad, std::slice::from_ref(r)).expect("parses");
    for k in &moved {
        assert!(
            diags.iter().any(|d| d.insn == *k && matches!(d.problem, Problem::Discipline(_))),
            "{k:?}: {diags:#?}"
        );
    }
    assert!(diags.iter().any(|d| matches!(d.problem, Problem::ScratchUnused { .. })), "{diags:#?}");
    let off = lo - delta;
    println!(
        "spill moved to r10{off:+}: {}",
        diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    );
}
