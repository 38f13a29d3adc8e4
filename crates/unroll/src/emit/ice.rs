//! ice (Intel E800, kernel-notes §B.4.2), `kernel` lowering: R1 is the mainline
//! `struct ice_xdp_buff { xdp, eop_desc, pkt_ctx }`. ice takes no lock, so everything is inline
//! (the interpreter's `xdp_meta` is the reference):
//!
//! - timestamp (`ice_xdp_rx_hw_ts`): the descriptor's valid bit (`time_stamp_low & 1`), a
//!   non-zero `pkt_ctx->cached_phctime`, then `ice_ptp_extend_32b_ts`: `delta = (u32)(ts_high -
//!   (u32)cached)`; `delta > U32_MAX / 2` ? `cached - (u32)((u32)cached - ts_high)` : `cached +
//!   delta`, in 64-bit arithmetic. `*timestamp` is written in every case (0 without a stamp),
//!   and 0 → -ENODATA, as the driver does.
//! - hash (`ice_xdp_rx_hash`): the RSS word only for the `FLEX_NIC` descriptor profile (`rxdid`),
//!   else 0; the type from the 10-bit packet type by a branch tree equal to the reference's
//!   table: types 88-94 are the IPv6 twins of 22-28 (66 lower), 22/23 → L3 only, 24 UDP,
//!   26 TCP, 27 SCTP, 28 ICMP, anything else 0. Both are written; hash 0 → -ENODATA.
//! - VLAN tag (`ice_xdp_rx_vlan_tag`): `*vlan_proto = pkt_ctx->vlan_proto`, 0 → -ENODATA; TCI
//!   from `l2tag1` when the `L2TAG1P` status bit is set, else `l2tag2_2nd` when `L2TAG2P` is,
//!   else 0; `*vlan_tci` written, 0 → -ENODATA.
//!
//! RFC ABI: `rx_timestamp_supported` 1, `rx_timestamp` the value (0 without one),
//! `export_to_skb` each hint whose mainline kfunc would return 0. Registers: R0, R2-R5 only.

use bpf_patch::filter::{alu32_reg, alu64_imm, alu64_reg, ldx_mem, mov32_reg, mov64_imm, stx_mem};
use bpf_patch::op::{AluOp, Cond, Reg, Size};
use bpf_patch::patch::Target;
use bpf_verifier_model::interp::drivers::{ICE_L2TAG1P_BIT, ICE_L2TAG2P_BIT, ICE_RXDID_FLEX_NIC};
use bpf_verifier_model::interp::xdp_meta::{XDP_META_F_HASH, XDP_META_F_TIMESTAMP, XDP_META_F_VLAN};
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

/// `ICE_PTP_TS_VALID`.
const TS_VALID: i32 = 1;
/// The packet type's bits in `ptype_flex_flags0`.
const PTYPE_MASK: i32 = 0x3ff;
/// IPv6 packet types 88-94 are the IPv4 ones 22-28 plus this.
const IPV6_PTYPE_SHIFT: i32 = 66;

struct Offsets {
    desc: FieldRef,
    pkt_ctx: FieldRef,
    ts_low: FieldRef,
    ts_high: FieldRef,
    cached: FieldRef,
    rxdid: FieldRef,
    rss: FieldRef,
    ptype: FieldRef,
    status0: FieldRef,
    l2tag1: FieldRef,
    status1: FieldRef,
    l2tag2: FieldRef,
    vlan_proto: FieldRef,
}

