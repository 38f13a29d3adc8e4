//! The abstract verifier model (issue "verifier core"), built bottom-up: the value domains
//! first — [`tnum`] (the kernel's tristate numbers) and [`scalar`] (tnum plus signed/unsigned
//! 32/64-bit ranges with the kernel's bound synchronisation and ALU transfer functions), each
//! checked for soundness against the concrete interpreter.

pub mod availability;
pub mod branch;
pub mod btf_ptr;
pub mod case;
pub mod case_btf;
pub mod cfg;
pub mod ctx;
pub mod dynptr;
pub mod explore;
pub mod helpers;
pub mod iter;
pub mod kernel_types;
pub mod kfunc;
pub mod kfunc_bundle;
pub mod live;
pub mod log;
pub mod map_compat;
pub mod object;
pub mod scalar;
pub mod state;
pub mod subprog;
pub mod tnum;
pub mod trusted;

pub use scalar::Scalar;
pub use tnum::Tnum;
