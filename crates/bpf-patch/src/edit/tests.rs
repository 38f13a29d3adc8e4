//! Unit tests of the batched edit engine: the kernel's cases, then errors and the remap.

use super::*;
use crate::filter::{
    call_helper, call_kfunc, call_rel, exit, jmp32_a, jmp_a, jmp_imm, ld_imm64, ld_imm64_raw, mov64_imm,
};
use crate::op::{encode_all, Cond, LdImm64Src, Op, Reg};

fn asm(ops: &[Op]) -> Vec<Insn> {
    encode_all(ops)
}

fn mov(r: u8, v: i32) -> Op {
    mov64_imm(Reg::new(r).expect("valid register"), v)
}

/// Applies through the batch engine and the sequential reference and checks they agree.
fn both(prog: &[Insn], edits: &Edits, fixed: &[Slot]) -> Result<Applied, EditError> {
    let opts = ApplyOptions { fixed_imm: fixed };
    let batch = apply(prog, edits, &opts);
    if let Ok(a) = &batch {
        assert_eq!(reference::apply(prog, edits, &opts).as_ref(), Ok(&a.insns), "reference disagrees");
    }
    batch
}

#[test]
fn kernel_cases() {
    type Build = fn(&mut Edits);
    let cases: Vec<(&str, Vec<Op>, Build, Vec<Op>)> = vec![
        (
            "jump_across_insertion_is_extended",
            vec![jmp_a(1), mov(0, 0), exit()],
            |e| {
                e.insert_before(Slot(1), asm(&[mov(1, 1), mov(2, 2)]));
            },
            vec![jmp_a(3), mov(1, 1), mov(2, 2), mov(0, 0), exit()],
        ),
        (
            "branch_to_replaced_insn_lands_on_first_replacement",
            vec![jmp_a(1), mov(0, 0), call_helper(5), exit()],
            |e| {
                e.replace(Slot(2), asm(&[mov(1, 1), mov(2, 2), call_helper(6)]));
            },
            vec![jmp_a(1), mov(0, 0), mov(1, 1), mov(2, 2), call_helper(6), exit()],
        ),
        (
            "backward_jump_from_after_is_extended",
            vec![
                mov(0, 0),
                call_helper(1),
                jmp_imm(Cond::Ne, Reg::R0, 0, -3),
                jmp_imm(Cond::Eq, Reg::R0, 0, -3),
                exit(),
            ],
            |e| {
                e.replace(Slot(1), asm(&[mov(1, 1), mov(2, 2), call_helper(2)]));
            },
            vec![
                mov(0, 0),
                mov(1, 1),
                mov(2, 2),
                call_helper(2),
                jmp_imm(Cond::Ne, Reg::R0, 0, -5),
                jmp_imm(Cond::Eq, Reg::R0, 0, -5),
                exit(),
            ],
        ),
        (
            "insert_at_zero_is_reached_by_jumps_to_zero",
            vec![mov(0, 0), jmp_imm(Cond::Eq, Reg::R0, 0, -2), exit()],
            |e| {
                e.insert_before(Slot(0), asm(&[mov(9, 1)]));
            },
            vec![mov(9, 1), mov(0, 0), jmp_imm(Cond::Eq, Reg::R0, 0, -3), exit()],
        ),
        (
            "delete_shrinks_jumps_and_lands_on_successor",
            vec![jmp_a(2), jmp_a(0), mov(0, 1), mov(0, 2), jmp_a(-3), exit()],
            |e| {
                e.delete(Slot(2));
            },
            vec![jmp_a(1), jmp_a(0), mov(0, 2), jmp_a(-2), exit()],
        ),
        (
            "jumps_inside_inserted_code_are_untouched",
            vec![jmp_a(1), mov(0, 0), exit()],
            |e| {
                e.insert_before(Slot(1), asm(&[jmp_a(1), mov(1, 1), jmp_a(-3)]));
            },
            vec![jmp_a(4), jmp_a(1), mov(1, 1), jmp_a(-3), mov(0, 0), exit()],
        ),
        (
            "insert_after_is_skipped_by_jumps_to_the_next_insn",
            vec![jmp_imm(Cond::Eq, Reg::R1, 0, 1), call_helper(7), exit()],
            |e| {
                e.insert_after(Slot(1), asm(&[mov(0, 0)]));
                e.insert_before(Slot(1), asm(&[mov(1, 1)]));
                e.insert_after(Slot(1), asm(&[mov(0, 1)]));
            },
            vec![jmp_imm(Cond::Eq, Reg::R1, 0, 4), mov(1, 1), call_helper(7), mov(0, 0), mov(0, 1), exit()],
        ),
        (
            "kept_jump_inside_its_group_is_retargeted",
            vec![jmp_a(-1), jmp_a(0), exit()],
            |e| {
                e.insert_before(Slot(0), asm(&[mov(1, 1)]));
                e.insert_after(Slot(0), asm(&[mov(2, 2)]));
            },
            vec![mov(1, 1), jmp_a(-2), mov(2, 2), jmp_a(0), exit()],
        ),
        (
            "replace_and_delete_of_ld_imm64_cover_both_slots",
            vec![jmp_a(2), ld_imm64(Reg::R1, 1), ld_imm64(Reg::R2, 2), jmp_a(-5), exit()],
            |e| {
                e.replace(Slot(1), asm(&[mov(1, 1)]));
                e.delete(Slot(3));
            },
            vec![jmp_a(1), mov(1, 1), jmp_a(-2), exit()],
        ),
        (
            "calls_pseudo_funcs_and_gotol_are_retargeted_helpers_and_kfuncs_not",
            vec![
                call_rel(4),                                // 0 -> 5
                ld_imm64_raw(Reg::R2, LdImm64Src::Func, 3), // 1-2 -> 5
                jmp32_a(1),                                 // 3 -> 5
                call_helper(1),                             // 4
                call_kfunc(0, 77),                          // 5
                exit(),                                     // 6
            ],
            |e| {
                e.insert_before(Slot(4), asm(&[mov(1, 1), mov(1, 2)]));
            },
            vec![
                call_rel(6),
                ld_imm64_raw(Reg::R2, LdImm64Src::Func, 5),
                jmp32_a(3),
                mov(1, 1),
                mov(1, 2),
                call_helper(1),
                call_kfunc(0, 77),
                exit(),
            ],
        ),
    ];
    for (name, prog, build, want) in cases {
        let prog = asm(&prog);
        let mut edits = Edits::new();
        build(&mut edits);
        let got = both(&prog, &edits, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.insns, asm(&want), "{name}");
    }
}

