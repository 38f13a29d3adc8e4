//! Property tests of the batched edit engine: random well-formed programs (jumps both ways,
//! `ld_imm64`, `gotol`, bpf-to-bpf calls, callback addresses, helper and kfunc calls) and random
//! edit sets.

use bpf_patch::edit::{apply, position_field, reference, ApplyOptions, EditError, Edits};
use bpf_patch::filter::*;
use bpf_patch::op::{AluOp, LdImm64Src, Op, Reg};
use bpf_patch::{Insn, Slot};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Shape {
    Alu(i32),
    LdImm64(u64),
    Jump(usize),
    Ja(usize),
    Gotol(usize),
    Call(usize),
    PseudoFunc(usize),
    Helper(i32),
    Kfunc(i32),
    Exit,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        4 => any::<i32>().prop_map(Shape::Alu),
        1 => any::<u64>().prop_map(Shape::LdImm64),
        3 => any::<usize>().prop_map(Shape::Jump),
        1 => any::<usize>().prop_map(Shape::Ja),
        1 => any::<usize>().prop_map(Shape::Gotol),
        1 => any::<usize>().prop_map(Shape::Call),
        1 => any::<usize>().prop_map(Shape::PseudoFunc),
        1 => (1..200i32).prop_map(Shape::Helper),
        1 => (1..100_000i32).prop_map(Shape::Kfunc),
        1 => Just(Shape::Exit),
    ]
}

/// Builds slots from shapes; jump targets pick one of the instruction starts.
fn build(shapes: &[Shape]) -> Vec<Insn> {
    let mut starts = Vec::with_capacity(shapes.len());
    let mut slot = 0i64;
    for s in shapes {
        starts.push(slot);
        slot += if matches!(s, Shape::LdImm64(_) | Shape::PseudoFunc(_)) { 2 } else { 1 };
    }
    let rel = |here: usize, pick: usize| starts[pick % starts.len()] - starts[here] - 1;
    let ops: Vec<Op> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| match *s {
            Shape::Alu(imm) => alu64_imm(AluOp::Add, Reg::R3, imm),
            Shape::LdImm64(v) => ld_imm64(Reg::R2, v),
            Shape::Jump(t) => jmp_imm(bpf_patch::op::Cond::Gt, Reg::R1, 5, rel(i, t) as i16),
            Shape::Ja(t) => jmp_a(rel(i, t) as i16),
            Shape::Gotol(t) => jmp32_a(rel(i, t) as i32),
            Shape::Call(t) => call_rel(rel(i, t) as i32),
            Shape::PseudoFunc(t) => {
                Op::LdImm64 { dst: Reg::R2, src: LdImm64Src::Func, imm: rel(i, t) as i32, next_imm: 0 }
            }
            Shape::Helper(id) => call_helper(id),
            Shape::Kfunc(id) => call_kfunc(0, id),
            Shape::Exit => exit(),
        })
        .collect();
    bpf_patch::op::encode_all(&ops)
}

fn starts_of(insns: &[Insn]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        out.push(i as u32);
        i += if insns[i].is_ld_imm64() { 2 } else { 1 };
    }
    out
}

fn filler(n: usize, seed: i32) -> Vec<Insn> {
    (0..n).map(|k| Insn::new(0xb7, 4, 0, 0, seed.wrapping_add(k as i32))).collect()
}

#[derive(Clone, Debug)]
enum EditShape {
    Before(usize),
    After(usize),
    Replace(usize),
    Delete,
}

fn edit_shape() -> impl Strategy<Value = EditShape> {
    prop_oneof![
        (1..4usize).prop_map(EditShape::Before),
        (1..4usize).prop_map(EditShape::After),
        (0..4usize).prop_map(EditShape::Replace),
        Just(EditShape::Delete),
    ]
}

