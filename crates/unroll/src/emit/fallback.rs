//! The default driver (no metadata support) and the `stub` lowering.
//!
//! - default, `kernel` lowering: mainline `r0 = -EOPNOTSUPP` (-95) with the pointer arguments
//!   untouched, as the kernel's generic kfunc bodies; RFC `r0 = 0`, the single instruction the
//!   RFC's `unroll_kfunc_call` appended when a driver appended nothing. One instruction each.
//! - `stub`, any driver: the same result, and for the mainline ABI each pointer argument's
//!   target zeroed first (`*(u64 *)(r2 + 0) = 0`, ...): the verifier treated them as written by
//!   the kfunc, so a program may read them unconditionally and must still verify.

use bpf_patch::filter::{mov64_imm, st_mem};
use bpf_patch::op::Size;

use super::{Asm, EOPNOTSUPP};
use crate::kfunc::Abi;

fn type_of(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

/// The default result alone.
pub(crate) fn default(asm: &mut Asm) {
    match asm.kfunc().abi() {
        Abi::Mainline => asm.op(mov64_imm(bpf_patch::Reg::R0, -EOPNOTSUPP), "-EOPNOTSUPP: no driver support"),
        Abi::Rfc => asm.op(mov64_imm(bpf_patch::Reg::R0, 0), "0: the RFC's default result"),
    };
}

/// The stub: out-parameters zeroed, then the default result.
pub(crate) fn stub(asm: &mut Asm) {
    let k = asm.kfunc();
    let names: &[&str] = match k {
        crate::Kfunc::RxTimestamp => &["*timestamp"],
        crate::Kfunc::RxHash => &["*hash", "*rss_type"],
        crate::Kfunc::RxVlanTag => &["*vlan_proto", "*vlan_tci"],
        _ => &[],
    };
    for (&(reg, size), name) in k.out_params().iter().zip(names) {
        asm.op(
            st_mem(size, reg, 0, 0),
            format!("{name} = 0 ({}; the verifier assumed it written)", type_of(size)),
        );
    }
    default(asm);
}
