//! The register and stack discipline of emitted sequences (kernel-notes §B.5): what a sequence
//! writes, reads and uses of the stack ([`usage`]), and the RFC's rule checked on it
//! ([`check`]): only R0 and R2-R5 written, R1 and R6-R10 never written, no stack access through
//! R10, no call, no `exit`, and every jump landing inside the sequence or just after it.

use bpf_patch::op::{decode_all, Op, Reg};
use bpf_patch::Insn;

/// Registers the `kernel` and `stub` lowerings may write: R0 and R2-R5.
pub const ALLOWED_WRITES: u16 = 0b11_1101;

/// What a sequence uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Usage {
    /// Registers written (mask of `1 << reg`).
    pub regs_written: u16,
    /// Registers read (mask of `1 << reg`).
    pub regs_read: u16,
    /// Stack bytes used below the function's frame (0: none).
    pub stack_bytes: u32,
}

impl Usage {
    /// The registers of a mask, in order.
    pub fn regs(mask: u16) -> Vec<Reg> {
        (0..=10u8).filter(|n| mask & (1 << n) != 0).filter_map(Reg::new).collect()
    }
}

/// A breach of the discipline, at an instruction (slot) of the sequence.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Violation {
    /// Writes a register outside R0, R2-R5.
    #[error("insn {insn}: writes {reg}")]
    WritesReg {
        /// Slot in the sequence.
        insn: u32,
        /// The register.
        reg: Reg,
    },
    /// Reads or writes through the frame pointer.
    #[error("insn {insn}: uses the stack")]
    UsesStack {
        /// Slot in the sequence.
        insn: u32,
    },
    /// A call or an exit.
    #[error("insn {insn}: calls or exits")]
    LeavesSequence {
        /// Slot in the sequence.
        insn: u32,
    },
    /// A jump lands outside `[0, len]`.
    #[error("insn {insn}: jumps to {target}, outside the sequence")]
    JumpsOutside {
        /// Slot in the sequence.
        insn: u32,
        /// The target slot.
        target: i64,
    },
    /// The slots do not decode.
    #[error("does not decode: {0}")]
    Decode(String),
}

/// Registers written and read by `insns` (which decode: they come from an emitter). Stack use
/// is 0 for every sequence of this crate's lowerings.
pub fn usage(insns: &[Insn]) -> Usage {
    let ops = decode_all(insns).expect("emitted sequences decode");
    let (w, r) = ops.iter().fold((0, 0), |(w, r), (_, op)| (w | op.regs_written(), r | op.regs_read()));
    Usage { regs_written: w, regs_read: r, stack_bytes: 0 }
}

/// Every breach of the discipline in `insns` (empty: the sequence complies).
pub fn check(insns: &[Insn]) -> Vec<Violation> {
    let ops = match decode_all(insns) {
        Ok(ops) => ops,
        Err(e) => return vec![Violation::Decode(e.to_string())],
    };
    let len = i64::try_from(insns.len()).expect("sequences are short");
    let mut out = Vec::new();
    for (slot, op) in &ops {
        let insn = slot.0;
        let w = op.regs_written();
        for reg in Usage::regs(w & !ALLOWED_WRITES) {
            out.push(Violation::WritesReg { insn, reg });
        }
        let stack = match *op {
            Op::Load { src, .. } => src == Reg::R10,
            Op::Store { dst, .. } | Op::StoreImm { dst, .. } | Op::Atomic { dst, .. } => dst == Reg::R10,
            _ => false,
        } || op.regs_read() & Reg::R10.mask() != 0;
        if stack {
            out.push(Violation::UsesStack { insn });
        }
        let rel = match *op {
            Op::Call(_) | Op::Callx { .. } | Op::Exit => {
                out.push(Violation::LeavesSequence { insn });
                None
            }
            Op::Ja { off } | Op::MayGoto { off } | Op::Jump { off, .. } => Some(i64::from(off)),
            Op::Gotol { imm } => Some(i64::from(imm)),
            _ => None,
        };
        if let Some(rel) = rel {
            let target = i64::from(insn) + 1 + rel;
            if !(0..=len).contains(&target) {
                out.push(Violation::JumpsOutside { insn, target });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::text::assemble;

    #[test]
    fn breaches_are_found() {
        let cases: [(&str, Vec<Violation>); 6] = [
            ("r0 = 0\nr2 = *(u64 *)(r1 + 56)\n*(u64 *)(r2 + 0) = r0", vec![]),
            ("r1 = 0", vec![Violation::WritesReg { insn: 0, reg: Reg::R1 }]),
            ("r6 = r1", vec![Violation::WritesReg { insn: 0, reg: Reg::R6 }]),
            ("r0 = *(u64 *)(r10 - 8)", vec![Violation::UsesStack { insn: 0 }]),
            (
                "call 0x1",
                vec![Violation::WritesReg { insn: 0, reg: Reg::R1 }, Violation::LeavesSequence { insn: 0 }],
            ),
            ("goto +0x1", vec![Violation::JumpsOutside { insn: 0, target: 2 }]),
        ];
        for (src, want) in cases {
            let insns = assemble(src).expect("assembles");
            assert_eq!(check(&insns), want, "{src}");
        }
    }
}
