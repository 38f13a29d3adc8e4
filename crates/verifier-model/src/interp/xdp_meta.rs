//! The XDP RX-metadata kfuncs as each driver implements them: the reference implementations
//! unrolled bytecode is compared with. They read the driver's wrapper and the structs it points
//! to from memory (laid out by [`super::drivers`]), never the setup's facts directly.
//!
//! Mainline ABI (6.3+, registered by [`register`], and so by [`super::Helpers::kernel`]):
//! `bpf_xdp_metadata_rx_timestamp(ctx, u64 *)`, `_rx_hash(ctx, u32 *, enum xdp_rss_hash_type *)`,
//! `_rx_vlan_tag(ctx, __be16 *, u16 *)` returning 0, -ENODATA or -EOPNOTSUPP, with the
//! out-parameters written exactly when the driver writes them (ice writes the timestamp, hash
//! and type even when it returns -ENODATA; veth writes `*vlan_tci = 0` on -ENODATA):
//! - veth (`drivers/net/veth.c`): skb NULL → -ENODATA for all three; timestamp
//!   `skb_hwtstamps(skb)->hwtstamp`; hash `skb_get_hash(skb)` (neither `l4_hash` nor `sw_hash`
//!   → the flow dissector's result from the setup is stored into the skb first, as
//!   `__skb_set_sw_hash` does), type `l4_hash ? L4_ANY : NONE`; VLAN from `vlan_all != 0`.
//! - ice (`ice_txrx_lib.c`, `ice_ptp.c`): timestamp valid bit, cached PHC time, 32→64-bit
//!   extension in 64-bit arithmetic; hash from the `FLEX_NIC` descriptor with the packet-type
//!   table (only the plain IPv4/IPv6 packet types 1, 22-28, 88-94 are tabulated here, as
//!   recalled from `ice_ptype_lkup`; every other type maps to 0 — a documented gap); VLAN proto
//!   from the packet context, TCI from `l2tag1` or `l2tag2_2nd` by their status bits.
//! - mlx4 (`en_rx.c`, `en_clock.c`): timestamp only with `HWTSTAMP_FILTER_ALL`, the CQE's 48-bit
//!   cycle count converted by `timecounter_cyc2time` (the seqlock retry loop cannot fail here);
//!   hash only with `NETIF_F_RXHASH`, type from the CQE status bits; no VLAN op (-EOPNOTSUPP).
//! - bnxt: no metadata ops in mainline: -EOPNOTSUPP for all three.
//!
//! The drivers' functions are registered under their kernel names too ([`DRIVER_FUNCTIONS`]),
//! for code that calls them directly. The `kernel` lowering of a timestamp mlx4 / bnxt cannot
//! inline (a seqlock / spinlock) calls a kernel routine under the RFC's
//! `xdp_kfunc_call_preserving_r1` contract instead ([`PRESERVING_R1_ROUTINES`]).
//!
//! RFC ABI ([`register_rfc`], replacing the mainline `bpf_xdp_metadata_rx_timestamp`):
//! `bpf_xdp_metadata_rx_timestamp_supported(ctx)` is 1 for the drivers whose RFC patches
//! unrolled it (veth, ice, mlx4), 0 otherwise (bnxt's RFC timestamp is not modelled);
//! `bpf_xdp_metadata_rx_timestamp(ctx)` returns the mainline value, or 0 when mainline returns
//! an error (veth reads the hardware stamp as mainline does, not the RFC's `skb->tstamp`);
//! `bpf_xdp_metadata_export_to_skb(ctx)`: see [`export_to_skb`].

use std::rc::Rc;

use super::ctx::{XdpCtx, XDP_FRAME_SIZE};
use super::drivers::{
    DriverKind, HWTSTAMP_FILTER_ALL, ICE_L2TAG1P_BIT, ICE_L2TAG2P_BIT, ICE_RXDID_FLEX_NIC, NETIF_F_RXHASH,
};
use super::helpers::{HelperCtx, HelperError, Helpers};
use super::layouts::Layouts;
use super::memory::{Layout, Memory};

