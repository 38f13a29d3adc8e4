//! The one place that says which instruction fields hold an instruction position (STYLE.md rule 1,
//! instruction level): jump `off`, `gotol` `imm`, bpf-to-bpf call `imm`, and the `imm` of an
//! `ld_imm64` with `src_reg = BPF_PSEUDO_FUNC`.
//!
//! Position-holding fields outside the instruction stream (`.BTF.ext` func_info / line_info /
//! CO-RE `insn_off`, ELF relocation `r_offset`, symbol `st_value` / `st_size`) are enumerated by
//! the object layer ([`crate::elf`], [`crate::btf_ext`]), which fixes them through
//! [`super::Remap`].

use crate::insn::Insn;
use crate::opcode::{
    bpf_class, bpf_op, BPF_CALL, BPF_EXIT, BPF_JA, BPF_JMP, BPF_JMP32, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
    LD_IMM64,
};

/// A field of an instruction that holds a position relative to the next slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PositionField {
    /// `off` of a conditional jump, `ja` or `may_goto` (16 bits).
    JumpOff,
    /// `imm` of `gotol` (`BPF_JMP32 | BPF_JA`, cpu v4; 32 bits).
    GotolImm,
    /// `imm` of a bpf-to-bpf call (`src_reg = BPF_PSEUDO_CALL`; 32 bits).
    CallImm,
    /// `imm` of the first slot of `ld_imm64` with `src_reg = BPF_PSEUDO_FUNC` (32 bits).
    PseudoFuncImm,
}

/// Which field of `insn` holds a relative instruction position, if any.
///
/// Mirrors the kernel's `bpf_adj_branches` classification exactly: `ld_imm64` with
/// `BPF_PSEUDO_FUNC`; every `BPF_JMP` / `BPF_JMP32` opcode except `exit`; among calls only
/// `src_reg = BPF_PSEUDO_CALL` (helper and kfunc calls, and `callx`, hold no position); the
/// exact opcode `BPF_JMP32 | BPF_JA` keeps its target in `imm`, every other jump in `off`. The
/// second slot of `ld_imm64` (opcode 0) holds none.
pub fn position_field(insn: &Insn) -> Option<PositionField> {
    let code = insn.code;
    if code == LD_IMM64 {
        return (insn.src_reg() == BPF_PSEUDO_FUNC).then_some(PositionField::PseudoFuncImm);
    }
    let class = bpf_class(code);
    if class != BPF_JMP && class != BPF_JMP32 {
        return None;
    }
    match bpf_op(code) {
        BPF_EXIT => None,
        BPF_CALL => (insn.src_reg() == BPF_PSEUDO_CALL).then_some(PositionField::CallImm),
        _ if code == BPF_JMP32 | BPF_JA => Some(PositionField::GotolImm),
        _ => Some(PositionField::JumpOff),
    }
}

/// `position_field(insn).is_some()` by lookup in a table of booleans indexed like [`FIELDS`],
/// for the hot loop of [`super::apply`]: a data-dependent branch per instruction would cost more
/// than the copy. Tested equal to [`position_field`] over every opcode.
#[inline]
pub(crate) fn holds_position(insn: &Insn) -> bool {
    HOLDS[usize::from(insn.code) | (usize::from(insn.src_reg()) << 8)]
}

/// `FIELDS[i].is_some()`.
static HOLDS: [bool; 4096] = {
    let mut table = [false; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = FIELDS[i].is_some();
        i += 1;
    }
    table
};

/// [`position_field`] by table lookup on (`code`, `src_reg`).
#[inline]
pub(crate) fn field_of(insn: &Insn) -> Option<PositionField> {
    FIELDS[usize::from(insn.code) | (usize::from(insn.src_reg()) << 8)]
}

/// Indexed by `code | src_reg << 8`.
static FIELDS: [Option<PositionField>; 4096] = {
    let mut table = [None; 4096];
    let mut i = 0;
    while i < 4096 {
        let code = (i & 0xff) as u8;
        let src = (i >> 8) as u8;
        let class = bpf_class(code);
        let op = bpf_op(code);
        let jump = class == BPF_JMP || class == BPF_JMP32;
        table[i] = if code == LD_IMM64 {
            if src == BPF_PSEUDO_FUNC {
                Some(PositionField::PseudoFuncImm)
            } else {
                None
            }
        } else if !jump || op == BPF_EXIT {
            None
        } else if op == BPF_CALL {
            if src == BPF_PSEUDO_CALL {
                Some(PositionField::CallImm)
            } else {
                None
            }
        } else if code == BPF_JMP32 | BPF_JA {
            Some(PositionField::GotolImm)
        } else {
            Some(PositionField::JumpOff)
        };
        i += 1;
    }
    table
};

