//! Unrolls the XDP RX-metadata kfuncs of a compiled BPF object into plain bytecode, per network
//! driver (issue 5; kernel-notes §B, §C): the 2022 RFC's unrolled kfuncs done in userspace.
//!
//! - [`kfunc`]: the catalogue of the two ABIs ([`Abi::Mainline`], [`Abi::Rfc`]).
//! - [`sites`]: the calls in an object, found from the relocations against the kfunc symbols.
//! - [`emit`](mod@emit): the sequences as data, per [`Driver`] (veth, ice, mlx4, bnxt and the
//!   default driver) and [`Lowering`] (`kernel`: the RFC's post-verification form; `stub`: the
//!   default result; `loadable`: accepted by today's verifier through `bpf_rdonly_cast`, veth
//!   only), each instruction annotated; offsets from the interpreter's
//!   [`bpf_verifier_model::interp::Layouts`]. ice is inline throughout; mlx4 and bnxt
//!   timestamps call a kernel routine under the RFC's `xdp_kfunc_call_preserving_r1` contract
//!   ([`emit::contract`]), listed in [`Sequence::calls`].
//! - [`discipline`]: the register / stack rule every sequence is checked against.
//! - [`rewrite`]: [`unroll`], bytes in, bytes out, with a per-site [`Report`]; each routine call
//!   gets an `R_BPF_64_32` relocation naming the kernel function.
//! - [`regions`]: the unrolled regions of an object (from a [`Report`] or `unroll --json`)
//!   checked where they landed against their lowering's discipline and boundaries.
//! - [`trusted`]: the same regions described for the verifier's trusted-region mode (the
//!   wrapper as the context, the structs its pointers point to, the contract routines).
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
//!
//! // mlx4's timestamp: the RFC's call + `r1 = r0` pair, naming its kernel routine.
//! let seq = emit(Driver::Mlx4, Kfunc::RxTimestamp, Lowering::Kernel, &Layouts::v6_18())?;
//! assert_eq!(seq.calls, [(bpf_patch::Slot(1), "mlx4_xdp_rx_timestamp_out")]);
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
pub mod regions;
pub mod rewrite;
pub mod sites;
pub mod trusted;

pub use emit::{emit, emit_loadable, Driver, KernelIds, Lowering, Sequence};
pub use error::UnrollError;
pub use kfunc::{Abi, Kfunc};
pub use profile::{Profile, ProfileError};
pub use regions::{check_regions, Region, RegionDiagnostic};
pub use rewrite::{unroll, Options, Report, SiteReport};
pub use sites::{find_sites, KfuncIds, Site};
pub use trusted::trusted_regions;
