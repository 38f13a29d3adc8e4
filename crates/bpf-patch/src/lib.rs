//! `bpf_patch`: the BPF instruction model up to cpu v4, the llvm-objdump-19 text syntax, a
//! resizable patch buffer with labels, a batched edit engine that keeps every position-holding
//! field consistent, and BPF ELF object I/O.
//!
//! ```
//! use bpf_patch::filter::{mov64_imm, exit};
//! use bpf_patch::op::{decode_all, encode_all, Reg};
//!
//! let slots = encode_all(&[mov64_imm(Reg::R0, 2), exit()]);
//! let ops = decode_all(&slots).expect("well-formed");
//! assert_eq!(ops.len(), 2);
//! ```
#![warn(missing_docs)]

pub mod filter;
#[doc(hidden)]
pub mod fuzz;
pub mod insn;
pub mod op;
pub mod opcode;

pub use insn::{Endian, Insn, InsnIdx, Slot};
pub use op::{DecodeError, Op, Reg};
pub mod btf_ext;
pub mod co_re;
pub mod diff;
pub mod edit;
pub mod elf;
pub mod patch;
pub mod text;