/// `ENODATA`.
pub const ENODATA: i64 = 61;
/// `EOPNOTSUPP`.
pub const EOPNOTSUPP: i64 = 95;
/// `XDP_RSS_TYPE_L4_ANY`.
pub const XDP_RSS_TYPE_L4_ANY: u32 = 8;
const XDP_RSS_L3_IPV4: u32 = 1;
const XDP_RSS_L3_IPV6: u32 = 2;
const XDP_RSS_L3_DYNHDR: u32 = 4;
const XDP_RSS_L4_TCP: u32 = 16;
const XDP_RSS_L4_UDP: u32 = 32;
const MLX4_CQE_STATUS_IPV4: u16 = 1 << 6;
const MLX4_CQE_STATUS_IPV4F: u16 = 1 << 7;
const MLX4_CQE_STATUS_IPV6: u16 = 1 << 8;
const MLX4_CQE_STATUS_TCP: u16 = 1 << 10;
const MLX4_CQE_STATUS_UDP: u16 = 1 << 11;
/// `ICE_NUM_DEFINED_PTYPES`.
const ICE_NUM_DEFINED_PTYPES: u16 = 0x3ff;

/// What `rx_timestamp` does: its return value and the value it stores, if it stores one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimestampOut {
    /// Return value.
    pub ret: i64,
    /// `*timestamp`, if written.
    pub value: Option<u64>,
}

/// What `rx_hash` does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HashOut {
    /// Return value.
    pub ret: i64,
    /// `*hash`, if written.
    pub hash: Option<u32>,
    /// `*rss_type`, if written.
    pub rss_type: Option<u32>,
}

/// What `rx_vlan_tag` does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VlanOut {
    /// Return value.
    pub ret: i64,
    /// `*vlan_proto` as its two bytes read little-endian (network order in memory), if written.
    pub proto: Option<u16>,
    /// `*vlan_tci`, if written.
    pub tci: Option<u16>,
}

fn rd(l: &Layout, mem: &Memory, addr: u64, field: &str) -> Result<u64, HelperError> {
    l.read(mem, addr, field)
        .map_err(|e| HelperError::Invalid(format!("reading {}.{field} at {addr:#x}: {e}", l.name)))
}

fn nodata_ts() -> TimestampOut {
    TimestampOut { ret: -ENODATA, value: None }
}

