//! A decoded, checked program: instructions decoded once, a slot → instruction map for jumps, and
//! every static target (jumps, `gotol`, local calls, `BPF_PSEUDO_FUNC`) checked to land on the
//! start of an instruction.

use bpf_patch::op::{decode_all, CallTarget, LdImm64Src, Op};
use bpf_patch::{Insn, Slot};

use super::error::LoadError;

/// A program ready to run.
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<(Slot, Op)>,
    /// `index[slot]` is the instruction starting at `slot`, `u32::MAX` for the second slot of an
    /// `ld_imm64`.
    index: Vec<u32>,
}

impl Program {
    /// Decodes and checks a slot stream.
    pub fn new(insns: &[Insn]) -> Result<Self, LoadError> {
        if insns.is_empty() {
            return Err(LoadError::Empty);
        }
        let ops = decode_all(insns)?;
        let mut index = vec![u32::MAX; insns.len()];
        for (i, (slot, _)) in ops.iter().enumerate() {
            index[slot.index()] = u32::try_from(i).expect("fewer instructions than slots");
        }
        let program = Program { ops, index };
        for (slot, op) in &program.ops {
            if let Some(rel) = static_target(op) {
                program.target(*slot, rel)?;
            }
        }
        Ok(program)
    }

    /// The decoded instructions with their slots.
    pub fn ops(&self) -> &[(Slot, Op)] {
        &self.ops
    }

    /// The index of the instruction starting at `slot`.
    pub fn index_of(&self, slot: Slot) -> Option<usize> {
        match self.index.get(slot.index()) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }

    /// The instruction index `rel` slots after the one following `slot`.
    pub(crate) fn target(&self, slot: Slot, rel: i64) -> Result<usize, LoadError> {
        let target = i64::from(slot.0) + 1 + rel;
        u32::try_from(target)
            .ok()
            .and_then(|t| self.index_of(Slot(t)))
            .ok_or(LoadError::BadTarget { slot, target })
    }
}

/// The relative slot offset of an instruction's static target, if it has one.
fn static_target(op: &Op) -> Option<i64> {
    match *op {
        Op::Ja { off } | Op::MayGoto { off } | Op::Jump { off, .. } => Some(off.into()),
        Op::Gotol { imm } | Op::Call(CallTarget::Local(imm)) => Some(imm.into()),
        Op::LdImm64 { src: LdImm64Src::Func, imm, .. } => Some(imm.into()),
        _ => None,
    }
}
