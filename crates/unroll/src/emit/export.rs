//! The frame of the RFC's `bpf_xdp_metadata_export_to_skb` shared by every driver (kernel-notes
//! §C; the interpreter's `xdp_meta::export_to_skb` is the reference): RFC v2 placement and
//! headroom check, v1 return convention, our `xdp_to_skb_metadata` block with a `flags` word.
//!
//! `export_to_skb` emits the checks (the program has no metadata yet, `data_meta == data`;
//! the block fits above `data_hard_start + sizeof(struct xdp_frame)`, else `return -1`), moves
//! `data_meta` down over the block, zeroes it and writes the magic; then the driver's body fills
//! the hints with R2 = the block and leaves the flags in R3 (it may jump to the `done` label it
//! is given with them there); then `meta->flags = r3` and `return 0`.

use bpf_patch::filter::{alu64_imm, ldx_mem, mov64_imm, st_mem, stx_mem};
use bpf_patch::op::{AluOp, Cond, Reg, Size};
use bpf_patch::patch::{Label, Target};
use bpf_verifier_model::interp::ctx::XDP_FRAME_SIZE;
use bpf_verifier_model::interp::xdp_meta::{xdp_to_skb_metadata, XDP_METADATA_MAGIC};
use bpf_verifier_model::interp::Layouts;

use super::{Asm, FieldRef};
use crate::error::UnrollError;

/// The block's fields.
pub(crate) struct Block {
    pub(crate) rx_timestamp: FieldRef,
    pub(crate) rx_hash: FieldRef,
    pub(crate) rx_hash_type: FieldRef,
    pub(crate) vlan_proto: FieldRef,
    pub(crate) vlan_tci: FieldRef,
}

/// `xdp->data_meta`, for drivers that reload the block's address after a call.
pub(crate) fn data_meta(asm: &Asm, l: &Layouts) -> Result<FieldRef, UnrollError> {
    asm.field(&l.xdp_buff, "data_meta")
}

/// The whole `export_to_skb` sequence around the driver's `body`.
pub(crate) fn export_to_skb(
    asm: &mut Asm,
    l: &Layouts,
    body: impl FnOnce(&mut Asm, &Block, Label) -> Result<(), UnrollError>,
) -> Result<(), UnrollError> {
    let block = xdp_to_skb_metadata();
    let size = i32::try_from(block.size).expect("the block is 32 bytes");
    let x = &l.xdp_buff;
    let (data, data_meta, hard) =
        (asm.field(x, "data")?, asm.field(x, "data_meta")?, asm.field(x, "data_hard_start")?);
    let b = |asm: &Asm, n: &str| asm.field(&block, n);
    let (magic, flags) = (b(asm, "magic")?, b(asm, "flags")?);
    let fields = Block {
        rx_timestamp: b(asm, "rx_timestamp")?,
        rx_hash: b(asm, "rx_hash")?,
        rx_hash_type: b(asm, "rx_hash_type")?,
        vlan_proto: b(asm, "vlan_proto")?,
        vlan_tci: b(asm, "vlan_tci")?,
    };
    let (r1, r2, r3) = (Reg::R1, Reg::R2, Reg::R3);
    let fail = asm.label();
    let done = asm.label();

    asm.op(ldx_mem(data_meta.size, r2, r1, data_meta.off), "r2 = xdp->data_meta");
    asm.op(ldx_mem(data.size, r3, r1, data.off), "r3 = xdp->data");
    asm.jump_reg(Cond::Ne, r2, r3, Target::Label(fail), "the program already has metadata: fail");
    asm.op(alu64_imm(AluOp::Add, r2, -size), "r2 = meta = data_meta - sizeof(struct xdp_to_skb_metadata)");
    asm.op(ldx_mem(hard.size, r3, r1, hard.off), "r3 = xdp->data_hard_start");
    asm.op(alu64_imm(AluOp::Add, r3, XDP_FRAME_SIZE as i32), "r3 += sizeof(struct xdp_frame)");
    asm.jump_reg(Cond::Lt, r2, r3, Target::Label(fail), "no headroom above the xdp_frame: fail");
    asm.op(stx_mem(Size::DW, r1, r2, data_meta.off), "xdp->data_meta = meta");
    for at in (0..size).step_by(8) {
        let off = i16::try_from(at).expect("inside the block");
        asm.op(st_mem(Size::DW, r2, off, 0), format!("meta[{at}..{}] = 0", at + 8));
    }
    asm.op(st_mem(magic.size, r2, magic.off, XDP_METADATA_MAGIC as i32), "meta->magic = xdp_metadata_magic");
    body(asm, &fields, done)?;
    asm.bind(done);
    asm.op(stx_mem(flags.size, r2, r3, flags.off), "meta->flags = flags");
    asm.op(mov64_imm(Reg::R0, 0), "return 0");
    asm.ja(Target::End, "done");
    asm.bind(fail);
    asm.op(mov64_imm(Reg::R0, -1), "return -1");
    Ok(())
}
