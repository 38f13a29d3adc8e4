//! Tests of the typed instruction view.

use super::*;

fn dec(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Result<Op, DecodeError> {
    Op::decode(&[Insn::new(code, dst, src, off, imm), Insn::default()], Slot(7))
}

#[test]
fn every_valid_single_slot_encoding_round_trips() {
    // Exhaustive over opcodes and register fields, with a set of off/imm values that hits
    // every special case (sdiv, movsx, byte-swap widths, atomics, pseudo calls).
    let offs = [0i16, 1, 8, 16, 32, -3];
    let imms = [0i32, 1, 16, 32, 64, 0x41, 0xe1, 0xf1, 0x100, 0x110, -1];
    let mut decoded = 0;
    for code in 0..=255u8 {
        for regs in [0u8, 0x21, 0xa1, 0x1a, 0x0b, 0xb0, 0x10, 0x20] {
            for off in offs {
                for imm in imms {
                    let insn = Insn::new(code, regs & 0xf, regs >> 4, off, imm);
                    if let Ok(op) = Op::decode(&[insn, Insn::default()], Slot(0)) {
                        decoded += 1;
                        let (first, _) = op.encode();
                        assert_eq!(first, insn, "{op:?} re-encodes differently");
                    }
                }
            }
        }
    }
    assert!(decoded > 4_000, "only {decoded} encodings decoded");
}

#[test]
fn malformed_encodings_are_rejected_with_their_slot() {
    let cases: &[(u8, u8, u8, i16, i32, &str)] = &[
        (0xff, 0, 0, 0, 0, "unknown opcode 0xff"),
        (0x07, 11, 0, 0, 1, "invalid register r11"),
        (0x07, 1, 2, 0, 1, "reserved field src_reg"),
        (0x0f, 1, 2, 0, 5, "reserved field imm"),
        (0x07, 1, 0, 3, 1, "reserved field off"),
        (0x95, 0, 0, 0, 1, "reserved field imm"),
        (0xdb, 1, 2, 0, 0x02, "invalid atomic imm"),
        (0xd4, 1, 0, 0, 24, "invalid byte-swap width"),
        (0x85, 0, 3, 0, 1, "invalid call src_reg"),
        (0x3f, 1, 2, 2, 0, "invalid off 2"),
    ];
    for &(code, dst, src, off, imm, want) in cases {
        let err = dec(code, dst, src, off, imm).expect_err(want);
        assert_eq!(err.slot(), Slot(7));
        assert!(err.to_string().contains(want), "{err} does not say {want}");
    }
}

#[test]
fn ld_imm64_needs_a_clean_second_slot() {
    let first = Insn::new(LD_IMM64, 1, 0, 0, 5);
    assert_eq!(Op::decode(&[first], Slot(3)), Err(DecodeError::TruncatedLdImm64 { slot: Slot(3) }));
    let bad = Insn::new(0x07, 0, 0, 0, 1);
    assert!(matches!(
        Op::decode(&[first, bad], Slot(3)),
        Err(DecodeError::BadLdImm64Tail { slot: Slot(4), .. })
    ));
    let op = Op::decode(&[first, Insn::new(0, 0, 0, 0, -1)], Slot(3)).expect("valid ld_imm64");
    assert_eq!(op, Op::LdImm64 { dst: Reg::R1, src: LdImm64Src::Imm, imm: 5, next_imm: -1 });
    assert_eq!(Op::imm64(5, -1), 0xffff_ffff_0000_0005);
}

#[test]
fn register_masks_follow_the_semantics_not_the_dst_field() {
    let store = Op::Store { size: Size::DW, dst: Reg::R2, off: 0, src: Reg::R4 };
    assert_eq!(store.regs_written(), 0, "a store writes memory, not its address register");
    assert_eq!(store.regs_read(), Reg::R2.mask() | Reg::R4.mask());
    let call = Op::Call(CallTarget::Helper(1));
    assert_eq!(call.regs_written(), 0b11_1111);
    let mov = Op::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R3, src: Operand::Reg(Reg::R1) };
    assert_eq!((mov.regs_written(), mov.regs_read()), (Reg::R3.mask(), Reg::R1.mask()));
}
