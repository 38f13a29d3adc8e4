//! What a driver hands an XDP program: its wrapper around `struct xdp_buff` and the structs
//! the wrapper points to, laid out from [`Layouts`] so that the reference kfuncs
//! ([`super::xdp_meta`]) and unrolled bytecode loading `[r1 + 56]`, `[skb + 192]`, ... read the
//! same bytes. [`XdpDriver`] carries the frame's hardware facts per driver; [`attach`] writes
//! them where the driver keeps them.
//!
//! - veth: `veth_xdp_buff.skb` NULL on the `xdp_frame` path; on the skb path an `sk_buff`
//!   whose `head` is the frame region itself (the XDP frame *is* the skb's head buffer, as in
//!   `veth_convert_skb_to_xdp_buff`) with its `skb_shared_info` after the frame at `head + end`.
//! - ice: an `ice_32b_rx_flex_desc` (`eop_desc`) and an `ice_pkt_ctx`.
//! - mlx4: an `mlx4_cqe`, and the reduced `mlx4_en_dev`, `mlx4_en_rx_ring`, `net_device`.
//! - bnxt: the RFC wrapper with NULL pointers (mainline bnxt has no metadata ops).

use super::layouts::Layouts;
use super::memory::{Layout, LayoutError, Memory, RegionKind};

/// `HWTSTAMP_FILTER_ALL`.
pub const HWTSTAMP_FILTER_ALL: u32 = 1;
/// `NETIF_F_RXHASH` (bit 39 of `netdev_features_t` on 6.18).
pub const NETIF_F_RXHASH: u64 = 1 << 39;
/// `ICE_RXDID_FLEX_NIC`: the descriptor profile whose word 12 is the RSS hash.
pub const ICE_RXDID_FLEX_NIC: u8 = 2;
/// `ICE_RX_FLEX_DESC_STATUS0_L2TAG1P_S`.
pub const ICE_L2TAG1P_BIT: u16 = 1 << 13;
/// `ICE_RX_FLEX_DESC_STATUS1_L2TAG2P_S`.
pub const ICE_L2TAG2P_BIT: u16 = 1 << 11;

/// The driver an XDP context belongs to, without its facts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DriverKind {
    /// veth.
    Veth,
    /// Intel ice.
    Ice,
    /// Mellanox mlx4.
    Mlx4,
    /// Broadcom bnxt.
    Bnxt,
}

/// A veth skb's receive facts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VethSkb {
    /// `skb_hwtstamps(skb)->hwtstamp`.
    pub hwtstamp: u64,
    /// `skb->tstamp` (software receive time).
    pub tstamp: u64,
    /// `skb->hash`.
    pub hash: u32,
    /// `skb->l4_hash`.
    pub l4_hash: bool,
    /// `skb->sw_hash`.
    pub sw_hash: bool,
    /// What the flow dissector (`__skb_get_hash`) would compute when neither bit is set:
    /// (hash, whether the flow keys had ports). Its seed is random per boot, so the caller says.
    pub flow_hash: (u32, bool),
    /// The hardware-accelerated VLAN tag: (protocol in host order, e.g. 0x8100; TCI).
    pub vlan: Option<(u16, u16)>,
    /// `skb->mark`.
    pub mark: u32,
}

/// ice receive facts (descriptor and packet context).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IceRx {
    /// `time_stamp_low & ICE_PTP_TS_VALID`.
    pub ts_valid: bool,
    /// `flex_ts.ts_high`: the low 32 bits of the nanosecond timestamp.
    pub ts_high: u32,
    /// `pkt_ctx->cached_phctime` (0: no cached PHC time).
    pub cached_phctime: u64,
    /// `wb.rxdid` (the hash is read only for [`ICE_RXDID_FLEX_NIC`]).
    pub rxdid: u8,
    /// The RSS hash word.
    pub rss_hash: u32,
    /// The 10-bit packet type.
    pub ptype: u16,
    /// `l2tag1` with its status bit set, if any.
    pub l2tag1: Option<u16>,
    /// `l2tag2_2nd` with its status bit set, if any.
    pub l2tag2: Option<u16>,
    /// `pkt_ctx->vlan_proto` in host order (0: VLAN stripping off).
    pub vlan_proto: u16,
}

