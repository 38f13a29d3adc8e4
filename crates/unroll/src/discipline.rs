//! The register and stack discipline of emitted sequences (kernel-notes §B.5): what a sequence
//! writes, reads and uses of the stack ([`usage`]), and the rules checked on it:
//! - [`check`], the RFC's rule for the `kernel` and `stub` lowerings: only R0 and R2-R5
//!   written, R1 and R6-R10 never written, no stack access through R10, no call, no `exit`;
//!   the one exception is the RFC's `xdp_kfunc_call_preserving_r1` pair, a kfunc `call`
//!   immediately followed by `r1 = r0` (the routine returns the context it was given), which
//!   may write R1-R5; no jump may land on its `r1 = r0`;
//! - [`check_loadable`]: R0-R5 written (the replaced call clobbered them anyway), stack accesses
//!   only in the given fresh slots, calls only to the given kfunc BTF ids;
//!
//! and for both, every jump landing inside the sequence or just after it.

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
    /// A jump lands on the `r1 = r0` of a contract pair, skipping its call.
    #[error("insn {insn}: jumps to {target}, between a call and its r1 = r0")]
    SplitsContract {
        /// Slot in the sequence.
        insn: u32,
        /// The target slot.
        target: i64,
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

/// Registers written and read by `insns`; `stack_bytes` is left 0 (the emitter knows how many
/// slots it spilled to).
pub fn usage(insns: &[Insn]) -> Result<Usage, bpf_patch::DecodeError> {
    let ops = decode_all(insns)?;
    let (w, r) = ops.iter().fold((0, 0), |(w, r), (_, op)| (w | op.regs_written(), r | op.regs_read()));
    Ok(Usage { regs_written: w, regs_read: r, stack_bytes: 0 })
}

/// Every breach of the RFC's discipline in `insns` (empty: the sequence complies).
pub fn check(insns: &[Insn]) -> Vec<Violation> {
    check_with(insns, ALLOWED_WRITES, None, &[])
}

/// Whether `op` then `next` are the contract pair: a kfunc call, then `r1 = r0`.
fn contract_pair(op: &Op, next: Option<&Op>) -> bool {
    let restores = matches!(
        next,
        Some(Op::Alu {
            op: bpf_patch::op::AluOp::Mov,
            width: bpf_patch::op::Width::W64,
            dst: Reg::R1,
            src: bpf_patch::op::Operand::Reg(Reg::R0),
        })
    );
    matches!(op, Op::Call(bpf_patch::op::CallTarget::Kfunc { .. })) && restores
}

/// Every breach of the `loadable` discipline: writes within R0-R5, stack accesses only within
/// `[r10 + stack.0, r10 + stack.1)`, calls only to the kfuncs `kfuncs`.
pub fn check_loadable(insns: &[Insn], stack: (i16, i16), kfuncs: &[i32]) -> Vec<Violation> {
    check_with(insns, 0b11_1111, Some(stack), kfuncs)
}

fn check_with(insns: &[Insn], allowed: u16, stack_ok: Option<(i16, i16)>, kfuncs: &[i32]) -> Vec<Violation> {
    let ops = match decode_all(insns) {
        Ok(ops) => ops,
        Err(e) => return vec![Violation::Decode(e.to_string())],
    };
    let len = i64::try_from(insns.len()).expect("sequences are short");
    let mut out = Vec::new();
    // The contract pairs (kernel lowering only): (slot of the call, slot of `r1 = r0`).
    let pairs: Vec<(u32, u32)> = if stack_ok.is_none() {
        ops.windows(2)
            .filter(|w| contract_pair(&w[0].1, Some(&w[1].1)))
            .map(|w| (w[0].0 .0, w[1].0 .0))
            .collect()
    } else {
        Vec::new()
    };
    for (slot, op) in &ops {
        let insn = slot.0;
        let in_pair = pairs.iter().any(|&(c, m)| c == insn || m == insn);
        let may_write = if in_pair { allowed | Reg::R1.mask() } else { allowed };
        let w = op.regs_written();
        for reg in Usage::regs(w & !may_write) {
            out.push(Violation::WritesReg { insn, reg });
        }
        let access = match *op {
            Op::Load { src: Reg::R10, off, size, .. } => Some((off, size)),
            Op::Store { dst: Reg::R10, off, size, .. }
            | Op::StoreImm { dst: Reg::R10, off, size, .. }
            | Op::Atomic { dst: Reg::R10, off, size, .. } => Some((off, size)),
            _ => None,
        };
        let in_slots = |(off, size): (i16, bpf_patch::op::Size)| {
            stack_ok.is_some_and(|(lo, hi)| off >= lo && i32::from(off) + size_bytes(size) <= i32::from(hi))
        };
        let other_use = access.is_none() && op.regs_read() & Reg::R10.mask() != 0;
        if other_use || access.is_some_and(|a| !in_slots(a)) {
            out.push(Violation::UsesStack { insn });
        }
        let rel = match *op {
            Op::Call(bpf_patch::op::CallTarget::Kfunc { btf_id, off: 0 }) if kfuncs.contains(&btf_id) => None,
            Op::Call(_) if in_pair => None,
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
            } else if pairs.iter().any(|&(_, m)| i64::from(m) == target) {
                out.push(Violation::SplitsContract { insn, target });
            }
        }
    }
    out
}

