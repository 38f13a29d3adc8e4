//! The concrete interpreter: runs decoded [`bpf_patch::Op`]s with the kernel's semantics over
//! modelled memory.
//!
//! - [`program`]: decoding once and checking static targets ([`Program`]).
//! - [`alu`]: pure arithmetic, byte swaps and jump conditions.
//! - [`memory`]: typed regions with bounds in a synthetic address space ([`Memory`]).
//! - [`helpers`]: the pluggable helper registry and the kernel state helpers share.
//! - [`exec`]: the fetch-execute loop ([`Interpreter::run`]), frames, calls and budgets.
//! - [`error`]: [`LoadError`] and [`Fault`], each naming its slot.
//!
//! Registers that were never written are tracked: reading one is a [`Fault::UninitRegister`],
//! as the kernel verifier refuses such programs (`R0 !read_ok`). Helper calls and `LD_ABS` /
//! `LD_IND` leave R1-R5 unreadable afterwards, as in the kernel.
//!
//! ```
//! use bpf_patch::filter::{exit, mov64_imm};
//! use bpf_patch::op::{encode_all, Reg};
//! use bpf_verifier_model::interp::{Interpreter, Program};
//!
//! let program = Program::new(&encode_all(&[mov64_imm(Reg::R0, 7), exit()])).expect("valid");
//! let exit = Interpreter::new(program).run(&[]).expect("runs");
//! assert_eq!((exit.r0, exit.insns), (7, 2));
//! ```

pub mod alu;
pub mod error;
pub mod exec;
pub mod helpers;
pub mod memory;
pub mod program;

pub use error::{Fault, LoadError};
pub use exec::{Config, Exit, Interpreter};
pub use helpers::{HelperEnv, HelperError, Helpers, KernelState, Prng};
pub use memory::{MemError, Memory, Region, RegionKind};
pub use program::Program;

#[cfg(test)]
mod tests;
