//! Why a run of the interpreter stops without a result; every variant names the slot.

use bpf_patch::op::{AluOp, LdImm64Src, Width};
use bpf_patch::Slot;
use thiserror::Error;

use super::{HelperError, MemError, MAX_CALL_FRAMES};

/// Why a run stopped without a result.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum InterpError {
    /// A memory access faulted.
    #[error("slot {slot}: {source}")]
    Memory {
        /// Instruction slot.
        slot: Slot,
        /// The fault.
        #[source]
        source: MemError,
    },
    /// A jump or call leaves the program or lands inside `ld_imm64`.
    #[error("slot {slot}: jump to slot {target}, which is not an instruction")]
    BadJump {
        /// Instruction slot.
        slot: Slot,
        /// Target slot.
        target: i64,
    },
    /// Execution ran past the last instruction.
    #[error("execution fell off the end of the program after slot {slot}")]
    FellOffEnd {
        /// Last executed slot.
        slot: Slot,
    },
    /// The instruction budget is exhausted.
    #[error("slot {slot}: instruction budget of {budget} exhausted")]
    BudgetExceeded {
        /// Slot about to execute.
        slot: Slot,
        /// The budget.
        budget: u64,
    },
    /// A store to a read-only context field (an `xdp_md` field, or `data`/`data_end`/
    /// `data_meta` of `__sk_buff`); the kernel rejects these.
    #[error("slot {slot}: store to read-only context field at offset {offset}")]
    ContextWrite {
        /// Instruction slot.
        slot: Slot,
        /// Offset in the context.
        offset: usize,
    },
    /// Too many nested calls.
    #[error("slot {slot}: call depth exceeds {MAX_CALL_FRAMES} frames")]
    CallDepth {
        /// The call's slot.
        slot: Slot,
    },
    /// No helper with this id is registered.
    #[error("slot {slot}: unknown helper {id}")]
    UnknownHelper {
        /// The call's slot.
        slot: Slot,
        /// Helper id.
        id: i64,
    },
    /// A kfunc call has no registered implementation.
    #[error("slot {slot}: unknown kfunc with BTF id {btf_id}")]
    UnknownKfunc {
        /// The call's slot.
        slot: Slot,
        /// BTF id.
        btf_id: i32,
    },
    /// A helper reported an error.
    #[error("slot {slot}: helper {id}: {source}")]
    Helper {
        /// The call's slot.
        slot: Slot,
        /// Helper id.
        id: i32,
        /// The cause.
        #[source]
        source: HelperError,
    },
    /// An `ld_imm64` pseudo source the environment does not resolve.
    #[error("slot {slot}: ld_imm64 with {src:?} imm {imm} is not resolved by the environment")]
    Unresolved {
        /// Instruction slot.
        slot: Slot,
        /// The pseudo source.
        src: LdImm64Src,
        /// Its `imm`.
        imm: i32,
    },
    /// `LD_ABS`/`LD_IND` without a packet.
    #[error("slot {slot}: legacy packet load without a packet")]
    NoPacket {
        /// Instruction slot.
        slot: Slot,
    },
    /// An ALU operation other than a 64-bit `mov`, `+=` or `-=` reads the frame pointer R10:
    /// the kernel's verifier prohibits such arithmetic on a stack pointer, so its result has no
    /// defined value here.
    #[error("slot {slot}: Invalid arithmetic on the frame pointer r10 ({op:?}, {width:?}): the kernel prohibits it")]
    FramePointerArithmetic {
        /// Instruction slot.
        slot: Slot,
        /// The operation.
        op: AluOp,
        /// Its width.
        width: Width,
    },
    /// The frame pointer R10 is written.
    #[error("slot {slot}: write to the read-only frame pointer r10")]
    FramePointerWrite {
        /// Instruction slot.
        slot: Slot,
    },
}

impl InterpError {
    /// The slot of the instruction that stopped the run.
    pub fn slot(&self) -> Slot {
        match self {
            InterpError::Memory { slot, .. }
            | InterpError::BadJump { slot, .. }
            | InterpError::FellOffEnd { slot }
            | InterpError::BudgetExceeded { slot, .. }
            | InterpError::ContextWrite { slot, .. }
            | InterpError::CallDepth { slot }
            | InterpError::UnknownHelper { slot, .. }
            | InterpError::UnknownKfunc { slot, .. }
            | InterpError::Helper { slot, .. }
            | InterpError::Unresolved { slot, .. }
            | InterpError::NoPacket { slot }
            | InterpError::FramePointerArithmetic { slot, .. }
            | InterpError::FramePointerWrite { slot } => *slot,
        }
    }
}