/// Turns random picks into an edit set, at most one replace/delete per instruction and never
/// deleting the last instruction (a jump to it would have nowhere to land).
fn edits_for(insns: &[Insn], picks: &[(usize, EditShape)]) -> (Edits, Vec<(u32, EditShape)>) {
    let starts = starts_of(insns);
    let last = *starts.last().expect("non-empty program");
    let mut edits = Edits::new();
    let mut taken = std::collections::HashSet::new();
    let mut chosen = Vec::new();
    for (k, (pick, e)) in picks.iter().enumerate() {
        let at = starts[pick % starts.len()];
        let seed = k as i32 * 100;
        match e {
            EditShape::Before(n) => {
                edits.insert_before(Slot(at), filler(*n, seed));
            }
            EditShape::After(n) => {
                edits.insert_after(Slot(at), filler(*n, seed));
            }
            EditShape::Replace(_) | EditShape::Delete if at == last || !taken.insert(at) => continue,
            EditShape::Replace(0) | EditShape::Delete => {
                edits.delete(Slot(at));
            }
            EditShape::Replace(n) => {
                edits.replace(Slot(at), filler(*n, seed));
            }
        }
        chosen.push((at, e.clone()));
    }
    (edits, chosen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_kept_jump_and_call_reaches_the_image_of_its_original_target(
        shapes in prop::collection::vec(shape(), 1..120),
        picks in prop::collection::vec((any::<usize>(), edit_shape()), 0..30),
    ) {
        let insns = build(&shapes);
        let (edits, _) = edits_for(&insns, &picks);
        let applied = apply(&insns, &edits, &ApplyOptions::default()).expect("well-formed programs and edits apply");
        let remap = &applied.remap;
        let mut kept = 0;
        for &old in &starts_of(&insns) {
            let Some(new) = remap.position(Slot(old)) else { continue };
            kept += 1;
            let (o, n) = (&insns[old as usize], &applied.insns[new.index()]);
            prop_assert_eq!(o.code, n.code);
            match position_field(o) {
                Some(field) => {
                    let old_target = i64::from(old) + field.get(o) + 1;
                    let new_target = i64::from(new.0) + field.get(n) + 1;
                    let want = remap.target(Slot(old_target as u32)).expect("in range");
                    prop_assert_eq!(new_target, i64::from(want.0), "slot {} ({:?})", old, field);
                }
                None => prop_assert_eq!(o, n),
            }
        }
        let removed: u32 = starts_of(&insns).iter().filter(|&&s| remap.position(Slot(s)).is_none())
            .map(|&s| if insns[s as usize].is_ld_imm64() { 2 } else { 1 }).sum();
        prop_assert!(remap.new_len() + removed >= remap.old_len());
        prop_assert!(kept > 0 || insns.len() <= 2);
    }

    #[test]
    fn batch_equals_the_kernels_one_edit_at_a_time_algorithm(
        shapes in prop::collection::vec(shape(), 2..120),
        picks in prop::collection::vec((any::<usize>(), 0..4usize), 0..20),
    ) {
        // The kernel's primitives replace or remove; restrict to instructions without a position
        // field (the kernel copies a patch verbatim, including a jump it contains).
        let insns = build(&shapes);
        let starts = starts_of(&insns);
        let last = *starts.last().expect("non-empty");
        let mut edits = Edits::new();
        let mut plan: Vec<(u32, usize, i32)> = Vec::new();
        for (k, (pick, n)) in picks.iter().enumerate() {
            let at = starts[pick % starts.len()];
            let insn = &insns[at as usize];
            if at == last || insn.is_ld_imm64() || position_field(insn).is_some() || plan.iter().any(|&(a, _, _)| a == at) {
                continue;
            }
            if *n == 0 { edits.delete(Slot(at)); } else { edits.replace(Slot(at), filler(*n, k as i32)); }
            plan.push((at, *n, k as i32));
        }
        let batch = apply(&insns, &edits, &ApplyOptions::default());
        let mut seq = insns.clone();
        plan.sort_by_key(|&(at, _, _)| std::cmp::Reverse(at));
        let mut seq_result = Ok(());
        for &(at, n, seed) in &plan {
            seq_result = if n == 0 {
                reference::remove_insns(&mut seq, at as usize, 1)
            } else {
                reference::patch_insn_single(&mut seq, at as usize, &filler(n, seed))
            };
            if seq_result.is_err() { break; }
        }
        match (batch, seq_result) {
            (Ok(b), Ok(())) => prop_assert_eq!(b.insns, seq),
            (Err(EditError::Overflow { .. }), Err(_)) => {}
            (b, s) => prop_assert!(false, "batch {:?} vs sequential {:?}", b.map(|_| ()), s),
        }
    }

    #[test]
    fn overflowing_edit_sets_return_an_error_and_change_nothing(gap in 32_700u32..32_767, extra in 1usize..200) {
        let mut insns = vec![Insn::new(0x15, 1, 0, gap as i16, 0)];
        insns.extend(filler(gap as usize, 0));
        insns.push(Insn::new(0x95, 0, 0, 0, 0));
        let copy = insns.clone();
        let mut edits = Edits::new();
        edits.insert_after(Slot(1), filler(extra, 7));
        let result = apply(&insns, &edits, &ApplyOptions::default());
        prop_assert_eq!(&insns, &copy);
        let needed = i64::from(gap) + extra as i64;
        if needed > i64::from(i16::MAX) {
            prop_assert_eq!(result.map(|_| ()), Err(EditError::Overflow { at: Slot(0), field: bpf_patch::edit::PositionField::JumpOff, value: needed }));
        } else {
            let applied = result.expect("fits");
            prop_assert_eq!(i64::from(applied.insns[0].off), needed);
        }
    }
}
