//! Unrolls the XDP RX-metadata kfuncs of a compiled BPF object into plain bytecode, per network
//! driver (issue 5; kernel-notes §B, §C): the 2022 RFC's unrolled kfuncs done in userspace.
//!
//! - [`kfunc`]: the catalogue of the two ABIs ([`Abi::Mainline`], [`Abi::Rfc`]).
//! - [`sites`]: the calls in an object, found from the relocations against the kfunc symbols.
//! - [`emit`](mod@emit): the sequences as data, per [`Driver`] and [`Lowering`] (`kernel`: the
//!   RFC's post-verification form; `stub`: the default result; `loadable`: accepted by today's
//!   verifier through `bpf_rdonly_cast`), each instruction annotated; offsets from the
//!   interpreter's [`bpf_verifier_model::interp::Layouts`].
//! - [`discipline`]: the register / stack rule every sequence is checked against.
//! - [`rewrite`]: [`unroll`], bytes in, bytes out, with a per-site [`Report`].
//! - [`profile`]: the bundled per-driver layouts with their provenance, and layouts read from a
//!   BTF the user names.
//! - [`matrix`]: what each driver × kfunc × lowering × ABI does, computed by the emitters.
//!
//! ```
//! use bpf_unroll::{emit, Driver, Kfunc, Lowering};
//! use bpf_verifier_model::interp::Layouts;
//!
//! let seq = emit(Driver::Veth, Kfunc::RxTimestamp, Lowering::Kernel, &Layouts::v6_18())?;
//! assert!(seq.annotated_listing().starts_with("0: r3 = *(u64 *)(r1 + 0x38)"));
//! assert!(bpf_unroll::discipline::check(&seq.insns).is_empty());
//! # Ok::<(), bpf_unroll::UnrollError>(())
//! ```
#![warn(missing_docs)]

pub mod discipline;
pub mod emit;
mod error;
pub mod kfunc;
pub mod matrix;
pub mod profile;
pub mod rewrite;
pub mod sites;

pub use emit::{emit, emit_loadable, Driver, KernelIds, Lowering, Sequence};
pub use error::UnrollError;
pub use kfunc::{Abi, Kfunc};
pub use profile::{Profile, ProfileError};
pub use rewrite::{unroll, Options, Report, SiteReport};
pub use sites::{find_sites, KfuncIds, Site};