/// The driver's `xmo_rx_timestamp`, reading memory laid out by `l`.
pub fn rx_timestamp_of(l: &Layouts, mem: &Memory, x: &XdpCtx) -> Result<TimestampOut, HelperError> {
    let w = x.ctx_addr();
    Ok(match x.driver {
        DriverKind::Veth => {
            let skb = rd(&l.veth_xdp_buff, mem, w, "skb")?;
            if skb == 0 {
                return Ok(nodata_ts());
            }
            let head = rd(&l.sk_buff, mem, skb, "head")?;
            let end = rd(&l.sk_buff, mem, skb, "end")?;
            let ts = rd(&l.skb_shared_info, mem, head.wrapping_add(end), "hwtstamps.hwtstamp")?;
            TimestampOut { ret: 0, value: Some(ts) }
        }
        DriverKind::Ice => {
            let desc = rd(&l.ice_xdp_buff, mem, w, "eop_desc")?;
            let pkt_ctx = rd(&l.ice_xdp_buff, mem, w, "pkt_ctx")?;
            let mut ns = 0;
            if rd(&l.ice_32b_rx_flex_desc, mem, desc, "wb.time_stamp_low")? & 1 != 0 {
                let cached = rd(&l.ice_pkt_ctx, mem, pkt_ctx, "cached_phctime")?;
                if cached != 0 {
                    let ts_high = rd(&l.ice_32b_rx_flex_desc, mem, desc, "wb.flex_ts.ts_high")? as u32;
                    ns = ice_extend_32b_ts(cached, ts_high);
                }
            }
            TimestampOut { ret: if ns == 0 { -ENODATA } else { 0 }, value: Some(ns) }
        }
        DriverKind::Mlx4 => {
            let ring = rd(&l.mlx4_en_xdp_buff, mem, w, "ring")?;
            if rd(&l.mlx4_en_rx_ring, mem, ring, "hwtstamp_rx_filter")? != u64::from(HWTSTAMP_FILTER_ALL) {
                return Ok(nodata_ts());
            }
            let cqe = rd(&l.mlx4_en_xdp_buff, mem, w, "cqe")?;
            let lo = u64::from((rd(&l.mlx4_cqe, mem, cqe, "timestamp_lo")? as u16).swap_bytes());
            let hi = u64::from((rd(&l.mlx4_cqe, mem, cqe, "timestamp_hi")? as u32).swap_bytes());
            let cycles = ((hi + u64::from(lo == 0)) << 16) | lo;
            let mdev = rd(&l.mlx4_en_xdp_buff, mem, w, "mdev")?;
            let f = |n: &str| rd(&l.mlx4_en_dev, mem, mdev, n);
            let tc = super::drivers::Timecounter {
                cc_mask: f("cycles.mask")?,
                mult: f("cycles.mult")? as u32,
                shift: f("cycles.shift")? as u32,
                cycle_last: f("clock.cycle_last")?,
                nsec: f("clock.nsec")?,
                mask: f("clock.mask")?,
                frac: f("clock.frac")?,
            };
            TimestampOut { ret: 0, value: Some(timecounter_cyc2time(&tc, cycles)) }
        }
        DriverKind::Bnxt => TimestampOut { ret: -EOPNOTSUPP, value: None },
    })
}

/// `ice_ptp_extend_32b_ts`: the 32-bit nanosecond stamp placed within ±2^31 ns of the cached
/// PHC time, in 64-bit arithmetic.
pub fn ice_extend_32b_ts(cached: u64, in_ts: u32) -> u64 {
    let lo = cached as u32;
    let delta = in_ts.wrapping_sub(lo);
    if delta > u32::MAX / 2 {
        cached.wrapping_sub(u64::from(lo.wrapping_sub(in_ts)))
    } else {
        cached.wrapping_add(u64::from(delta))
    }
}

/// `timecounter_cyc2time` (`kernel/time/timecounter.c`).
pub fn timecounter_cyc2time(tc: &super::drivers::Timecounter, cycles: u64) -> u64 {
    let delta = cycles.wrapping_sub(tc.cycle_last) & tc.cc_mask;
    if delta > tc.cc_mask / 2 {
        let back = tc.cycle_last.wrapping_sub(cycles) & tc.cc_mask;
        let ns = back.wrapping_mul(u64::from(tc.mult)).wrapping_sub(tc.frac) >> tc.shift;
        tc.nsec.wrapping_sub(ns)
    } else {
        let ns = delta.wrapping_mul(u64::from(tc.mult)).wrapping_add(tc.frac);
        tc.nsec.wrapping_add(ns >> tc.shift)
    }
}

/// `ice_ptype_to_xdp_hash` for the plain IPv4/IPv6 packet types (others: 0).
pub fn ice_ptype_hash_type(ptype: u16) -> u32 {
    match ptype {
        22 | 23 => 1, // IPv4 (fragment / no L4): XDP_RSS_TYPE_L3_IPV4
        24 => 41,     // IPv4 UDP
        26 => 25,     // IPv4 TCP
        27 => 73,     // IPv4 SCTP
        28 => 265,    // IPv4 ICMP
        88 | 89 => 2, // IPv6: XDP_RSS_TYPE_L3_IPV6
        90 => 42,     // IPv6 UDP
        92 => 26,     // IPv6 TCP
        93 => 74,     // IPv6 SCTP
        94 => 266,    // IPv6 ICMP
        _ => 0,       // L2 (1), tunnels, unknown
    }
}

