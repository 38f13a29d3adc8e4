//! Property tests of the batched edit engine: random well-formed programs (forward and backward
//! jumps, `gotol`, `may_goto`, `ld_imm64` incl. pseudo-func, bpf-to-bpf calls, relocated calls)
//! and random edit sets; some programs hold runs of 3000 moves so that jumps reach far.
//!
//! - every kept original jump / call still reaches the image of its original target;
//! - the result equals the kernel-style sequential reference (`edit::reference`);
//! - edit sets that push a jump past 16 bits fail with the original slot, and smaller ones fit.

use bpf_patch::edit::{apply, position_field, reference, ApplyOptions, EditError, Edits, PositionField};
use bpf_patch::filter::{
    call_helper, call_kfunc, call_rel, exit, jmp32_a, jmp_a, jmp_imm, ld_imm64, ld_imm64_raw, may_goto,
    mov64_imm,
};
use bpf_patch::op::{encode_all, Cond, LdImm64Src, Op, Reg};
use bpf_patch::{Insn, Slot};
use proptest::prelude::*;

/// One instruction of a random program; `usize` fields pick a target among the instructions.
#[derive(Clone, Debug)]
enum Kind {
    Mov,
    LdImm,
    LdFunc(usize),
    Jump(usize),
    Ja(usize),
    Gotol(usize),
    MayGoto(usize),
    CallLocal(usize),
    CallRelocated,
    Helper,
    Kfunc,
    Exit,
    /// 3000 moves, so that jumps reach beyond the engine's window of nearby positions.
    Pad,
}

const PAD: u32 = 3000;

fn kind() -> impl Strategy<Value = Kind> {
    let t = any::<usize>;
    prop_oneof![
        3 => Just(Kind::Mov),
        1 => Just(Kind::LdImm),
        1 => t().prop_map(Kind::LdFunc),
        3 => t().prop_map(Kind::Jump),
        1 => t().prop_map(Kind::Ja),
        1 => t().prop_map(Kind::Gotol),
        1 => t().prop_map(Kind::MayGoto),
        1 => t().prop_map(Kind::CallLocal),
        1 => Just(Kind::CallRelocated),
        1 => Just(Kind::Helper),
        1 => Just(Kind::Kfunc),
        1 => Just(Kind::Exit),
        1 => Just(Kind::Pad),
    ]
}

/// Builds the slots, the slot of each logical instruction, and the relocated (fixed) calls.
fn build(kinds: &[Kind]) -> (Vec<Insn>, Vec<u32>, Vec<Slot>) {
    let width = |k: &Kind| match k {
        Kind::LdImm | Kind::LdFunc(_) => 2,
        Kind::Pad => PAD,
        _ => 1,
    };
    let mut starts = Vec::new();
    let mut at = 0u32;
    for k in kinds {
        starts.push(at);
        at += width(k);
    }
    let n = kinds.len();
    let mut fixed = Vec::new();
    let mut ops = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        let rel = |t: usize| i64::from(starts[t % n]) - i64::from(starts[i]) - 1;
        // A target out of 16-bit reach (many pads) becomes the jump itself.
        let off = |t: usize| i16::try_from(rel(t)).unwrap_or(-1);
        let imm = |t: usize| i32::try_from(rel(t)).expect("small programs");
        if let Kind::Pad = k {
            ops.extend(std::iter::repeat_n(mov64_imm(Reg::R4, 0), PAD as usize));
            continue;
        }
        ops.push(match *k {
            Kind::Pad => unreachable!("handled above"),
            Kind::Mov => mov64_imm(Reg::R0, i as i32),
            Kind::LdImm => ld_imm64(Reg::R1, 0x1234_5678_9abc),
            Kind::LdFunc(t) => ld_imm64_raw(Reg::R2, LdImm64Src::Func, imm(t) as u32 as u64),
            Kind::Jump(t) => jmp_imm(Cond::Ne, Reg::R0, 3, off(t)),
            Kind::Ja(t) => jmp_a(off(t)),
            Kind::Gotol(t) => jmp32_a(imm(t)),
            Kind::MayGoto(t) => may_goto(off(t)),
            Kind::CallLocal(t) => call_rel(imm(t)),
            Kind::CallRelocated => {
                fixed.push(Slot(starts[i]));
                call_rel(-1)
            }
            Kind::Helper => call_helper(1),
            Kind::Kfunc => call_kfunc(0, 42),
            Kind::Exit => exit(),
        });
    }
    (encode_all(&ops), starts, fixed)
}

/// A random edit: (instruction pick, kind 0..4, code length, code starts with a jump to its end).
type EditSpec = (usize, u8, usize, bool);

fn code(len: usize, jump_to_end: bool, tag: usize) -> Vec<Insn> {
    let mut ops: Vec<Op> = (0..len).map(|k| mov64_imm(Reg::R3, (tag * 16 + k) as i32)).collect();
    if jump_to_end && len >= 2 {
        // Internally relative: lands on whatever follows the sequence.
        ops[0] = jmp_a(i16::try_from(len - 1).expect("short"));
    }
    encode_all(&ops)
}