impl Offsets {
    fn resolve(asm: &Asm, l: &Layouts) -> Result<Offsets, UnrollError> {
        let (w, d, p) = (&l.ice_xdp_buff, &l.ice_32b_rx_flex_desc, &l.ice_pkt_ctx);
        let o = Offsets {
            desc: asm.field(w, "eop_desc")?,
            pkt_ctx: asm.field(w, "pkt_ctx")?,
            ts_low: asm.field(d, "wb.time_stamp_low")?,
            ts_high: asm.field(d, "wb.flex_ts.ts_high")?,
            cached: asm.field(p, "cached_phctime")?,
            rxdid: asm.field(d, "wb.rxdid")?,
            rss: asm.field(d, "rss_hash")?,
            ptype: asm.field(d, "wb.ptype_flex_flags0")?,
            status0: asm.field(d, "wb.status_error0")?,
            l2tag1: asm.field(d, "wb.l2tag1")?,
            status1: asm.field(d, "wb.status_error1")?,
            l2tag2: asm.field(d, "wb.l2tag2_2nd")?,
            vlan_proto: asm.field(p, "vlan_proto")?,
        };
        let want = [
            (&o.desc, Size::DW, "eop_desc"),
            (&o.pkt_ctx, Size::DW, "pkt_ctx"),
            (&o.ts_high, Size::W, "wb.flex_ts.ts_high"),
            (&o.cached, Size::DW, "cached_phctime"),
            (&o.rss, Size::W, "rss_hash"),
            (&o.vlan_proto, Size::H, "vlan_proto"),
            (&o.l2tag1, Size::H, "wb.l2tag1"),
            (&o.l2tag2, Size::H, "wb.l2tag2_2nd"),
        ];
        for (f, size, field) in want {
            if f.size != size || f.mask.is_some() {
                return Err(UnrollError::UnusableField {
                    driver: "ice",
                    kfunc: asm.kfunc().name(),
                    layout: "ice".into(),
                    field: field.into(),
                    reason: format!("is not a plain {size:?} field"),
                });
            }
        }
        Ok(o)
    }
}

fn ld(asm: &mut Asm, dst: Reg, base: Reg, f: FieldRef, note: impl Into<String>) {
    asm.op(ldx_mem(f.size, dst, base, f.off), note);
}

/// The `kernel` lowering of `asm`'s kfunc for ice.
pub(crate) fn kernel(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    let o = Offsets::resolve(asm, l)?;
    match asm.kfunc() {
        Kfunc::RxTimestamp => {
            let store = asm.label();
            asm.op(mov64_imm(R5, 0), "r5 = ns = 0");
            timestamp(asm, &o, R5, R3, R4, Target::Label(store));
            asm.bind(store);
            asm.op(stx_mem(Size::DW, R2, R5, 0), "*timestamp = ns (also 0)");
            result_nonzero(asm, R5, "no timestamp");
        }
        Kfunc::RxHash => {
            ld(asm, R4, R1, o.desc, "r4 = ((struct ice_xdp_buff *)ctx)->eop_desc");
            load_ptype(asm, &o);
            hash_type(asm);
            asm.op(stx_mem(Size::W, R3, R0, 0), "*rss_type = r0");
            ld(asm, R4, R1, o.desc, "r4 = ((struct ice_xdp_buff *)ctx)->eop_desc");
            asm.op(mov64_imm(R5, 0), "r5 = hash = 0");
            let store = asm.label();
            ld(asm, R0, R4, o.rxdid, "r0 = desc->wb.rxdid");
            asm.jump(
                Cond::Ne,
                R0,
                i32::from(ICE_RXDID_FLEX_NIC),
                Target::Label(store),
                "not ICE_RXDID_FLEX_NIC: hash 0",
            );
            ld(asm, R5, R4, o.rss, "r5 = desc->rss_hash");
            asm.bind(store);
            asm.op(stx_mem(Size::W, R2, R5, 0), "*hash = r5");
            result_nonzero(asm, R5, "hash 0");
        }
        Kfunc::RxVlanTag => {
            ld(asm, R4, R1, o.pkt_ctx, "r4 = ((struct ice_xdp_buff *)ctx)->pkt_ctx");
            ld(asm, R5, R4, o.vlan_proto, "r5 = pkt_ctx->vlan_proto (network order)");
            asm.op(stx_mem(Size::H, R2, R5, 0), "*vlan_proto = r5 (also 0)");
            asm.op(mov64_imm(R0, -ENODATA), "r0 = -ENODATA");
            asm.jump(Cond::Eq, R5, 0, Target::End, "no VLAN stripping: -ENODATA");
            vlan_tci(asm, &o, R5);
            asm.op(stx_mem(Size::H, R3, R5, 0), "*vlan_tci = r5 (also 0)");
            result_nonzero(asm, R5, "no tag");
        }
        Kfunc::RfcRxTimestampSupported => {
            asm.op(mov64_imm(R0, 1), "1: ice has RX timestamps");
        }
        Kfunc::RfcRxTimestamp => {
            asm.op(mov64_imm(R0, 0), "r0 = ns = 0");
            timestamp(asm, &o, R0, R3, R4, Target::End);
        }
        Kfunc::RfcExportToSkb => export::export_to_skb(asm, l, |asm, b, done| {
            let hash = asm.label();
            let vlan = asm.label();
            asm.op(mov64_imm(R3, 0), "r3 = flags = 0");
            asm.op(mov64_imm(R0, 0), "r0 = ns = 0");
            timestamp(asm, &o, R0, R4, R5, Target::Label(hash));
            asm.jump(Cond::Eq, R0, 0, Target::Label(hash), "ns 0: no timestamp");
            let ts = b.rx_timestamp;
            asm.op(stx_mem(ts.size, R2, R0, ts.off), "meta->rx_timestamp = ns");
            asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_TIMESTAMP as i32), "flags |= XDP_META_F_TIMESTAMP");
            asm.bind(hash);
            ld(asm, R4, R1, o.desc, "r4 = ((struct ice_xdp_buff *)ctx)->eop_desc");
            ld(asm, R5, R4, o.rxdid, "r5 = desc->wb.rxdid");
            asm.jump(
                Cond::Ne,
                R5,
                i32::from(ICE_RXDID_FLEX_NIC),
                Target::Label(vlan),
                "not ICE_RXDID_FLEX_NIC: hash 0",
            );
            ld(asm, R5, R4, o.rss, "r5 = desc->rss_hash");
            asm.jump(Cond::Eq, R5, 0, Target::Label(vlan), "hash 0: not filled");
            asm.op(stx_mem(b.rx_hash.size, R2, R5, b.rx_hash.off), "meta->rx_hash = r5");
            load_ptype(asm, &o);
            hash_type(asm);
            let t = b.rx_hash_type;
            asm.op(stx_mem(t.size, R2, R0, t.off), "meta->rx_hash_type = r0");
            asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_HASH as i32), "flags |= XDP_META_F_HASH");
            asm.bind(vlan);
            ld(asm, R4, R1, o.pkt_ctx, "r4 = ((struct ice_xdp_buff *)ctx)->pkt_ctx");
            ld(asm, R5, R4, o.vlan_proto, "r5 = pkt_ctx->vlan_proto");
            asm.jump(Cond::Eq, R5, 0, Target::Label(done), "no VLAN stripping: not filled");
            vlan_tci(asm, &o, R0);
            asm.jump(Cond::Eq, R0, 0, Target::Label(done), "no tag: not filled");
            let (proto, tci) = (b.vlan_proto, b.vlan_tci);
            asm.op(stx_mem(proto.size, R2, R5, proto.off), "meta->vlan_proto = r5");
            asm.op(stx_mem(tci.size, R2, R0, tci.off), "meta->vlan_tci = r0");
            asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_VLAN as i32), "flags |= XDP_META_F_VLAN");
            Ok(())
        })?,
    }
    Ok(())
}