#[test]
fn fixed_imm_slots_are_left_alone() {
    // call -2 (unrelocated, resolved by an ELF relocation later); r0 = 0; exit
    let prog = asm(&[call_rel(-2), mov(0, 0), exit()]);
    let mut edits = Edits::new();
    edits.insert_before(Slot(1), asm(&[mov(1, 1)]));
    assert!(matches!(both(&prog, &edits, &[]), Err(EditError::TargetOutOfRange { .. })));
    let got = both(&prog, &edits, &[Slot(0)]).expect("fixed call is not checked");
    assert_eq!(got.insns[0], prog[0]);
}

/// A program whose jump at slot 3 reaches 32766 slots ahead, into slot 32770.
fn long_jump_program() -> Vec<Insn> {
    let mut ops = vec![mov(0, 0); 3];
    ops.push(jmp_a(32766));
    ops.extend(std::iter::repeat_n(mov(0, 1), 32767));
    ops.push(exit());
    asm(&ops)
}

#[test]
fn overflow_is_reported_with_the_original_index_and_changes_nothing() {
    let prog = long_jump_program();
    let before = prog.clone();
    let mut fits = Edits::new();
    fits.insert_before(Slot(1), asm(&[mov(1, 1)])).insert_before(Slot(10), asm(&[mov(1, 1)]));
    let ok = both(&prog, &fits, &[]).expect("32767 fits");
    assert_eq!(ok.insns[4].off, 32767);

    let mut over = Edits::new();
    over.insert_before(Slot(1), asm(&[mov(1, 1)])).insert_before(Slot(10), asm(&[mov(1, 1), mov(1, 2)]));
    let err = apply(&prog, &over, &ApplyOptions::default()).expect_err("32768 does not fit");
    assert_eq!(
        err,
        EditError::OffsetOverflow { at: Slot(3), field: PositionField::JumpOff, bits: 16, value: 32768 }
    );
    assert!(reference::apply(&prog, &over, &ApplyOptions::default()).is_err());
    assert_eq!(prog, before);
}