fn size_bytes(size: bpf_patch::op::Size) -> i32 {
    match size {
        bpf_patch::op::Size::B => 1,
        bpf_patch::op::Size::H => 2,
        bpf_patch::op::Size::W => 4,
        bpf_patch::op::Size::DW => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::text::assemble;

    #[test]
    fn breaches_are_found() {
        let cases: [(&str, Vec<Violation>); 12] = [
            ("r0 = 0\nr2 = *(u64 *)(r1 + 56)\n*(u64 *)(r2 + 0) = r0", vec![]),
            ("r1 = 0", vec![Violation::WritesReg { insn: 0, reg: Reg::R1 }]),
            ("r6 = r1", vec![Violation::WritesReg { insn: 0, reg: Reg::R6 }]),
            ("r0 = *(u64 *)(r10 - 8)", vec![Violation::UsesStack { insn: 0 }]),
            (
                "call 0x1",
                vec![Violation::WritesReg { insn: 0, reg: Reg::R1 }, Violation::LeavesSequence { insn: 0 }],
            ),
            ("goto +0x1", vec![Violation::JumpsOutside { insn: 0, target: 2 }]),
            // The contract pair: a kfunc call, then r1 = r0 at once.
            ("*(u64 *)(r1 + 0x58) = r2\ncall kfunc -0x1\nr1 = r0\nr0 = *(u64 *)(r1 + 0x58)", vec![]),
            (
                "call kfunc -0x1\nr0 = 0\nr1 = r0",
                vec![
                    Violation::WritesReg { insn: 0, reg: Reg::R1 },
                    Violation::LeavesSequence { insn: 0 },
                    Violation::WritesReg { insn: 2, reg: Reg::R1 },
                ],
            ),
            ("r1 = r0", vec![Violation::WritesReg { insn: 0, reg: Reg::R1 }]),
            (
                "call 0x1\nr1 = r0",
                vec![
                    Violation::WritesReg { insn: 0, reg: Reg::R1 },
                    Violation::LeavesSequence { insn: 0 },
                    Violation::WritesReg { insn: 1, reg: Reg::R1 },
                ],
            ),
            ("call kfunc -0x1\nr1 = r0\nr1 += 0x8", vec![Violation::WritesReg { insn: 2, reg: Reg::R1 }]),
            (
                "if r2 == 0x0 goto +0x1\ncall kfunc -0x1\nr1 = r0",
                vec![Violation::SplitsContract { insn: 0, target: 2 }],
            ),
        ];
        for (src, want) in cases {
            let insns = assemble(src).expect("assembles");
            assert_eq!(check(&insns), want, "{src}");
        }
    }
}
