//! veth (`drivers/net/veth.c`, kernel-notes §B.4.1), `kernel` lowering: R1 is the driver's
//! `struct veth_xdp_buff`, whose `skb` is NULL on the `xdp_frame` path.
//!
//! Mainline ABI, as `veth_xdp_rx_timestamp` / `_rx_hash` / `_rx_vlan_tag`:
//! - timestamp: skb NULL → -ENODATA; else `*timestamp = skb_shinfo(skb)->hwtstamps.hwtstamp`
//!   (`skb_shinfo(skb)` = `skb->head + skb->end`, `end` a 32-bit offset) and 0 — also when the
//!   skb has no hardware stamp (the value is then 0), as the kernel does.
//! - hash: skb NULL → -ENODATA; `*hash = skb->hash`, `*rss_type = skb->l4_hash ?
//!   XDP_RSS_TYPE_L4_ANY : XDP_RSS_TYPE_NONE`, 0. **Deviation**: when neither `l4_hash` nor
//!   `sw_hash` is set, `skb_get_hash` runs the flow dissector (`__skb_get_hash`), which cannot be
//!   inlined under the R2-R5 discipline; the sequence returns -ENODATA there and writes nothing.
//! - VLAN tag: skb NULL → -ENODATA; no hardware-accelerated tag (`vlan_all == 0`) →
//!   `*vlan_tci = 0` and -ENODATA (`__vlan_hwaccel_get_tag`); else `*vlan_tci = skb->vlan_tci`,
//!   `*vlan_proto = skb->vlan_proto` (network order, copied as is) and 0.
//!
//! RFC ABI: `rx_timestamp_supported` is 1; `rx_timestamp` returns the mainline value or 0 (the
//! hardware stamp, not the RFC's `skb->tstamp`, as reviewers asked); `export_to_skb` writes the
//! interpreter's `xdp_to_skb_metadata` block in front of `data` (RFC v2 placement and headroom
//! check, v1 return convention, a `flags` word saying which hints were filled; the hash is not
//! filled on the flow-dissector path, the deviation above).

use bpf_patch::filter::{alu64_imm, alu64_reg, ldx_mem, mov64_imm, st_mem, stx_mem};
use bpf_patch::op::{AluOp, Cond, Reg, Size};
use bpf_patch::patch::Target;
use bpf_verifier_model::interp::xdp_meta::{
    XDP_META_F_HASH, XDP_META_F_TIMESTAMP, XDP_META_F_VLAN, XDP_RSS_TYPE_L4_ANY,
};
use bpf_verifier_model::interp::Layouts;

use super::{export, Asm, FieldRef, ENODATA};
use crate::error::UnrollError;
use crate::kfunc::Kfunc;

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;

/// The offsets every veth sequence may need, resolved once.
struct Offsets {
    skb: FieldRef,
    head: FieldRef,
    end: FieldRef,
    hwtstamp: FieldRef,
    hash: FieldRef,
    l4_hash: FieldRef,
    sw_hash: FieldRef,
    vlan_all: FieldRef,
    vlan_proto: FieldRef,
    vlan_tci: FieldRef,
}

impl Offsets {
    fn resolve(asm: &Asm, l: &Layouts) -> Result<Offsets, UnrollError> {
        let s = &l.sk_buff;
        let o = Offsets {
            skb: asm.field(&l.veth_xdp_buff, "skb")?,
            head: asm.field(s, "head")?,
            end: asm.field(s, "end")?,
            hwtstamp: asm.field(&l.skb_shared_info, "hwtstamps.hwtstamp")?,
            hash: asm.field(s, "hash")?,
            l4_hash: asm.field(s, "l4_hash")?,
            sw_hash: asm.field(s, "sw_hash")?,
            vlan_all: asm.field(s, "vlan_all")?,
            vlan_proto: asm.field(s, "vlan_proto")?,
            vlan_tci: asm.field(s, "vlan_tci")?,
        };
        let bad = |field: &str, reason: &str| UnrollError::UnusableField {
            driver: "veth",
            kfunc: asm.kfunc().name(),
            layout: "sk_buff".into(),
            field: field.into(),
            reason: reason.into(),
        };
        if o.skb.size != Size::DW || o.head.size != Size::DW {
            return Err(bad("skb/head", "is not a 64-bit pointer"));
        }
        if o.end.size != Size::W {
            return Err(bad("end", "is not a 32-bit offset (sk_buff_data_t of a 64-bit kernel)"));
        }
        if o.l4_hash.mask.is_none() || o.sw_hash.mask.is_none() || o.l4_hash.off != o.sw_hash.off {
            return Err(bad("l4_hash/sw_hash", "are not one-bit fields of one byte"));
        }
        Ok(o)
    }
}

