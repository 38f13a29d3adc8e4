//! Errors of the interpreter: [`LoadError`] when a slot stream cannot become a [`super::Program`],
//! [`Fault`] when a run stops abnormally. Each names the slot it is about.

use bpf_patch::op::{DecodeError, LdImm64Src, Reg};
use bpf_patch::Slot;

use super::helpers::HelperError;
use super::memory::MemError;

/// Why a slot stream is not a runnable program.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum LoadError {
    /// No instructions.
    #[error("the program has no instructions")]
    Empty,
    /// A slot does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A jump, call or `BPF_PSEUDO_FUNC` lands outside the program or inside an `ld_imm64`.
    #[error("slot {slot}: target slot {target} is not the start of an instruction")]
    BadTarget {
        /// The jumping instruction.
        slot: Slot,
        /// Where it goes.
        target: i64,
    },
}

impl LoadError {
    /// The slot the error is about (`None` for an empty program).
    pub fn slot(&self) -> Option<Slot> {
        match self {
            LoadError::Empty => None,
            LoadError::Decode(e) => Some(e.slot()),
            LoadError::BadTarget { slot, .. } => Some(*slot),
        }
    }
}

/// Why a run stopped abnormally.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Fault {
    /// A load, store or atomic touched memory it may not.
    #[error("slot {slot}: {source}")]
    Memory {
        /// The accessing instruction.
        slot: Slot,
        /// What went wrong.
        #[source]
        source: MemError,
    },
    /// A register was read before being written (the kernel verifier's `!read_ok`).
    #[error("slot {slot}: {reg} is read before it is written")]
    UninitRegister {
        /// The reading instruction.
        slot: Slot,
        /// The register.
        reg: Reg,
    },
    /// R10 is read-only.
    #[error("slot {slot}: the frame pointer r10 is read-only")]
    WriteFramePointer {
        /// The writing instruction.
        slot: Slot,
    },
    /// A call to a helper id nobody registered.
    #[error("slot {slot}: helper {id} is not implemented")]
    UnknownHelper {
        /// The call.
        slot: Slot,
        /// The helper id.
        id: i32,
    },
    /// A helper failed.
    #[error("slot {slot}: helper {id} failed: {source}")]
    Helper {
        /// The call.
        slot: Slot,
        /// The helper id.
        id: i32,
        /// Its error.
        #[source]
        source: HelperError,
    },
    /// Kfuncs are not modelled yet.
    #[error("slot {slot}: kfunc with BTF id {btf_id} is not implemented")]
    UnknownKfunc {
        /// The call.
        slot: Slot,
        /// Its BTF id.
        btf_id: i32,
    },
    /// `callx` to a value that is neither a helper id nor a function address.
    #[error("slot {slot}: callx to {target:#x}, which is no function")]
    BadCallx {
        /// The call.
        slot: Slot,
        /// The register value.
        target: u64,
    },
    /// `ld_imm64` of a map, BTF object or map index: maps are not modelled yet.
    #[error("slot {slot}: ld_imm64 with source {src:?} is not supported")]
    UnsupportedLdImm64 {
        /// The instruction.
        slot: Slot,
        /// Its pseudo source.
        src: LdImm64Src,
    },
    /// A bpf-to-bpf call would exceed the kernel's 8 frames.
    #[error("slot {slot}: call exceeds the maximum of {max} frames")]
    CallDepth {
        /// The call.
        slot: Slot,
        /// The frame limit.
        max: usize,
    },
    /// Execution ran past the last instruction.
    #[error("slot {slot}: execution falls off the end of the program")]
    FallOffEnd {
        /// The last instruction executed.
        slot: Slot,
    },
    /// The instruction budget ran out (an endless loop, or a budget set too low).
    #[error("slot {slot}: instruction budget of {budget} exhausted")]
    Budget {
        /// The instruction that would exceed it.
        slot: Slot,
        /// The budget.
        budget: u64,
    },
}

impl Fault {
    /// The slot the fault is about.
    pub fn slot(&self) -> Slot {
        match *self {
            Fault::Memory { slot, .. }
            | Fault::UninitRegister { slot, .. }
            | Fault::WriteFramePointer { slot }
            | Fault::UnknownHelper { slot, .. }
            | Fault::Helper { slot, .. }
            | Fault::UnknownKfunc { slot, .. }
            | Fault::BadCallx { slot, .. }
            | Fault::UnsupportedLdImm64 { slot, .. }
            | Fault::CallDepth { slot, .. }
            | Fault::FallOffEnd { slot }
            | Fault::Budget { slot, .. } => slot,
        }
    }
}
