//! Unit tests of the edit engine, written in our assembly syntax.

use super::*;
use crate::text::{assemble, listing};

fn asm(src: &str) -> Vec<Insn> {
    assemble(src).unwrap_or_else(|e| panic!("test program does not assemble: {e}"))
}

fn run(src: &str, edits: &Edits) -> (String, Remap) {
    let applied = apply(&asm(src), edits, &ApplyOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    (listing(&applied.insns).expect("edited program decodes"), applied.remap)
}

fn lines(listing: &str) -> Vec<&str> {
    listing.lines().map(|l| l.split_once(": ").expect("INDEX: TEXT").1).collect()
}

const PROG: &str = "
    r0 = 0x0
    if r1 > 0x5 goto <skip>
    r0 = 0x1
    call 0x7
skip:
    if r0 == 0x0 goto <top>
    exit
top:
    goto -0x7
";

#[test]
fn empty_batch_is_the_identity() {
    let insns = asm(PROG);
    let applied = apply(&insns, &Edits::new(), &ApplyOptions::default()).expect("no edits");
    assert_eq!(applied.insns, insns);
    assert!(applied.remap.is_identity());
    assert_eq!(applied.remap.target(Slot(3)), Some(Slot(3)));
}

#[test]
fn jump_across_insertion_is_extended() {
    let mut e = Edits::new();
    e.insert_before(Slot(2), asm("r7 = 0x1\nr8 = 0x2"));
    let (out, remap) = run(PROG, &e);
    assert_eq!(
        lines(&out),
        [
            "r0 = 0x0",
            "if r1 > 0x5 goto +0x4",
            "r7 = 0x1",
            "r8 = 0x2",
            "r0 = 0x1",
            "call 0x7",
            "if r0 == 0x0 goto +0x1",
            "exit",
            "goto -0x9"
        ]
    );
    assert_eq!((remap.target(Slot(2)), remap.position(Slot(2))), (Some(Slot(2)), Some(Slot(4))));
    assert_eq!(remap.new_len(), 9);
}

#[test]
fn branch_to_a_replaced_instruction_lands_on_its_first_replacement_instruction() {
    // Slot 4 (`if r0 == 0x0`) is the target of the jump at 1; replace it with three instructions.
    let mut e = Edits::new();
    e.replace(Slot(4), asm("r2 = r0\nr2 &= 0x1\nif r2 == 0x0 goto +0x1"));
    let (out, remap) = run(PROG, &e);
    assert_eq!(
        lines(&out),
        [
            "r0 = 0x0",
            "if r1 > 0x5 goto +0x2",
            "r0 = 0x1",
            "call 0x7",
            "r2 = r0",
            "r2 &= 0x1",
            "if r2 == 0x0 goto +0x1",
            "exit",
            "goto -0x9"
        ]
    );
    assert_eq!(remap.position(Slot(4)), None);
    assert_eq!(remap.group(Slot(4)), Some(Slot(4)..Slot(7)));
}

#[test]
fn backward_jump_from_after_an_insertion_still_reaches_its_target() {
    let mut e = Edits::new();
    e.insert_after(Slot(0), asm("r9 = 0x9"));
    let (out, _) = run(PROG, &e);
    // `goto -0x7` at the end went back to slot 0; it still does (slot 7 now, so -0x8).
    assert_eq!(lines(&out).last().copied(), Some("goto -0x8"));
}

#[test]
fn insertion_at_zero_and_at_the_end() {
    let mut e = Edits::new();
    e.insert_before(Slot(0), asm("r6 = r1")).insert_after(Slot(6), asm("exit"));
    let (out, remap) = run(PROG, &e);
    let l = lines(&out);
    assert_eq!((l[0], l[8], l[7]), ("r6 = r1", "exit", "goto -0x8"));
    assert_eq!(
        remap.target(Slot(0)),
        Some(Slot(0)),
        "jumps to the old first instruction land on the prologue"
    );
}

#[test]
fn deleting_a_jump_target_lands_on_what_follows() {
    let mut e = Edits::new();
    e.delete(Slot(4));
    let (out, _) = run(PROG, &e);
    assert_eq!(
        lines(&out),
        ["r0 = 0x0", "if r1 > 0x5 goto +0x2", "r0 = 0x1", "call 0x7", "exit", "goto -0x6"]
    );
}

#[test]
fn inserted_code_keeps_its_own_offsets() {
    let mut e = Edits::new();
    // A self-contained sequence with an early exit to its end (the RFC's jump-to-end).
    e.replace(Slot(3), asm("if r1 == 0x0 goto +0x1\nr0 = 0x2"));
    let (out, _) = run(PROG, &e);
    assert_eq!(lines(&out)[3..5], ["if r1 == 0x0 goto +0x1", "r0 = 0x2"]);
}

#[test]
fn calls_pseudo_funcs_and_gotol_are_retargeted_but_helpers_and_kfuncs_are_not() {
    let src = "
        call local 0x4
        gotol +0x3
        ld_pseudo r2, 0x4, 0x2
        call kfunc 0x10271
        exit
        r0 = 0x0
        exit
    ";
    let mut e = Edits::new();
    e.insert_before(Slot(4), asm("r1 = 0x1"));
    let (out, _) = run(src, &e);
    let l = lines(&out);
    assert_eq!(l[0], "call 0x5"); // Llvm syntax prints the pseudo call like a helper call.
    let applied = apply(&asm(src), &e, &ApplyOptions::default()).expect("applies");
    let text = crate::text::listing_with(&applied.insns, crate::text::Syntax::Lossless).expect("decodes");
    let l = lines(&text);
    assert_eq!(
        l,
        [
            "call local 0x5",
            "gotol +0x4",
            "ld_pseudo\tr2, 0x4, 0x3",
            "r1 = 0x1",
            "call kfunc 0x10271",
            "exit",
            "r0 = 0x0",
            "exit"
        ]
    );
}

#[test]
fn fixed_imm_calls_are_left_alone() {
    let insns = asm("call local -0x1\nr0 = 0x0\nexit");
    let mut e = Edits::new();
    e.insert_before(Slot(1), asm("r1 = 0x1"));
    let applied = apply(&insns, &e, &ApplyOptions { fixed_imm: &[Slot(0)] }).expect("applies");
    assert_eq!(applied.insns[0], insns[0]);
}

#[test]
fn ld_imm64_moves_as_one_instruction() {
    let src = "r1 = 0x1122334455667788 ll\nif r1 == 0x0 goto -0x3\nexit";
    let mut e = Edits::new();
    e.insert_before(Slot(0), asm("r0 = 0x0"));
    let (out, remap) = run(src, &e);
    assert_eq!(lines(&out), ["r0 = 0x0", "r1 = 0x1122334455667788 ll", "if r1 == 0x0 goto -0x4", "exit"]);
    assert_eq!(remap.position(Slot(1)), Some(Slot(2)), "the second slot follows the first");
    let mut d = Edits::new();
    d.delete(Slot(0));
    let (out, _) = run(src, &d);
    assert_eq!(lines(&out), ["if r1 == 0x0 goto -0x1", "exit"]);
}

#[test]
fn bad_edit_sets_are_refused_with_the_original_slot() {
    let insns = asm("r1 = 0x1 ll\nr0 = 0x0\nexit");
    let cases: Vec<(Edits, EditError)> = vec![
        (
            {
                let mut e = Edits::new();
                e.delete(Slot(9));
                e
            },
            EditError::OutOfBounds { at: Slot(9), len: 4 },
        ),
        (
            {
                let mut e = Edits::new();
                e.replace(Slot(1), vec![]);
                e
            },
            EditError::NotAnInstruction { at: Slot(1) },
        ),
        (
            {
                let mut e = Edits::new();
                e.delete(Slot(2)).replace(Slot(2), vec![]);
                e
            },
            EditError::Conflict { at: Slot(2) },
        ),
    ];
    for (edits, want) in cases {
        assert_eq!(apply(&insns, &edits, &ApplyOptions::default()), Err(want));
    }
    let mut e = Edits::new();
    e.delete(Slot(1));
    let err = apply(&asm("goto +0x1\nr0 = 0x0\nexit"), &Edits::new(), &ApplyOptions::default()).map(|_| ());
    assert_eq!(err, Ok(()));
    let jump_into_ldimm = asm("goto +0x1\nr1 = 0x1 ll\nexit");
    assert!(matches!(
        apply(&jump_into_ldimm, &Edits::new(), &ApplyOptions::default()),
        Err(EditError::TargetInsideLdImm64 { at: Slot(0), target: 2, .. })
    ));
    let mut last = Edits::new();
    last.delete(Slot(2));
    assert!(matches!(
        apply(&asm("goto +0x1\nr0 = 0x0\nexit"), &last, &ApplyOptions::default()),
        Err(EditError::TargetDeleted { at: Slot(0), target: 2 })
    ));
}

#[test]
fn overflow_is_detected_before_anything_changes_and_names_the_original_insn() {
    // A jump over 32,000 instructions; inserting 1,000 more in between overflows its i16 off.
    let mut src = String::from("r0 = 0x0\nif r1 == 0x0 goto <end>\n");
    for _ in 0..32_000 {
        src.push_str("r0 += 0x1\n");
    }
    src.push_str("end:\nexit\n");
    let insns = asm(&src);
    let before = insns.clone();
    let mut e = Edits::new();
    e.insert_before(Slot(100), vec![Insn::new(0xb7, 2, 0, 0, 0); 1_000]);
    let err = apply(&insns, &e, &ApplyOptions::default()).expect_err("off would be 33,000");
    assert_eq!(err, EditError::Overflow { at: Slot(1), field: PositionField::JumpOff, value: 33_000 });
    assert_eq!(insns, before);
    assert!(err.to_string().contains("insn 1 cannot be patched"));
}

#[test]
fn position_field_covers_exactly_the_position_holding_opcodes() {
    let mut with_field = Vec::new();
    for code in 0..=255u8 {
        for src in [0u8, 1, 2, 4] {
            if let Some(f) = position_field(&Insn::new(code, 0, src, 0, 0)) {
                with_field.push((code, src, f));
            }
        }
    }
    // All conditional jumps (2 classes x 11 conditions x K/X), ja, may_goto, gotol, pseudo call,
    // pseudo func: and no opcode whose class is not a jump except ld_imm64 with BPF_PSEUDO_FUNC.
    for &(code, src, f) in &with_field {
        let class = bpf_class(code);
        assert!(
            class == BPF_JMP || class == BPF_JMP32 || (code == LD_IMM64 && src == BPF_PSEUDO_FUNC),
            "{code:#x}"
        );
        if bpf_op(code) == BPF_CALL {
            assert_eq!((code, src, f), (BPF_JMP | BPF_CALL, BPF_PSEUDO_CALL, PositionField::CallImm));
        }
    }
    assert!(with_field.iter().any(|&(c, _, f)| c == (BPF_JMP32 | BPF_JA) && f == PositionField::GotolImm));
    assert!(with_field
        .iter()
        .any(|&(c, s, f)| c == LD_IMM64 && s == BPF_PSEUDO_FUNC && f == PositionField::PseudoFuncImm));
    assert!(!with_field.iter().any(|&(c, _, _)| c == BPF_JMP | BPF_EXIT || c == BPF_JMP | BPF_CALL | BPF_X));
}