fn edits_from(specs: &[EditSpec], starts: &[u32]) -> Edits {
    let mut edits = Edits::new();
    let mut middle = std::collections::HashSet::new();
    for (tag, &(pick, kind, len, jump)) in specs.iter().enumerate() {
        let at = Slot(starts[pick % starts.len()]);
        match kind % 4 {
            0 => {
                edits.insert_before(at, code(len, jump, tag));
            }
            1 => {
                edits.insert_after(at, code(len, jump, tag));
            }
            2 if middle.insert(at) => {
                edits.replace(at, code(len, jump, tag));
            }
            3 if middle.insert(at) => {
                edits.delete(at);
            }
            _ => {}
        }
    }
    edits
}

/// What one random case exercised.
#[derive(Default)]
struct Stats {
    applied: usize,
    deleted_tail: usize,
    jumps_checked: usize,
    slots_compared: usize,
}

/// One case: apply, check every kept original instruction, compare with the reference.
fn check_case(kinds: &[Kind], specs: &[EditSpec], stats: &mut Stats) -> Result<(), TestCaseError> {
    let (prog, starts, fixed) = build(kinds);
    let edits = edits_from(specs, &starts);
    let opts = ApplyOptions { fixed_imm: &fixed };
    let applied = match apply(&prog, &edits, &opts) {
        Ok(a) => a,
        // The only way a well-formed program fails: a jump into deleted code at the very end.
        Err(EditError::TargetDeletedAtEnd { .. }) => {
            stats.deleted_tail += 1;
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
    };
    stats.applied += 1;
    let r = &applied.remap;
    prop_assert_eq!(r.new_len() as usize, applied.insns.len());
    for &s in &starts {
        let Some(p) = r.position(Slot(s)) else { continue };
        let old = prog[s as usize];
        let new = applied.insns[p.index()];
        match position_field(&old) {
            Some(field) if !fixed.contains(&Slot(s)) => {
                let t = i64::from(s) + field.get(&old) + 1;
                let want = r.target(Slot(u32::try_from(t).expect("in range"))).expect("has a successor");
                prop_assert_eq!(i64::from(p.0) + field.get(&new) + 1, i64::from(want.0), "slot {}", s);
                stats.jumps_checked += 1;
            }
            _ => prop_assert_eq!(old, new, "slot {} changed", s),
        }
        if old.is_ld_imm64() {
            prop_assert_eq!(prog[s as usize + 1], applied.insns[p.index() + 1]);
        }
    }
    let seq = reference::apply(&prog, &edits, &opts);
    stats.slots_compared += applied.insns.len();
    prop_assert_eq!(seq, Ok(applied.insns));
    Ok(())
}

#[test]
#[allow(clippy::print_stdout)] // Tests report what they covered.
fn kept_jumps_reach_their_targets_and_match_the_reference() {
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 2048, ..ProptestConfig::default() });
    let stats = std::cell::RefCell::new(Stats::default());
    let strategy = (
        prop::collection::vec(kind(), 1..40),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0usize..5, any::<bool>()), 0..12),
    );
    let result = runner.run(&strategy, |(kinds, specs)| check_case(&kinds, &specs, &mut stats.borrow_mut()));
    if let Err(e) = result {
        panic!("{e}");
    }
    let s = stats.into_inner();
    println!(
        "{} edit sets applied ({} rejected: jump into a deleted tail), {} kept jumps/calls checked, {} slots \
         equal to the sequential reference",
        s.applied, s.deleted_tail, s.jumps_checked, s.slots_compared
    );
    assert!(s.applied > 1024, "too few applied cases: {}", s.applied);
    assert!(s.jumps_checked > 5000, "too few jumps checked: {}", s.jumps_checked);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn jumps_pushed_past_16_bits_fail_with_the_original_slot(
        prefix in 0usize..4,
        slack in 0i64..4,
        inserts in prop::collection::vec((1usize..32000, 0usize..3), 1..6),
    ) {
        // `prefix` movs, then a jump of 32767 - slack slots, the movs it jumps over, exit.
        let off = 32767 - slack;
        let mut ops = vec![mov64_imm(Reg::R0, 0); prefix];
        ops.push(jmp_a(i16::try_from(off).expect("fits")));
        ops.extend(std::iter::repeat_n(mov64_imm(Reg::R0, 1), off as usize));
        ops.push(exit());
        let prog = encode_all(&ops);
        let snapshot = prog.clone();
        let jump = prefix;
        let mut edits = Edits::new();
        let mut grown = 0i64;
        for &(at, len) in &inserts {
            edits.insert_before(Slot((jump + at) as u32), code(len, false, at));
            grown += len as i64;
        }
        // Edits before the jump move it but do not stretch it.
        edits.insert_before(Slot(0), code(1, false, 0));
        let opts = ApplyOptions::default();
        let got = apply(&prog, &edits, &opts);
        if grown > slack {
            prop_assert_eq!(
                got.map(|_| ()),
                Err(EditError::OffsetOverflow {
                    at: Slot(jump as u32),
                    field: PositionField::JumpOff,
                    bits: 16,
                    value: off + grown,
                })
            );
            prop_assert!(reference::apply(&prog, &edits, &opts).is_err());
        } else {
            let a = got.expect("fits");
            prop_assert_eq!(i64::from(a.insns[jump + 1].off), off + grown);
        }
        prop_assert_eq!(prog, snapshot);
    }
}