/// A `struct timecounter` with its `cyclecounter` (mlx4's `mdev->clock` / `mdev->cycles`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Timecounter {
    /// `cc->mask`.
    pub cc_mask: u64,
    /// `cc->mult`.
    pub mult: u32,
    /// `cc->shift`.
    pub shift: u32,
    /// `tc->cycle_last`.
    pub cycle_last: u64,
    /// `tc->nsec`.
    pub nsec: u64,
    /// `tc->mask` (fractional nanoseconds mask).
    pub mask: u64,
    /// `tc->frac`.
    pub frac: u64,
}

/// mlx4 receive facts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Mlx4Rx {
    /// `ring->hwtstamp_rx_filter == HWTSTAMP_FILTER_ALL`.
    pub filter_all: bool,
    /// `cqe->timestamp_hi` (host order).
    pub ts_hi: u32,
    /// `cqe->timestamp_lo` (host order).
    pub ts_lo: u16,
    /// The PHC conversion state.
    pub clock: Timecounter,
    /// `dev->features & NETIF_F_RXHASH`.
    pub rxhash: bool,
    /// `cqe->immed_rss_invalid` (host order).
    pub rss_hash: u32,
    /// `cqe->status` (host order; `MLX4_CQE_STATUS_*` bits).
    pub status: u16,
    /// `cqe->ipv6_ext_mask`.
    pub ipv6_ext_mask: u8,
}

/// The driver and this frame's hardware facts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum XdpDriver {
    /// veth; `None` is the `xdp_frame` path (`veth_xdp_buff.skb == NULL`).
    Veth(Option<VethSkb>),
    /// ice.
    Ice(IceRx),
    /// mlx4.
    Mlx4(Mlx4Rx),
    /// bnxt (mainline: no metadata ops).
    Bnxt,
}

impl Default for XdpDriver {
    fn default() -> Self {
        XdpDriver::Veth(None)
    }
}

impl XdpDriver {
    /// The driver without its facts.
    pub fn kind(&self) -> DriverKind {
        match self {
            XdpDriver::Veth(_) => DriverKind::Veth,
            XdpDriver::Ice(_) => DriverKind::Ice,
            XdpDriver::Mlx4(_) => DriverKind::Mlx4,
            XdpDriver::Bnxt => DriverKind::Bnxt,
        }
    }

    /// The driver's wrapper layout.
    pub fn wrapper<'l>(&self, l: &'l Layouts) -> &'l Layout {
        match self {
            XdpDriver::Veth(_) => &l.veth_xdp_buff,
            XdpDriver::Ice(_) => &l.ice_xdp_buff,
            XdpDriver::Mlx4(_) => &l.mlx4_en_xdp_buff,
            XdpDriver::Bnxt => &l.bnxt_xdp_buff,
        }
    }

    /// Bytes the frame region needs after the packet's tailroom (veth's `skb_shared_info`).
    pub fn frame_extra(&self, l: &Layouts, frame_len: usize) -> usize {
        match self {
            XdpDriver::Veth(Some(_)) => {
                frame_len.next_multiple_of(64) - frame_len + l.skb_shared_info.size as usize
            }
            _ => 0,
        }
    }
}

/// Where the frame is: (region base address, offset of `data`, packet length, frame length
/// before any extra bytes).
#[derive(Clone, Copy, Debug)]
pub struct FramePlace {
    /// Address of the frame's first byte (`data_hard_start`).
    pub base: u64,
    /// Offset of `data`.
    pub data: usize,
    /// Packet length.
    pub len: usize,
    /// Headroom + packet + tailroom.
    pub frame_len: usize,
}

fn map(memory: &mut Memory, l: &Layout, values: &[(&str, u64)]) -> Result<u64, LayoutError> {
    memory.map_struct(l, values)
}