/// The driver's `xmo_rx_hash`. veth's slow path stores the flow dissector's hash into the skb.
pub fn rx_hash_of(l: &Layouts, mem: &mut Memory, x: &XdpCtx) -> Result<HashOut, HelperError> {
    let w = x.ctx_addr();
    let nodata = HashOut { ret: -ENODATA, hash: None, rss_type: None };
    Ok(match x.driver {
        DriverKind::Veth => {
            let skb = rd(&l.veth_xdp_buff, mem, w, "skb")?;
            if skb == 0 {
                return Ok(nodata);
            }
            let s = &l.sk_buff;
            if rd(s, mem, skb, "l4_hash")? == 0 && rd(s, mem, skb, "sw_hash")? == 0 {
                let (hash, l4) = x.flow_hash;
                let set = [("hash", u64::from(hash)), ("sw_hash", 1), ("l4_hash", u64::from(l4))];
                s.write_into(mem, skb, &set).map_err(|e| HelperError::Invalid(e.to_string()))?;
            }
            let hash = rd(s, mem, skb, "hash")? as u32;
            let kind = if rd(s, mem, skb, "l4_hash")? != 0 { XDP_RSS_TYPE_L4_ANY } else { 0 };
            HashOut { ret: 0, hash: Some(hash), rss_type: Some(kind) }
        }
        DriverKind::Ice => {
            let desc = rd(&l.ice_xdp_buff, mem, w, "eop_desc")?;
            let d = &l.ice_32b_rx_flex_desc;
            let hash = if rd(d, mem, desc, "wb.rxdid")? == u64::from(ICE_RXDID_FLEX_NIC) {
                rd(d, mem, desc, "rss_hash")? as u32
            } else {
                0
            };
            let ptype = (rd(d, mem, desc, "wb.ptype_flex_flags0")? & 0x3ff) as u16;
            let kind = if ptype >= ICE_NUM_DEFINED_PTYPES { 0 } else { ice_ptype_hash_type(ptype) };
            HashOut { ret: if hash == 0 { -ENODATA } else { 0 }, hash: Some(hash), rss_type: Some(kind) }
        }
        DriverKind::Mlx4 => {
            let dev = rd(&l.mlx4_en_xdp_buff, mem, w, "dev")?;
            if rd(&l.net_device, mem, dev, "features")? & NETIF_F_RXHASH == 0 {
                return Ok(nodata);
            }
            let cqe = rd(&l.mlx4_en_xdp_buff, mem, w, "cqe")?;
            let hash = (rd(&l.mlx4_cqe, mem, cqe, "immed_rss_invalid")? as u32).swap_bytes();
            let status = (rd(&l.mlx4_cqe, mem, cqe, "status")? as u16).swap_bytes();
            let mut t = 0;
            if status & MLX4_CQE_STATUS_TCP != 0 {
                t = XDP_RSS_L4_TCP;
            }
            if status & MLX4_CQE_STATUS_UDP != 0 {
                t = XDP_RSS_L4_UDP;
            }
            if status & (MLX4_CQE_STATUS_IPV4 | MLX4_CQE_STATUS_IPV4F) != 0 {
                t |= XDP_RSS_L3_IPV4;
            }
            if status & MLX4_CQE_STATUS_IPV6 != 0 {
                t |= XDP_RSS_L3_IPV6;
                if rd(&l.mlx4_cqe, mem, cqe, "ipv6_ext_mask")? != 0 {
                    t |= XDP_RSS_L3_DYNHDR;
                }
            }
            HashOut { ret: 0, hash: Some(hash), rss_type: Some(t) }
        }
        DriverKind::Bnxt => HashOut { ret: -EOPNOTSUPP, hash: None, rss_type: None },
    })
}

