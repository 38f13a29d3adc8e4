//! Calls into kernel routines under the RFC's `xdp_kfunc_call_preserving_r1` contract
//! (kernel-notes §B.5), for the timestamps mlx4 (seqlock) and bnxt (spinlock) cannot inline:
//!
//! ```text
//! call <routine>             ; R_BPF_64_32 against the routine's name; clobbers R1-R5
//! r1 = r0                    ; the routine returns the wrapper it was given: ctx again
//! r0 = *(u64 *)(r1 + R0)     ; its result, left in the wrapper's u64 `r0` slot
//! ```
//!
//! The routines are the interpreter's `xdp_meta::PRESERVING_R1_ROUTINES`. RFC ABI: exactly the
//! RFC's contract, the routine (`mlx4_xdp_rx_timestamp`, `bnxt_xdp_rx_timestamp`) stores the
//! timestamp or 0. Mainline ABI: the out pointer R2 would not survive the call, so the sequence
//! first stores it into the `r0` slot, `*(u64 *)(r1 + R0) = r2`; the routine
//! (`..._rx_timestamp_out`) reads it from there, writes `*timestamp` as the driver's kfunc does,
//! and stores its `int` result sign-extended into the slot. That hand-over is our extension of
//! the contract; mainline's `mlx4_en_xdp_buff` has no `r0` slot either, the interpreter's layout
//! adds one (as the RFC's `mlx4_xdp_buff` had).

use bpf_patch::filter::{alu64_imm, ldx_mem, mov64_imm, mov64_reg, stx_mem};
use bpf_patch::op::{AluOp, Cond, Reg, Size};
use bpf_patch::patch::Target;
use bpf_verifier_model::interp::xdp_meta::{preserving_r1_routine, ScratchUse, XDP_META_F_TIMESTAMP};
use bpf_verifier_model::interp::{Layout, Layouts};

use super::export::{self, Block};
use super::{Asm, FieldRef};
use crate::error::UnrollError;

/// The driver's wrapper and its `r0` slot.
pub(crate) struct Wrapper<'l> {
    layout: &'l Layout,
    r0: FieldRef,
}

impl<'l> Wrapper<'l> {
    /// `asm`'s driver's wrapper in `l` (mlx4 or bnxt), with its `r0` slot.
    pub(crate) fn of(asm: &Asm, l: &'l Layouts) -> Result<Wrapper<'l>, UnrollError> {
        let layout = match asm.driver() {
            super::Driver::Mlx4 => &l.mlx4_en_xdp_buff,
            _ => &l.bnxt_xdp_buff,
        };
        let r0 = asm.field(layout, "r0")?;
        if r0.size != Size::DW {
            return Err(UnrollError::UnusableField {
                driver: asm.driver().name(),
                kfunc: asm.kfunc().name(),
                layout: layout.name.clone(),
                field: "r0".into(),
                reason: "is not the u64 scratch slot the contract needs".into(),
            });
        }
        Ok(Wrapper { layout, r0 })
    }
}

fn routine(asm: &Asm, scratch: ScratchUse) -> &'static str {
    let kind = asm.driver().kind().expect("only drivers with a wrapper call routines");
    preserving_r1_routine(kind, scratch).expect("mlx4 and bnxt have both timestamp routines")
}

/// `call routine; r1 = r0; r0 = wrapper->r0`.
fn call(asm: &mut Asm, w: &Wrapper<'_>, scratch: ScratchUse) {
    let name = routine(asm, scratch);
    let what = match scratch {
        ScratchUse::Value => "stores the timestamp or 0 in ctx->r0",
        ScratchUse::OutPointer => "writes *timestamp, its result in ctx->r0",
    };
    asm.call_routine(name, format!("call {name}(ctx): {what}, returns ctx (xdp_kfunc_call_preserving_r1)"));
    asm.op(mov64_reg(Reg::R1, Reg::R0), "r1 = r0: ctx again");
    asm.op(
        ldx_mem(Size::DW, Reg::R0, Reg::R1, w.r0.off),
        format!("r0 = ((struct {} *)ctx)->r0: the routine's result", w.layout.name),
    );
}

/// Hands the out pointer in `src` to the `_out` routine through the slot.
fn hand_over(asm: &mut Asm, w: &Wrapper<'_>, src: Reg, what: &str) {
    asm.op(
        stx_mem(Size::DW, Reg::R1, src, w.r0.off),
        format!("((struct {} *)ctx)->r0 = {what}: the out pointer, for the routine", w.layout.name),
    );
}

/// Mainline `rx_timestamp(ctx, u64 *timestamp)`.
pub(crate) fn rx_timestamp(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    let w = Wrapper::of(asm, l)?;
    hand_over(asm, &w, Reg::R2, "timestamp");
    call(asm, &w, ScratchUse::OutPointer);
    Ok(())
}

/// RFC `u64 rx_timestamp(ctx)`: the RFC's contract exactly.
pub(crate) fn rfc_rx_timestamp(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    let w = Wrapper::of(asm, l)?;
    call(asm, &w, ScratchUse::Value);
    Ok(())
}

/// Inside `export::export_to_skb`'s body: the timestamp into the block through the `_out`
/// routine (its `int` result says whether the hint was filled, as the reference's mainline
/// kfunc does), then R2 = the block again (from `xdp->data_meta`, already moved) and R3 = the
/// flags so far.
pub(crate) fn export_timestamp(asm: &mut Asm, l: &Layouts, b: &Block) -> Result<(), UnrollError> {
    let w = Wrapper::of(asm, l)?;
    let data_meta = export::data_meta(asm, l)?;
    let ts = b.rx_timestamp;
    asm.op(alu64_imm(AluOp::Add, Reg::R2, i32::from(ts.off)), "r2 = &meta->rx_timestamp");
    hand_over(asm, &w, Reg::R2, "&meta->rx_timestamp");
    call(asm, &w, ScratchUse::OutPointer);
    asm.op(ldx_mem(data_meta.size, Reg::R2, Reg::R1, data_meta.off), "r2 = meta = xdp->data_meta");
    asm.op(mov64_imm(Reg::R3, 0), "r3 = flags = 0");
    let no_ts = asm.label();
    asm.jump(Cond::Ne, Reg::R0, 0, Target::Label(no_ts), "no timestamp: not filled");
    asm.op(mov64_imm(Reg::R3, XDP_META_F_TIMESTAMP as i32), "flags = XDP_META_F_TIMESTAMP");
    asm.bind(no_ts);
    Ok(())
}
