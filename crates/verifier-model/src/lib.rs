//! `bpf_verifier_model`: a concrete interpreter with modelled kernel memory, the abstract
//! verifier, and the packet-traits codec ([`traits`]).
//!
//! ```
//! use bpf_patch::text::assemble;
//! use bpf_verifier_model::interp::{Program, Vm, XdpSetup};
//!
//! // XDP: drop frames shorter than 60 bytes, pass the rest.
//! let code = assemble(
//!     "r2 = *(u32 *)(r1 + 0x4)\nr1 = *(u32 *)(r1 + 0x0)\nr1 += 0x3c\nr0 = 0x1\n\
//!      if r1 > r2 goto +0x1\nr0 = 0x2\nexit",
//! )
//! .expect("assembles");
//! let mut vm = Vm::new(Program::new(&code).expect("decodes"));
//! let ctx = vm.setup_xdp(&XdpSetup::new(vec![0; 64]));
//! assert_eq!(vm.run([ctx, 0, 0, 0, 0]).expect("runs").r0, 2);
//! ```
#![warn(missing_docs)]

pub mod conformance;
#[doc(hidden)]
pub mod fuzz;
pub mod interp;
pub mod load;
pub mod traits;
pub mod verifier;