fn ld(asm: &mut Asm, dst: Reg, base: Reg, f: FieldRef, note: impl Into<String>) {
    asm.op(ldx_mem(f.size, dst, base, f.off), note);
}

/// `dst = ((struct veth_xdp_buff *)ctx)->skb`.
fn load_skb(asm: &mut Asm, o: &Offsets, dst: Reg) {
    ld(asm, dst, R1, o.skb, format!("{dst} = ((struct veth_xdp_buff *)ctx)->skb"));
}

/// `dst = skb_shinfo(skb)->hwtstamps.hwtstamp`, with the skb in `skb` and `tmp` as scratch.
fn load_hwtstamp(asm: &mut Asm, o: &Offsets, dst: Reg, skb: Reg, tmp: Reg) {
    ld(asm, dst, skb, o.head, format!("{dst} = skb->head"));
    ld(asm, tmp, skb, o.end, format!("{tmp} = skb->end (offset of the shared info)"));
    asm.op(alu64_reg(AluOp::Add, dst, tmp), format!("{dst} = skb_shinfo(skb) = skb->head + skb->end"));
    ld(asm, dst, dst, o.hwtstamp, format!("{dst} = skb_shinfo(skb)->hwtstamps.hwtstamp"));
}

/// The `kernel` lowering of `asm`'s kfunc for veth.
pub(crate) fn kernel(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    let o = Offsets::resolve(asm, l)?;
    match asm.kfunc() {
        Kfunc::RxTimestamp => rx_timestamp(asm, &o),
        Kfunc::RxHash => rx_hash(asm, &o),
        Kfunc::RxVlanTag => rx_vlan_tag(asm, &o),
        Kfunc::RfcRxTimestampSupported => {
            asm.op(mov64_imm(R0, 1), "1: veth has RX timestamps");
        }
        Kfunc::RfcRxTimestamp => rfc_rx_timestamp(asm, &o),
        Kfunc::RfcExportToSkb => export_to_skb(asm, &o, l)?,
    }
    Ok(())
}

fn nodata(asm: &mut Asm, why: &str) {
    asm.op(mov64_imm(R0, -ENODATA), format!("return -ENODATA ({why})"));
}

fn rx_timestamp(asm: &mut Asm, o: &Offsets) {
    let has_skb = asm.label();
    load_skb(asm, o, R3);
    asm.jump(Cond::Ne, R3, 0, Target::Label(has_skb), "if (skb)");
    nodata(asm, "xdp_frame path: no skb");
    asm.ja(Target::End, "done");
    asm.bind(has_skb);
    load_hwtstamp(asm, o, R4, R3, R5);
    asm.op(stx_mem(Size::DW, R2, R4, 0), "*timestamp = r4");
    asm.op(mov64_imm(R0, 0), "return 0");
}

fn rx_hash(asm: &mut Asm, o: &Offsets) {
    let no_data = asm.label();
    let not_l4 = asm.label();
    let (l4, sw) = (o.l4_hash.mask.unwrap_or(0), o.sw_hash.mask.unwrap_or(0));
    load_skb(asm, o, R4);
    asm.jump(Cond::Eq, R4, 0, Target::Label(no_data), "if (!skb) -ENODATA");
    ld(asm, R5, R4, o.l4_hash, "r5 = the byte holding skb->l4_hash and skb->sw_hash");
    asm.op(
        alu64_imm(AluOp::And, R5, l4 | sw),
        format!("r5 = skb->l4_hash ({l4:#x}) | skb->sw_hash ({sw:#x})"),
    );
    asm.jump(
        Cond::Eq,
        R5,
        0,
        Target::Label(no_data),
        "neither: skb_get_hash() would run the flow dissector (deviation: -ENODATA)",
    );
    ld(asm, R0, R4, o.hash, "r0 = skb->hash");
    asm.op(stx_mem(Size::W, R2, R0, 0), "*hash = skb->hash");
    asm.op(mov64_imm(R0, 0), "r0 = XDP_RSS_TYPE_NONE");
    asm.op(alu64_imm(AluOp::And, R5, l4), "r5 = skb->l4_hash");
    asm.jump(Cond::Eq, R5, 0, Target::Label(not_l4), "if (skb->l4_hash)");
    asm.op(mov64_imm(R0, XDP_RSS_TYPE_L4_ANY as i32), "r0 = XDP_RSS_TYPE_L4_ANY");
    asm.bind(not_l4);
    asm.op(stx_mem(Size::W, R3, R0, 0), "*rss_type = r0");
    asm.op(mov64_imm(R0, 0), "return 0");
    asm.ja(Target::End, "done");
    asm.bind(no_data);
    nodata(asm, "no skb, or no hash without the flow dissector");
}