/// The driver's `xmo_rx_vlan_tag`.
pub fn rx_vlan_tag_of(l: &Layouts, mem: &Memory, x: &XdpCtx) -> Result<VlanOut, HelperError> {
    let w = x.ctx_addr();
    let out = |ret, proto, tci| VlanOut { ret, proto, tci };
    Ok(match x.driver {
        DriverKind::Veth => {
            let skb = rd(&l.veth_xdp_buff, mem, w, "skb")?;
            if skb == 0 {
                return Ok(out(-ENODATA, None, None));
            }
            if rd(&l.sk_buff, mem, skb, "vlan_all")? == 0 {
                return Ok(out(-ENODATA, None, Some(0)));
            }
            let proto = rd(&l.sk_buff, mem, skb, "vlan_proto")? as u16;
            let tci = rd(&l.sk_buff, mem, skb, "vlan_tci")? as u16;
            out(0, Some(proto), Some(tci))
        }
        DriverKind::Ice => {
            let pkt_ctx = rd(&l.ice_xdp_buff, mem, w, "pkt_ctx")?;
            let proto = rd(&l.ice_pkt_ctx, mem, pkt_ctx, "vlan_proto")? as u16;
            if proto == 0 {
                return Ok(out(-ENODATA, Some(0), None));
            }
            let desc = rd(&l.ice_xdp_buff, mem, w, "eop_desc")?;
            let d = &l.ice_32b_rx_flex_desc;
            let tci = if rd(d, mem, desc, "wb.status_error0")? as u16 & ICE_L2TAG1P_BIT != 0 {
                rd(d, mem, desc, "wb.l2tag1")? as u16
            } else if rd(d, mem, desc, "wb.status_error1")? as u16 & ICE_L2TAG2P_BIT != 0 {
                rd(d, mem, desc, "wb.l2tag2_2nd")? as u16
            } else {
                0
            };
            out(if tci == 0 { -ENODATA } else { 0 }, Some(proto), Some(tci))
        }
        DriverKind::Mlx4 | DriverKind::Bnxt => out(-EOPNOTSUPP, None, None),
    })
}

fn xdp_of(ctx: &HelperCtx<'_>, r1: u64) -> Result<XdpCtx, HelperError> {
    ctx.vm
        .xdp
        .filter(|x| x.ctx_addr() == r1)
        .ok_or_else(|| HelperError::Invalid(format!("{r1:#x} is not the XDP context")))
}

fn put(mem: &mut Memory, addr: u64, size: u32, v: Option<u64>) -> Result<(), HelperError> {
    if let Some(v) = v {
        mem.store(addr, size, v)?;
    }
    Ok(())
}

/// `bpf_xdp_metadata_rx_timestamp(ctx, u64 *timestamp)`.
pub fn rx_timestamp(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    call_as(ctx, a, None, Kfunc::Timestamp)
}

/// `bpf_xdp_metadata_rx_hash(ctx, u32 *hash, enum xdp_rss_hash_type *rss_type)`.
pub fn rx_hash(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    call_as(ctx, a, None, Kfunc::Hash)
}

/// `bpf_xdp_metadata_rx_vlan_tag(ctx, __be16 *vlan_proto, u16 *vlan_tci)`.
pub fn rx_vlan_tag(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    call_as(ctx, a, None, Kfunc::VlanTag)
}

/// The RFC's `bpf_xdp_metadata_rx_timestamp_supported(ctx)`.
pub fn rx_timestamp_supported(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    Ok(u64::from(matches!(x.driver, DriverKind::Veth | DriverKind::Ice | DriverKind::Mlx4)))
}

/// The RFC's value-returning `bpf_xdp_metadata_rx_timestamp(ctx)`: 0 when there is none.
pub fn rfc_rx_timestamp(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    let o = rx_timestamp_of(&ctx.vm.layouts.clone(), &ctx.vm.memory, &x)?;
    Ok(if o.ret == 0 { o.value.unwrap_or(0) } else { 0 })
}