/// `r0 = value != 0 ? 0 : -ENODATA`.
fn result_nonzero(asm: &mut Asm, value: Reg, why: &str) {
    asm.op(mov64_imm(R0, 0), "return 0");
    asm.jump(Cond::Ne, value, 0, Target::End, format!("if ({value} != 0) done"));
    asm.op(mov64_imm(R0, -ENODATA), format!("return -ENODATA ({why})"));
}

/// `ns` = the extended timestamp, or a jump to `none` (`ns` still 0) without a valid stamp or
/// a cached PHC time; `a`, `b` scratch.
fn timestamp(asm: &mut Asm, o: &Offsets, ns: Reg, a: Reg, b: Reg, none: Target) {
    let back = asm.label();
    let done = asm.label();
    ld(asm, a, R1, o.desc, format!("{a} = ((struct ice_xdp_buff *)ctx)->eop_desc"));
    ld(asm, b, a, o.ts_low, format!("{b} = desc->wb.time_stamp_low"));
    asm.op(alu64_imm(AluOp::And, b, TS_VALID), format!("{b} &= ICE_PTP_TS_VALID"));
    asm.jump(Cond::Eq, b, 0, none, "no valid stamp");
    ld(asm, b, a, o.ts_high, format!("{b} = in = desc->wb.flex_ts.ts_high"));
    ld(asm, a, R1, o.pkt_ctx, format!("{a} = ((struct ice_xdp_buff *)ctx)->pkt_ctx"));
    ld(asm, ns, a, o.cached, format!("{ns} = cached = pkt_ctx->cached_phctime"));
    asm.jump(Cond::Eq, ns, 0, none, "no cached PHC time");
    asm.op(mov32_reg(a, b), format!("w{} = in", a.num()));
    asm.op(alu32_reg(AluOp::Sub, a, ns), format!("w{} = delta = in - (u32)cached", a.num()));
    asm.jump(Cond::Gt, a, i32::MAX, Target::Label(back), "delta > U32_MAX / 2: in is behind");
    asm.op(alu64_reg(AluOp::Add, ns, a), format!("{ns} = cached + delta (64-bit)"));
    asm.ja(Target::Label(done), "done");
    asm.bind(back);
    asm.op(mov32_reg(a, ns), format!("w{} = (u32)cached", a.num()));
    asm.op(alu32_reg(AluOp::Sub, a, b), format!("w{} = delta = (u32)cached - in", a.num()));
    asm.op(alu64_reg(AluOp::Sub, ns, a), format!("{ns} = cached - delta (64-bit)"));
    asm.bind(done);
}