impl PositionField {
    /// Width of the field in bits (16 for `off`, 32 for `imm`).
    pub const fn bits(self) -> u32 {
        match self {
            PositionField::JumpOff => 16,
            _ => 32,
        }
    }

    /// The relative position stored in `insn` (slots from the next slot).
    pub fn get(self, insn: &Insn) -> i64 {
        match self {
            PositionField::JumpOff => i64::from(insn.off),
            _ => i64::from(insn.imm),
        }
    }

    /// Whether `value` fits this field.
    pub fn fits(self, value: i64) -> bool {
        match self {
            PositionField::JumpOff => i16::try_from(value).is_ok(),
            _ => i32::try_from(value).is_ok(),
        }
    }

    /// Stores `value` in `insn` if it fits; returns `false` and leaves `insn` unchanged if not.
    pub fn set(self, insn: &mut Insn, value: i64) -> bool {
        match self {
            PositionField::JumpOff => match i16::try_from(value) {
                Ok(v) => {
                    insn.off = v;
                    true
                }
                Err(_) => false,
            },
            _ => match i32::try_from(value) {
                Ok(v) => {
                    insn.imm = v;
                    true
                }
                Err(_) => false,
            },
        }
    }
}

impl std::fmt::Display for PositionField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PositionField::JumpOff => "jump off",
            PositionField::GotolImm => "gotol imm",
            PositionField::CallImm => "bpf-to-bpf call imm",
            PositionField::PseudoFuncImm => "ld_imm64 pseudo-func imm",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{CallTarget, LdImm64Src, Op};
    use crate::Slot;

    /// What the typed view says about the position field of a decodable instruction.
    fn expected(op: &Op) -> Option<PositionField> {
        match op {
            Op::Ja { .. } | Op::MayGoto { .. } | Op::Jump { .. } => Some(PositionField::JumpOff),
            Op::Gotol { .. } => Some(PositionField::GotolImm),
            Op::Call(CallTarget::Local(_)) => Some(PositionField::CallImm),
            Op::LdImm64 { src: LdImm64Src::Func, .. } => Some(PositionField::PseudoFuncImm),
            _ => None,
        }
    }

    #[test]
    fn position_field_is_complete_over_all_opcodes() {
        let mut decoded = 0;
        let mut seen = std::collections::HashSet::new();
        for code in 0..=255u8 {
            for src in 0..16u8 {
                // Plausible field values: an atomic imm for STX|ATOMIC, bits for END, 0 else.
                for (dst, imm) in [0, 1].into_iter().flat_map(|d| [0, 1, 16, 0xe1, 0x100].map(|i| (d, i))) {
                    let insn = Insn::new(code, dst, src, 0, imm);
                    let field = position_field(&insn);
                    let class = bpf_class(code);
                    if code != LD_IMM64 && class != BPF_JMP && class != BPF_JMP32 {
                        assert_eq!(field, None, "code {code:#04x} src {src}");
                    }
                    if let Ok(op) = Op::decode(&[insn, Insn::default()], Slot(0)) {
                        decoded += 1;
                        assert_eq!(field, expected(&op), "code {code:#04x} src {src} op {op:?}");
                        if let Some(f) = field {
                            seen.insert(f);
                        }
                    }
                }
            }
        }
        assert!(decoded > 1000, "only {decoded} decodable encodings");
        assert_eq!(seen.len(), 4, "every variant is produced by some opcode: {seen:?}");
    }

    #[test]
    fn the_field_table_agrees_with_position_field() {
        for code in 0..=255u8 {
            for src in 0..16u8 {
                let insn = Insn::new(code, 0, src, 0, 0);
                assert_eq!(field_of(&insn), position_field(&insn), "code {code:#04x} src {src}");
                assert_eq!(holds_position(&insn), position_field(&insn).is_some());
            }
        }
    }

    #[test]
    fn set_refuses_values_that_do_not_fit() {
        let mut insn = Insn::new(BPF_JMP | BPF_JA, 0, 0, 5, 0);
        assert!(!PositionField::JumpOff.set(&mut insn, 32768));
        assert_eq!(insn.off, 5);
        assert!(PositionField::JumpOff.set(&mut insn, -32768));
        assert_eq!(insn.off, -32768);
        let mut call = Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 3);
        assert!(!PositionField::CallImm.set(&mut call, i64::from(i32::MAX) + 1));
        assert_eq!(PositionField::CallImm.get(&call), 3);
    }
}
