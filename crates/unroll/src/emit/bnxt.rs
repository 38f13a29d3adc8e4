//! bnxt, `kernel` lowering, on the RFC's wrapper `struct bnxt_xdp_buff { xdp, rxcmp1, bp, r0 }`
//! (kernel-notes §B.4.4): the timestamp through the kernel routine `bnxt_xdp_rx_timestamp(_out)`
//! under the `xdp_kfunc_call_preserving_r1` contract ([`super::contract`]: a spinlock and a
//! timecounter conversion cannot be inlined); no hash or VLAN op, so -EOPNOTSUPP for those.
//! RFC `rx_timestamp_supported` is 0: mainline bnxt has no timestamp op (the interpreter's
//! routine answers as mainline bnxt does), while the call stays in `rx_timestamp` and
//! `export_to_skb` for a kernel that provides the RFC's routine.

use bpf_patch::filter::mov64_imm;
use bpf_patch::op::Reg;
use bpf_verifier_model::interp::Layouts;

use super::{contract, export, Asm, EOPNOTSUPP};
use crate::error::UnrollError;
use crate::kfunc::Kfunc;

/// The `kernel` lowering of `asm`'s kfunc for bnxt.
pub(crate) fn kernel(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    match asm.kfunc() {
        Kfunc::RxTimestamp => contract::rx_timestamp(asm, l)?,
        Kfunc::RxHash | Kfunc::RxVlanTag => {
            asm.op(mov64_imm(Reg::R0, -EOPNOTSUPP), "-EOPNOTSUPP: bnxt has no such op");
        }
        Kfunc::RfcRxTimestampSupported => {
            asm.op(mov64_imm(Reg::R0, 0), "0: bnxt has no RX timestamp op");
        }
        Kfunc::RfcRxTimestamp => contract::rfc_rx_timestamp(asm, l)?,
        Kfunc::RfcExportToSkb => {
            export::export_to_skb(asm, l, |asm, b, _| contract::export_timestamp(asm, l, b))?
        }
    }
    Ok(())
}