/// R5 = the packet type, from the descriptor in R4.
fn load_ptype(asm: &mut Asm, o: &Offsets) {
    ld(asm, R5, R4, o.ptype, "r5 = desc->wb.ptype_flex_flags0");
    asm.op(alu64_imm(AluOp::And, R5, PTYPE_MASK), "r5 = ptype = ptype_flex_flags0 & 0x3ff");
}

/// R0 = the `xdp_rss_hash_type` of the packet type in R5 (modified); R4 scratch.
fn hash_type(asm: &mut Asm) {
    let v4 = asm.label();
    let l4 = asm.label();
    let done = asm.label();
    asm.op(mov64_imm(R0, 1), "r0 = XDP_RSS_L3_IPV4");
    asm.jump(Cond::Lt, R5, 88, Target::Label(v4), "ptype < 88: the IPv4 block");
    asm.op(alu64_imm(AluOp::Sub, R5, IPV6_PTYPE_SHIFT), "r5 -= 66: IPv6 types 88-94 mirror 22-28");
    asm.op(mov64_imm(R0, 2), "r0 = XDP_RSS_L3_IPV6");
    asm.bind(v4);
    asm.jump(Cond::Eq, R5, 22, Target::Label(done), "22: IP fragment, L3 only");
    asm.jump(Cond::Eq, R5, 23, Target::Label(done), "23: IP without L4, L3 only");
    let classes = [(24, 0x28, "UDP"), (26, 0x18, "TCP"), (27, 0x48, "SCTP"), (28, 0x108, "ICMP")];
    for (ptype, bits, l4_proto) in classes {
        asm.op(mov64_imm(R4, bits), format!("r4 = XDP_RSS_L4 | XDP_RSS_L4_{l4_proto}"));
        asm.jump(Cond::Eq, R5, ptype, Target::Label(l4), format!("{ptype}: {l4_proto}"));
    }
    asm.op(mov64_imm(R0, 0), "r0 = XDP_RSS_TYPE_NONE: L2, tunnels, unknown");
    asm.ja(Target::Label(done), "done");
    asm.bind(l4);
    asm.op(alu64_reg(AluOp::Or, R0, R4), "r0 |= the L4 bits");
    asm.bind(done);
}

/// `dst` = the VLAN TCI by the descriptor's status bits (0 without one); R4 = the descriptor.
fn vlan_tci(asm: &mut Asm, o: &Offsets, dst: Reg) {
    let tag1 = asm.label();
    let have = asm.label();
    ld(asm, R4, R1, o.desc, "r4 = ((struct ice_xdp_buff *)ctx)->eop_desc");
    ld(asm, dst, R4, o.status0, format!("{dst} = desc->wb.status_error0"));
    asm.jump(Cond::Set, dst, i32::from(ICE_L2TAG1P_BIT), Target::Label(tag1), "if (status_error0 & L2TAG1P)");
    ld(asm, dst, R4, o.status1, format!("{dst} = desc->wb.status_error1"));
    asm.op(
        alu64_imm(AluOp::And, dst, i32::from(ICE_L2TAG2P_BIT)),
        format!("{dst} = status_error1 & L2TAG2P"),
    );
    asm.jump(Cond::Eq, dst, 0, Target::Label(have), "neither tag: tci = 0");
    ld(asm, dst, R4, o.l2tag2, format!("{dst} = tci = desc->wb.l2tag2_2nd"));
    asm.ja(Target::Label(have), "done");
    asm.bind(tag1);
    ld(asm, dst, R4, o.l2tag1, format!("{dst} = tci = desc->wb.l2tag1"));
    asm.bind(have);
}