/// Magic of the [`xdp_to_skb_metadata`] block (the RFC draws `get_random_u32() | 1` at boot; this model
/// uses a fixed odd value so runs are reproducible).
pub const XDP_METADATA_MAGIC: u32 = 0x5eed_b0f1;
/// `flags` bit: `rx_timestamp` was filled.
pub const XDP_META_F_TIMESTAMP: u32 = 1;
/// `flags` bit: `rx_hash` and `rx_hash_type` were filled.
pub const XDP_META_F_HASH: u32 = 2;
/// `flags` bit: `vlan_proto` and `vlan_tci` were filled.
pub const XDP_META_F_VLAN: u32 = 4;

/// The exported block `bpf_xdp_metadata_export_to_skb` writes (32 bytes): our variant of the
/// RFC's `struct xdp_to_skb_metadata` — the RFC's magic, plus Toke's `flags` word saying which
/// hints were filled (unfilled ones are 0, as Martin asked), plus the hints mainline can give.
pub fn xdp_to_skb_metadata() -> Layout {
    Layout::new("xdp_to_skb_metadata", 32)
        .field("magic", 0, 4)
        .field("flags", 4, 4)
        .field("rx_timestamp", 8, 8)
        .field("rx_hash", 16, 4)
        .field("rx_hash_type", 20, 4)
        .field("vlan_proto", 24, 2)
        .field("vlan_tci", 26, 2)
}

/// `int bpf_xdp_metadata_export_to_skb(ctx)`: placement of RFC v2 (the block becomes the
/// metadata right in front of `data`, only when the program has no metadata yet, `data_meta ==
/// data`, and only when it fits above `data_hard_start + sizeof(struct xdp_frame)`), return
/// convention of v1 (0 on success, -1 on failure, nothing written on failure). Each hint is
/// filled when the driver's mainline kfunc returns 0 for it.
pub fn export_to_skb(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    let l = ctx.vm.layouts.clone();
    let w = x.ctx_addr();
    let mem = &mut ctx.vm.memory;
    let b = |n: &str| rd(&l.xdp_buff, mem, w, n);
    let (meta, data, hard) = (b("data_meta")?, b("data")?, b("data_hard_start")?);
    let block = xdp_to_skb_metadata();
    let new_meta = meta.wrapping_sub(u64::from(block.size));
    if meta != data || new_meta < hard + XDP_FRAME_SIZE {
        return Ok(-1i64 as u64);
    }
    let ts = rx_timestamp_of(&l, mem, &x)?;
    let hash = rx_hash_of(&l, mem, &x)?;
    let vlan = rx_vlan_tag_of(&l, mem, &x)?;
    let mut flags = 0;
    let mut values = vec![("magic", u64::from(XDP_METADATA_MAGIC))];
    if ts.ret == 0 {
        flags |= XDP_META_F_TIMESTAMP;
        values.push(("rx_timestamp", ts.value.unwrap_or(0)));
    }
    if hash.ret == 0 {
        flags |= XDP_META_F_HASH;
        values.push(("rx_hash", u64::from(hash.hash.unwrap_or(0))));
        values.push(("rx_hash_type", u64::from(hash.rss_type.unwrap_or(0))));
    }
    if vlan.ret == 0 {
        flags |= XDP_META_F_VLAN;
        values.push(("vlan_proto", u64::from(vlan.proto.unwrap_or(0))));
        values.push(("vlan_tci", u64::from(vlan.tci.unwrap_or(0))));
    }
    values.push(("flags", u64::from(flags)));
    let bytes = block.instantiate(&values).map_err(|e| HelperError::Invalid(e.to_string()))?;
    mem.write_bytes(new_meta, &bytes)?;
    l.xdp_buff
        .write_into(mem, w, &[("data_meta", new_meta)])
        .map_err(|e| HelperError::Invalid(e.to_string()))?;
    Ok(0)
}