fn rx_vlan_tag(asm: &mut Asm, o: &Offsets) {
    let no_skb = asm.label();
    let tagged = asm.label();
    load_skb(asm, o, R4);
    asm.jump(Cond::Eq, R4, 0, Target::Label(no_skb), "if (!skb) -ENODATA");
    ld(asm, R5, R4, o.vlan_all, "r5 = skb->vlan_all");
    asm.jump(Cond::Ne, R5, 0, Target::Label(tagged), "if (skb_vlan_tag_present(skb))");
    asm.op(st_mem(Size::H, R3, 0, 0), "*vlan_tci = 0 (__vlan_hwaccel_get_tag)");
    nodata(asm, "no hardware-accelerated tag");
    asm.ja(Target::End, "done");
    asm.bind(tagged);
    ld(asm, R5, R4, o.vlan_tci, "r5 = skb->vlan_tci");
    asm.op(stx_mem(Size::H, R3, R5, 0), "*vlan_tci = skb_vlan_tag_get(skb)");
    ld(asm, R5, R4, o.vlan_proto, "r5 = skb->vlan_proto (network order)");
    asm.op(stx_mem(Size::H, R2, R5, 0), "*vlan_proto = skb->vlan_proto");
    asm.op(mov64_imm(R0, 0), "return 0");
    asm.ja(Target::End, "done");
    asm.bind(no_skb);
    nodata(asm, "xdp_frame path: no skb");
}

fn rfc_rx_timestamp(asm: &mut Asm, o: &Offsets) {
    load_skb(asm, o, R3);
    asm.op(mov64_imm(R0, 0), "r0 = 0: no timestamp");
    asm.jump(Cond::Eq, R3, 0, Target::End, "if (!skb) return 0");
    load_hwtstamp(asm, o, R0, R3, R4);
}

fn export_to_skb(asm: &mut Asm, o: &Offsets, l: &Layouts) -> Result<(), UnrollError> {
    let (l4, sw) = (o.l4_hash.mask.unwrap_or(0), o.sw_hash.mask.unwrap_or(0));
    export::export_to_skb(asm, l, |asm, b, done| {
        let vlan = asm.label();
        let not_l4 = asm.label();
        asm.op(mov64_imm(R3, 0), "r3 = flags = 0");
        load_skb(asm, o, R4);
        asm.jump(Cond::Eq, R4, 0, Target::Label(done), "no skb: no hints");
        load_hwtstamp(asm, o, R5, R4, R0);
        let ts = b.rx_timestamp;
        asm.op(stx_mem(ts.size, R2, R5, ts.off), "meta->rx_timestamp = r5");
        asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_TIMESTAMP as i32), "flags |= XDP_META_F_TIMESTAMP");
        ld(asm, R5, R4, o.l4_hash, "r5 = the byte holding skb->l4_hash and skb->sw_hash");
        asm.op(alu64_imm(AluOp::And, R5, l4 | sw), "r5 = skb->l4_hash | skb->sw_hash");
        asm.jump(Cond::Eq, R5, 0, Target::Label(vlan), "neither: flow dissector (deviation: no hash)");
        ld(asm, R0, R4, o.hash, "r0 = skb->hash");
        asm.op(stx_mem(b.rx_hash.size, R2, R0, b.rx_hash.off), "meta->rx_hash = skb->hash");
        asm.op(mov64_imm(R0, 0), "r0 = XDP_RSS_TYPE_NONE");
        asm.op(alu64_imm(AluOp::And, R5, l4), "r5 = skb->l4_hash");
        asm.jump(Cond::Eq, R5, 0, Target::Label(not_l4), "if (skb->l4_hash)");
        asm.op(mov64_imm(R0, XDP_RSS_TYPE_L4_ANY as i32), "r0 = XDP_RSS_TYPE_L4_ANY");
        asm.bind(not_l4);
        let t = b.rx_hash_type;
        asm.op(stx_mem(t.size, R2, R0, t.off), "meta->rx_hash_type = r0");
        asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_HASH as i32), "flags |= XDP_META_F_HASH");
        asm.bind(vlan);
        ld(asm, R5, R4, o.vlan_all, "r5 = skb->vlan_all");
        asm.jump(Cond::Eq, R5, 0, Target::Label(done), "no hardware-accelerated tag");
        ld(asm, R5, R4, o.vlan_proto, "r5 = skb->vlan_proto");
        let (proto, tci) = (b.vlan_proto, b.vlan_tci);
        asm.op(stx_mem(proto.size, R2, R5, proto.off), "meta->vlan_proto = skb->vlan_proto");
        ld(asm, R5, R4, o.vlan_tci, "r5 = skb->vlan_tci");
        asm.op(stx_mem(tci.size, R2, R5, tci.off), "meta->vlan_tci = skb->vlan_tci");
        asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_VLAN as i32), "flags |= XDP_META_F_VLAN");
        Ok(())
    })
}
