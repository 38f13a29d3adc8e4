//! `bpf_verifier_model`: a concrete interpreter with modelled kernel memory, and an abstract
//! verifier that behaves like the kernel's.
#![warn(missing_docs)]

pub mod conformance;
pub mod interp;