/// The drivers' own `xdp_metadata_ops` functions, by their kernel names (what `bpftool prog
/// dump xlated` shows a device-bound program calling): each runs its driver's logic whatever
/// the context's driver, as the kernel would.
pub const DRIVER_FUNCTIONS: [(&str, DriverKind, Kfunc); 8] = [
    ("veth_xdp_rx_timestamp", DriverKind::Veth, Kfunc::Timestamp),
    ("veth_xdp_rx_hash", DriverKind::Veth, Kfunc::Hash),
    ("veth_xdp_rx_vlan_tag", DriverKind::Veth, Kfunc::VlanTag),
    ("ice_xdp_rx_hw_ts", DriverKind::Ice, Kfunc::Timestamp),
    ("ice_xdp_rx_hash", DriverKind::Ice, Kfunc::Hash),
    ("ice_xdp_rx_vlan_tag", DriverKind::Ice, Kfunc::VlanTag),
    ("mlx4_en_xdp_rx_timestamp", DriverKind::Mlx4, Kfunc::Timestamp),
    ("mlx4_en_xdp_rx_hash", DriverKind::Mlx4, Kfunc::Hash),
];

/// What a routine under the `xdp_kfunc_call_preserving_r1` contract keeps in the wrapper's
/// u64 `r0` slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScratchUse {
    /// The RFC's contract exactly: the routine stores its result there (the RFC's
    /// value-returning timestamp, 0 when there is none).
    Value,
    /// Our extension for the mainline ABI: on entry the slot holds the caller's `u64 *timestamp`
    /// (the out pointer R2 cannot survive the call otherwise); the routine writes `*timestamp`
    /// as the driver's kfunc does, then stores its `int` result sign-extended into the slot.
    OutPointer,
}

/// Kernel routines under the RFC's `xdp_kfunc_call_preserving_r1` contract (kernel-notes
/// §B.5): `call routine; r1 = r0; r0 = *(u64 *)(r1 + offsetof(wrapper, r0))`. The routine takes
/// the driver's wrapper as its only argument, returns the same pointer, and leaves its result in
/// the wrapper's `r0` slot ([`ScratchUse`]). Each runs its driver's reference
/// ([`rx_timestamp_of`]) whatever the context's driver, and finds the slot through its driver's
/// wrapper layout. bnxt's answers as mainline bnxt (no timestamp op): -EOPNOTSUPP, or 0 for the
/// RFC's value.
pub const PRESERVING_R1_ROUTINES: [(&str, DriverKind, ScratchUse); 4] = [
    ("mlx4_xdp_rx_timestamp", DriverKind::Mlx4, ScratchUse::Value),
    ("mlx4_xdp_rx_timestamp_out", DriverKind::Mlx4, ScratchUse::OutPointer),
    ("bnxt_xdp_rx_timestamp", DriverKind::Bnxt, ScratchUse::Value),
    ("bnxt_xdp_rx_timestamp_out", DriverKind::Bnxt, ScratchUse::OutPointer),
];

/// The name of `driver`'s timestamp routine under the contract with `scratch`, if it has one.
pub fn preserving_r1_routine(driver: DriverKind, scratch: ScratchUse) -> Option<&'static str> {
    PRESERVING_R1_ROUTINES.iter().find(|&&(_, d, u)| d == driver && u == scratch).map(|&(n, _, _)| n)
}

/// Runs one [`PRESERVING_R1_ROUTINES`] routine on the wrapper in `a[0]`.
fn preserving_r1(
    ctx: &mut HelperCtx<'_>,
    a: [u64; 5],
    driver: DriverKind,
    scratch: ScratchUse,
) -> Result<u64, HelperError> {
    let mut x = xdp_of(ctx, a[0])?;
    x.driver = driver;
    let l = ctx.vm.layouts.clone();
    let wrapper = match driver {
        DriverKind::Mlx4 => &l.mlx4_en_xdp_buff,
        DriverKind::Bnxt => &l.bnxt_xdp_buff,
        other => return Err(HelperError::Invalid(format!("no preserving-r1 routine for {other:?}"))),
    };
    let w = x.ctx_addr();
    let mem = &mut ctx.vm.memory;
    let o = rx_timestamp_of(&l, mem, &x)?;
    let result = match scratch {
        ScratchUse::Value => {
            if o.ret == 0 {
                o.value.unwrap_or(0)
            } else {
                0
            }
        }
        ScratchUse::OutPointer => {
            let out = rd(wrapper, mem, w, "r0")?;
            put(mem, out, 8, o.value)?;
            o.ret as u64
        }
    };
    wrapper
        .write_into(mem, w, &[("r0", result)])
        .map_err(|e| HelperError::Invalid(format!("{}.r0: {e}", wrapper.name)))?;
    Ok(w)
}