/// Lays out the driver's structs and points the wrapper at `wrapper` to them.
pub fn attach(
    memory: &mut Memory,
    l: &Layouts,
    driver: &XdpDriver,
    wrapper: u64,
    frame: FramePlace,
) -> Result<(), LayoutError> {
    let w = driver.wrapper(l);
    match *driver {
        XdpDriver::Veth(None) | XdpDriver::Bnxt => Ok(()),
        XdpDriver::Veth(Some(s)) => {
            let end = frame.frame_len.next_multiple_of(64);
            l.skb_shared_info.write_into(
                memory,
                frame.base + end as u64,
                &[("hwtstamps.hwtstamp", s.hwtstamp)],
            )?;
            let (proto, tci) = s.vlan.map_or((0, 0), |(p, t)| (u64::from(p.swap_bytes()), u64::from(t)));
            let skb = map(
                memory,
                &l.sk_buff,
                &[
                    ("tstamp", s.tstamp),
                    ("len", frame.len as u64),
                    ("hash", u64::from(s.hash)),
                    ("l4_hash", u64::from(s.l4_hash)),
                    ("sw_hash", u64::from(s.sw_hash)),
                    ("vlan_proto", proto),
                    ("vlan_tci", tci),
                    ("mark", u64::from(s.mark)),
                    ("mac_header", frame.data as u64),
                    ("tail", (frame.data + frame.len) as u64),
                    ("end", end as u64),
                    ("head", frame.base),
                    ("data", frame.base + frame.data as u64),
                ],
            )?;
            w.write_into(memory, wrapper, &[("skb", skb)])
        }
        XdpDriver::Ice(r) => {
            let mut s0 = 0u16;
            let mut s1 = 0u16;
            if r.l2tag1.is_some() {
                s0 |= ICE_L2TAG1P_BIT;
            }
            if r.l2tag2.is_some() {
                s1 |= ICE_L2TAG2P_BIT;
            }
            let desc = map(
                memory,
                &l.ice_32b_rx_flex_desc,
                &[
                    ("wb.rxdid", u64::from(r.rxdid)),
                    ("wb.ptype_flex_flags0", u64::from(r.ptype & 0x3ff)),
                    ("wb.pkt_len", frame.len as u64 & 0x3fff),
                    ("wb.status_error0", u64::from(s0)),
                    ("wb.l2tag1", u64::from(r.l2tag1.unwrap_or(0))),
                    ("rss_hash", u64::from(r.rss_hash)),
                    ("wb.status_error1", u64::from(s1)),
                    ("wb.time_stamp_low", u64::from(r.ts_valid)),
                    ("wb.l2tag2_2nd", u64::from(r.l2tag2.unwrap_or(0))),
                    ("wb.flex_ts.ts_high", u64::from(r.ts_high)),
                ],
            )?;
            let pkt_ctx = map(
                memory,
                &l.ice_pkt_ctx,
                &[("cached_phctime", r.cached_phctime), ("vlan_proto", u64::from(r.vlan_proto.swap_bytes()))],
            )?;
            w.write_into(memory, wrapper, &[("eop_desc", desc), ("pkt_ctx", pkt_ctx)])
        }
        XdpDriver::Mlx4(r) => {
            let cqe = map(
                memory,
                &l.mlx4_cqe,
                &[
                    ("immed_rss_invalid", u64::from(r.rss_hash.swap_bytes())),
                    ("timestamp_hi", u64::from(r.ts_hi.swap_bytes())),
                    ("status", u64::from(r.status.swap_bytes())),
                    ("ipv6_ext_mask", u64::from(r.ipv6_ext_mask)),
                    ("timestamp_lo", u64::from(r.ts_lo.swap_bytes())),
                ],
            )?;
            let c = r.clock;
            let mdev = map(
                memory,
                &l.mlx4_en_dev,
                &[
                    ("cycles.mask", c.cc_mask),
                    ("cycles.mult", u64::from(c.mult)),
                    ("cycles.shift", u64::from(c.shift)),
                    ("clock.cycle_last", c.cycle_last),
                    ("clock.nsec", c.nsec),
                    ("clock.mask", c.mask),
                    ("clock.frac", c.frac),
                ],
            )?;
            let filter = if r.filter_all { HWTSTAMP_FILTER_ALL } else { 0 };
            let ring = map(memory, &l.mlx4_en_rx_ring, &[("hwtstamp_rx_filter", u64::from(filter))])?;
            let features = if r.rxhash { NETIF_F_RXHASH } else { 0 };
            let dev = map(memory, &l.net_device, &[("features", features)])?;
            w.write_into(memory, wrapper, &[("cqe", cqe), ("mdev", mdev), ("ring", ring), ("dev", dev)])
        }
    }
}

/// A region for a driver's wrapper struct.
pub fn map_wrapper(memory: &mut Memory, w: &Layout) -> u64 {
    let id = memory.map(RegionKind::Kernel { type_name: w.name.clone() }, vec![0; w.size as usize], true);
    Memory::addr(id, 0)
}