#[test]
fn invalid_edit_sets_and_targets_are_errors() {
    type Build = fn(&mut Edits);
    let ld = vec![ld_imm64(Reg::R1, 1), mov(0, 0), exit()];
    let cases: Vec<(&str, Vec<Op>, Build, EditError)> = vec![
        (
            "slot out of range",
            ld.clone(),
            |e| {
                e.delete(Slot(4));
            },
            EditError::SlotOutOfRange { at: Slot(4), len: 4 },
        ),
        (
            "second slot of ld_imm64",
            ld.clone(),
            |e| {
                e.insert_before(Slot(1), vec![]);
            },
            EditError::EditInsideLdImm64 { at: Slot(1) },
        ),
        (
            "delete and replace",
            ld.clone(),
            |e| {
                e.delete(Slot(2)).replace(Slot(2), asm(&[exit()]));
            },
            EditError::ConflictingEdits { at: Slot(2) },
        ),
        (
            "jump to second slot",
            vec![mov(0, 0), jmp_a(1), ld_imm64(Reg::R1, 1), exit()],
            |_| {},
            EditError::TargetInsideLdImm64 { at: Slot(1), field: PositionField::JumpOff, target: Slot(3) },
        ),
        (
            "jump one past the end",
            vec![jmp_a(1), exit()],
            |_| {},
            EditError::TargetOutOfRange { at: Slot(0), field: PositionField::JumpOff, target: 2, len: 2 },
        ),
        (
            "jump into deleted tail",
            vec![jmp_a(1), exit(), exit()],
            |e| {
                e.delete(Slot(2));
            },
            EditError::TargetDeletedAtEnd { at: Slot(0), field: PositionField::JumpOff, target: Slot(2) },
        ),
    ];
    for (name, prog, build, want) in cases {
        let mut edits = Edits::new();
        build(&mut edits);
        assert_eq!(apply(&asm(&prog), &edits, &ApplyOptions::default()).map(|_| ()), Err(want), "{name}");
    }
}

#[test]
fn remap_reports_group_starts_and_positions() {
    // 0: r0 = 0; 1-2: ld_imm64; 3: call; 4: r0 = 1; 5: exit
    let prog = asm(&[mov(0, 0), ld_imm64(Reg::R1, 1), call_helper(1), mov(0, 1), exit()]);
    let mut edits = Edits::new();
    edits
        .insert_before(Slot(1), asm(&[mov(2, 2)])) // group 1: [mov, ld(2)] at 1..4
        .replace(Slot(3), asm(&[mov(3, 3), mov(3, 4)])) // group 3: at 4..6
        .delete(Slot(4))
        .insert_after(Slot(4), asm(&[mov(4, 4)])); // group 4: [mov] at 6
    let a = both(&prog, &edits, &[]).expect("valid");
    let r = &a.remap;
    assert_eq!((r.old_len(), r.new_len()), (6, 8));
    let table: [(u32, Option<u32>, Option<u32>); 7] = [
        (0, Some(0), Some(0)),
        (1, Some(1), Some(2)),
        (2, Some(3), Some(3)),
        (3, Some(4), None),
        (4, Some(6), None),
        (5, Some(7), Some(7)),
        (6, None, None),
    ];
    for (old, target, position) in table {
        assert_eq!(r.target(Slot(old)), target.map(Slot), "target of {old}");
        assert_eq!(r.position(Slot(old)), position.map(Slot), "position of {old}");
    }
}

#[test]
fn patch_end_lands_after_its_sequence() {
    use crate::patch::{Patch, Target};
    let prog = asm(&[call_kfunc(0, 9), exit()]);
    let mut p = Patch::new();
    p.jump(crate::op::Width::W64, Cond::Eq, Reg::R1, crate::op::Operand::Imm(0), Target::End);
    p.push(mov(0, 5));
    let mut edits = Edits::new();
    edits.replace(Slot(0), p.finish().expect("resolves"));
    let a = both(&prog, &edits, &[]).expect("valid");
    assert_eq!(a.insns, asm(&[jmp_imm(Cond::Eq, Reg::R1, 0, 1), mov(0, 5), exit()]));
}