/// Registers the [`PRESERVING_R1_ROUTINES`] by name.
pub fn register_preserving_r1(h: &mut Helpers) {
    for (name, driver, scratch) in PRESERVING_R1_ROUTINES {
        h.register_kfunc(name, Rc::new(move |c: &mut HelperCtx<'_>, a| preserving_r1(c, a, driver, scratch)));
    }
}

/// The three mainline metadata kfuncs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kfunc {
    /// `rx_timestamp`.
    Timestamp,
    /// `rx_hash`.
    Hash,
    /// `rx_vlan_tag`.
    VlanTag,
}

fn call_as(
    ctx: &mut HelperCtx<'_>,
    a: [u64; 5],
    driver: Option<DriverKind>,
    k: Kfunc,
) -> Result<u64, HelperError> {
    let mut x = xdp_of(ctx, a[0])?;
    if let Some(d) = driver {
        x.driver = d;
    }
    let l = ctx.vm.layouts.clone();
    let mem = &mut ctx.vm.memory;
    let ret = match k {
        Kfunc::Timestamp => {
            let o = rx_timestamp_of(&l, mem, &x)?;
            put(mem, a[1], 8, o.value)?;
            o.ret
        }
        Kfunc::Hash => {
            let o = rx_hash_of(&l, mem, &x)?;
            put(mem, a[1], 4, o.hash.map(u64::from))?;
            put(mem, a[2], 4, o.rss_type.map(u64::from))?;
            o.ret
        }
        Kfunc::VlanTag => {
            let o = rx_vlan_tag_of(&l, mem, &x)?;
            put(mem, a[1], 2, o.proto.map(u64::from))?;
            put(mem, a[2], 2, o.tci.map(u64::from))?;
            o.ret
        }
    };
    Ok(ret as u64)
}

/// Registers the mainline kfuncs, the drivers' [`DRIVER_FUNCTIONS`] and the
/// [`PRESERVING_R1_ROUTINES`].
pub fn register(h: &mut Helpers) {
    register_preserving_r1(h);
    h.register_kfunc("bpf_xdp_metadata_rx_timestamp", Rc::new(rx_timestamp));
    h.register_kfunc("bpf_xdp_metadata_rx_hash", Rc::new(rx_hash));
    h.register_kfunc("bpf_xdp_metadata_rx_vlan_tag", Rc::new(rx_vlan_tag));
    for (name, driver, k) in DRIVER_FUNCTIONS {
        h.register_kfunc(name, Rc::new(move |c: &mut HelperCtx<'_>, a| call_as(c, a, Some(driver), k)));
    }
}

/// Switches `h` to the RFC ABI: the value-returning `bpf_xdp_metadata_rx_timestamp`, plus
/// `bpf_xdp_metadata_rx_timestamp_supported` and `bpf_xdp_metadata_export_to_skb`.
pub fn register_rfc(h: &mut Helpers) {
    h.register_kfunc("bpf_xdp_metadata_rx_timestamp", Rc::new(rfc_rx_timestamp));
    h.register_kfunc("bpf_xdp_metadata_rx_timestamp_supported", Rc::new(rx_timestamp_supported));
    h.register_kfunc("bpf_xdp_metadata_export_to_skb", Rc::new(export_to_skb));
}

#[cfg(test)]
#[path = "xdp_meta_tests.rs"]
mod tests;
