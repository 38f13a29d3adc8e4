//! The kernel struct layouts the XDP and TC contexts are built from, named as
//! [`Layout::from_btf`] names them (`xdp.data`, `hwtstamps.hwtstamp`, `wb.l2tag1`, ...).
//!
//! Provenance of the hand-written defaults ([`Layouts::v6_18`]):
//! - `xdp_buff`, `veth_xdp_buff`, `sk_buff` (the fields listed), `skb_shared_info`: Linux
//!   6.18.44 x86_64 (kernel-notes §B.3), checked against `/sys/kernel/btf/vmlinux` by a test
//!   when it is readable.
//! - `ice_xdp_buff` (`xdp`, `eop_desc`, `pkt_ctx`), `ice_pkt_ctx`, `ice_32b_rx_flex_desc`
//!   (with the `rss_hash` word of the `_nic` writeback view at 12): mainline 6.8+ definitions
//!   (kernel-notes §B.4.2), offsets by natural x86_64 alignment; the ice module was not built
//!   on the test machine, so not checked against BTF.
//! - `mlx4_en_xdp_buff` (`xdp`, `cqe`, `mdev`, `ring`, `dev`) and `mlx4_cqe` (with the
//!   `timestamp_lo` of the `mlx4_ts_cqe` view at 29): mainline definitions, natural alignment.
//!   One addition: a u64 `r0` after `dev`, the scratch slot of the RFC's
//!   `xdp_kfunc_call_preserving_r1` contract (kernel-notes §B.5; the RFC's `mlx4_xdp_buff` had
//!   it), which unrolled code calling the driver's timestamp routine needs. Mainline has no such
//!   field: a wrapper read from BTF without it gets it appended ([`Layouts::from_btf`]).
//!   `mlx4_en_dev`, `mlx4_en_rx_ring` and `net_device` are *reduced* stand-ins holding only the
//!   fields the reference kfuncs read (the clock's cyclecounter/timecounter, the RX timestamp
//!   filter, the features word) at offsets of our own: unrolled code calls the kernel routine for
//!   mlx4 (kernel-notes §B.5) and never loads them itself.
//! - `bnxt_xdp_buff` (`xdp`, `rxcmp1`, `bp`, `r0`): the RFC's wrapper (mainline has none).
//!
//! [`Layouts::from_btf`] replaces every layout the given BTF has.

use btf_rs::Btf;

use super::memory::Layout;

/// `struct xdp_buff` fields under `prefix` (empty for the struct itself, `xdp.` in wrappers).
fn with_xdp_buff(l: Layout, prefix: &str) -> Layout {
    let f = |n: &str| format!("{prefix}{n}");
    let mut l = l;
    if !prefix.is_empty() {
        l = l.field(prefix.trim_end_matches('.'), 0, 56);
    }
    l.field(&f("data"), 0, 8)
        .field(&f("data_end"), 8, 8)
        .field(&f("data_meta"), 16, 8)
        .field(&f("data_hard_start"), 24, 8)
        .field(&f("rxq"), 32, 8)
        .field(&f("txq"), 40, 8)
        .field(&f("frame_sz"), 48, 4)
        .field(&f("flags"), 52, 4)
}

/// `struct xdp_buff` (56 bytes).
pub fn xdp_buff() -> Layout {
    with_xdp_buff(Layout::new("xdp_buff", 56), "")
}

/// `struct veth_xdp_buff` (64 bytes): `xdp`, `skb` at 56.
pub fn veth_xdp_buff() -> Layout {
    with_xdp_buff(Layout::new("veth_xdp_buff", 64), "xdp.").field("skb", 56, 8)
}

/// `struct sk_buff` (224 bytes), the fields the contexts and drivers use.
pub fn sk_buff() -> Layout {
    Layout::new("sk_buff", 224)
        .field("dev", 16, 8)
        .field("tstamp", 32, 8)
        .field("cb", 40, 48)
        .field("len", 112, 4)
        .field("data_len", 116, 4)
        .field("queue_mapping", 124, 2)
        .bitfield("l4_hash", 130 * 8 + 1, 1)
        .bitfield("sw_hash", 130 * 8 + 2, 1)
        .field("skb_iif", 144, 4)
        .field("hash", 148, 4)
        .field("vlan_all", 152, 4)
        .field("vlan_proto", 152, 2)
        .field("vlan_tci", 154, 2)
        .field("mark", 164, 4)
        .field("mac_header", 182, 2)
        .field("tail", 184, 4)
        .field("end", 188, 4)
        .field("head", 192, 8)
        .field("data", 200, 8)
}

/// `struct skb_shared_info` (320 bytes), the fields used here.
pub fn skb_shared_info() -> Layout {
    Layout::new("skb_shared_info", 320)
        .field("flags", 0, 1)
        .field("meta_len", 1, 1)
        .field("nr_frags", 2, 1)
        .field("hwtstamps", 16, 8)
        .field("hwtstamps.hwtstamp", 16, 8)
}

/// `struct ice_xdp_buff` (mainline 6.8+).
pub fn ice_xdp_buff() -> Layout {
    with_xdp_buff(Layout::new("ice_xdp_buff", 72), "xdp.").field("eop_desc", 56, 8).field("pkt_ctx", 64, 8)
}

/// `struct ice_pkt_ctx`.
pub fn ice_pkt_ctx() -> Layout {
    Layout::new("ice_pkt_ctx", 16).field("cached_phctime", 0, 8).field("vlan_proto", 8, 2)
}

/// `union ice_32b_rx_flex_desc` (writeback view; `rss_hash` from the `_nic` profile).
pub fn ice_32b_rx_flex_desc() -> Layout {
    Layout::new("ice_32b_rx_flex_desc", 32)
        .field("wb.rxdid", 0, 1)
        .field("wb.ptype_flex_flags0", 2, 2)
        .field("wb.pkt_len", 4, 2)
        .field("wb.status_error0", 8, 2)
        .field("wb.l2tag1", 10, 2)
        .field("rss_hash", 12, 4)
        .field("wb.status_error1", 16, 2)
        .field("wb.time_stamp_low", 19, 1)
        .field("wb.l2tag2_1st", 20, 2)
        .field("wb.l2tag2_2nd", 22, 2)
        .field("wb.flex_ts.ts_high", 28, 4)
}

/// `struct mlx4_en_xdp_buff` (mainline) plus the RFC's scratch slot `r0` (u64 at 88) that the
/// `xdp_kfunc_call_preserving_r1` contract stores the kernel routine's result in.
pub fn mlx4_en_xdp_buff() -> Layout {
    with_xdp_buff(Layout::new("mlx4_en_xdp_buff", 96), "xdp.")
        .field("cqe", 56, 8)
        .field("mdev", 64, 8)
        .field("ring", 72, 8)
        .field("dev", 80, 8)
        .field("r0", 88, 8)
}

/// `layout` with a u64 `r0` appended (8-aligned) unless it has one: the contract's scratch slot.
fn with_r0_slot(layout: Layout) -> Layout {
    if layout.find("r0").is_some() {
        return layout;
    }
    let at = layout.size.next_multiple_of(8);
    let mut l = layout.field("r0", at, 8);
    l.size = at + 8;
    l
}

/// `struct mlx4_cqe` (32 bytes; `timestamp_lo` from the `mlx4_ts_cqe` view).
pub fn mlx4_cqe() -> Layout {
    Layout::new("mlx4_cqe", 32)
        .field("vlan_my_qpn", 0, 4)
        .field("immed_rss_invalid", 4, 4)
        .field("g_mlpath_rqpn", 8, 4)
        .field("timestamp_hi", 12, 4)
        .field("status", 16, 2)
        .field("ipv6_ext_mask", 18, 1)
        .field("badfcs_enc", 19, 1)
        .field("byte_cnt", 20, 4)
        .field("timestamp_lo", 29, 2)
        .field("owner_sr_opcode", 31, 1)
}

/// Reduced `struct mlx4_en_dev`: its `cycles` (cyclecounter) and `clock` (timecounter).
pub fn mlx4_en_dev() -> Layout {
    Layout::new("mlx4_en_dev", 64)
        .field("cycles.mask", 8, 8)
        .field("cycles.mult", 16, 4)
        .field("cycles.shift", 20, 4)
        .field("clock.cycle_last", 32, 8)
        .field("clock.nsec", 40, 8)
        .field("clock.mask", 48, 8)
        .field("clock.frac", 56, 8)
}

/// Reduced `struct mlx4_en_rx_ring`: `hwtstamp_rx_filter`.
pub fn mlx4_en_rx_ring() -> Layout {
    Layout::new("mlx4_en_rx_ring", 8).field("hwtstamp_rx_filter", 0, 4)
}

/// Reduced `struct net_device`: `features`.
pub fn net_device() -> Layout {
    // `ifindex` is at its 6.18 offset; `features` is a stand-in position.
    Layout::new("net_device", 232).field("features", 0, 8).field("ifindex", 224, 4)
}

/// `struct xdp_rxq_info` (6.18): what `xdp->rxq` points to.
pub fn xdp_rxq_info() -> Layout {
    Layout::new("xdp_rxq_info", 64).field("dev", 0, 8).field("queue_index", 8, 4)
}

/// The RFC's `struct bnxt_xdp_buff`.
pub fn bnxt_xdp_buff() -> Layout {
    with_xdp_buff(Layout::new("bnxt_xdp_buff", 80), "xdp.")
        .field("rxcmp1", 56, 8)
        .field("bp", 64, 8)
        .field("r0", 72, 8)
}

/// Every layout a context may need.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Layouts {
    /// `xdp_buff`.
    pub xdp_buff: Layout,
    /// `sk_buff`.
    pub sk_buff: Layout,
    /// `skb_shared_info`.
    pub skb_shared_info: Layout,
    /// `veth_xdp_buff`.
    pub veth_xdp_buff: Layout,
    /// `ice_xdp_buff`.
    pub ice_xdp_buff: Layout,
    /// `ice_pkt_ctx`.
    pub ice_pkt_ctx: Layout,
    /// `ice_32b_rx_flex_desc`.
    pub ice_32b_rx_flex_desc: Layout,
    /// `mlx4_en_xdp_buff`.
    pub mlx4_en_xdp_buff: Layout,
    /// `mlx4_cqe`.
    pub mlx4_cqe: Layout,
    /// Reduced `mlx4_en_dev`.
    pub mlx4_en_dev: Layout,
    /// Reduced `mlx4_en_rx_ring`.
    pub mlx4_en_rx_ring: Layout,
    /// Reduced `net_device`.
    pub net_device: Layout,
    /// `xdp_rxq_info`.
    pub xdp_rxq_info: Layout,
    /// `bnxt_xdp_buff` (RFC).
    pub bnxt_xdp_buff: Layout,
}

impl Default for Layouts {
    fn default() -> Self {
        Layouts::v6_18()
    }
}

impl Layouts {
    /// The hand-written defaults (see the module docs for where each comes from).
    pub fn v6_18() -> Layouts {
        Layouts {
            xdp_buff: xdp_buff(),
            sk_buff: sk_buff(),
            skb_shared_info: skb_shared_info(),
            veth_xdp_buff: veth_xdp_buff(),
            ice_xdp_buff: ice_xdp_buff(),
            ice_pkt_ctx: ice_pkt_ctx(),
            ice_32b_rx_flex_desc: ice_32b_rx_flex_desc(),
            mlx4_en_xdp_buff: mlx4_en_xdp_buff(),
            mlx4_cqe: mlx4_cqe(),
            mlx4_en_dev: mlx4_en_dev(),
            mlx4_en_rx_ring: mlx4_en_rx_ring(),
            net_device: net_device(),
            xdp_rxq_info: xdp_rxq_info(),
            bnxt_xdp_buff: bnxt_xdp_buff(),
        }
    }

    /// Every layout, in declaration order.
    pub fn all(&self) -> [&Layout; 14] {
        [
            &self.xdp_buff,
            &self.sk_buff,
            &self.skb_shared_info,
            &self.veth_xdp_buff,
            &self.ice_xdp_buff,
            &self.ice_pkt_ctx,
            &self.ice_32b_rx_flex_desc,
            &self.mlx4_en_xdp_buff,
            &self.mlx4_cqe,
            &self.mlx4_en_dev,
            &self.mlx4_en_rx_ring,
            &self.net_device,
            &self.xdp_rxq_info,
            &self.bnxt_xdp_buff,
        ]
    }

    /// Every layout, mutably, in declaration order.
    pub fn all_mut(&mut self) -> [&mut Layout; 14] {
        [
            &mut self.xdp_buff,
            &mut self.sk_buff,
            &mut self.skb_shared_info,
            &mut self.veth_xdp_buff,
            &mut self.ice_xdp_buff,
            &mut self.ice_pkt_ctx,
            &mut self.ice_32b_rx_flex_desc,
            &mut self.mlx4_en_xdp_buff,
            &mut self.mlx4_cqe,
            &mut self.mlx4_en_dev,
            &mut self.mlx4_en_rx_ring,
            &mut self.net_device,
            &mut self.xdp_rxq_info,
            &mut self.bnxt_xdp_buff,
        ]
    }

    /// The layout named `name` (its struct name), mutably.
    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut Layout> {
        self.all_mut().into_iter().find(|l| l.name == name)
    }

    /// The reduced stand-ins, whose field names and offsets are ours, not the kernel's.
    pub const REDUCED: [&'static str; 3] = ["mlx4_en_dev", "mlx4_en_rx_ring", "net_device"];

    /// The defaults with every layout `btf` has replaced by its BTF form, except the reduced
    /// stand-ins ([`Layouts::REDUCED`]), whose field names are ours.
    /// Pass module BTF (split on vmlinux) to pick up driver wrappers. A mainline
    /// `mlx4_en_xdp_buff` gets the contract's `r0` slot appended (see the module docs).
    pub fn from_btf(btf: &Btf) -> Layouts {
        let mut l = Layouts::v6_18();
        for slot in l.all_mut() {
            if Layouts::REDUCED.contains(&slot.name.as_str()) {
                continue;
            }
            if let Ok(from_btf) = Layout::from_btf(btf, &slot.name) {
                *slot = from_btf;
            }
        }
        l.mlx4_en_xdp_buff = with_r0_slot(l.mlx4_en_xdp_buff);
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlx4_wrapper_gets_the_contract_slot_once() {
        // Mainline's 88-byte wrapper (as BTF would give it): `r0` appended at 88.
        let mainline = mlx4_en_xdp_buff();
        let mut bare = Layout::new("mlx4_en_xdp_buff", 88);
        bare.fields = mainline.fields.iter().filter(|f| f.name != "r0").cloned().collect();
        let cases = [(bare, 88, 96), (mainline.clone(), 88, 96), (Layout::new("odd", 84), 88, 96)];
        for (layout, at, size) in cases {
            let name = layout.name.clone();
            let l = with_r0_slot(layout);
            assert_eq!((l.offset_of("r0"), l.size), (Ok(at), size), "{name}");
            assert_eq!(l.fields.iter().filter(|f| f.name == "r0").count(), 1, "{name}");
        }
        assert_eq!(with_r0_slot(mainline.clone()), mainline);
    }

    #[test]
    #[allow(clippy::print_stdout)] // the skip reason and the count are the test's report
    fn hand_written_layouts_agree_with_this_kernels_btf() {
        let Some(btf) = super::super::btf_layout::load_vmlinux() else {
            assert!(
                std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"),
                "BPFPATCH_REQUIRE_KERNEL=1 but /sys/kernel/btf/vmlinux is unreadable"
            );
            println!("skipped: /sys/kernel/btf/vmlinux is not readable");
            return;
        };
        let mut checked = 0;
        for hand in [xdp_buff(), veth_xdp_buff(), sk_buff(), skb_shared_info()] {
            let Ok(real) = Layout::from_btf(&btf, &hand.name) else {
                println!("{} is not in vmlinux (a module?)", hand.name);
                continue;
            };
            assert_eq!(hand.size, real.size, "size of {}", hand.name);
            for f in &hand.fields {
                let r = real.find(&f.name).unwrap_or_else(|| panic!("{}.{} not in BTF", hand.name, f.name));
                assert_eq!(
                    (f.offset, f.size, f.bits),
                    (r.offset, r.size, r.bits),
                    "{}.{}",
                    hand.name,
                    f.name
                );
                checked += 1;
            }
        }
        println!("checked {checked} hand-written fields against vmlinux BTF");
        assert!(checked > 30);
        // A veth context built from BTF layouts gives the reference kfuncs the same answers.
        let from_btf = Layouts::from_btf(&btf);
        assert_eq!(from_btf.veth_xdp_buff.offset_of("skb"), Ok(56));
        let skb = super::super::drivers::VethSkb {
            hwtstamp: 77,
            hash: 5,
            l4_hash: true,
            vlan: Some((0x8100, 9)),
            ..Default::default()
        };
        let results = |layouts: Layouts| {
            let mut memory = super::super::Memory::new();
            let setup = super::super::XdpSetup {
                driver: super::super::XdpDriver::Veth(Some(skb)),
                layouts: std::rc::Rc::new(layouts),
                ..super::super::XdpSetup::new(vec![0; 64])
            };
            let (x, _) = super::super::XdpCtx::build(&mut memory, &setup).expect("layouts have the fields");
            use super::super::xdp_meta::{rx_hash_of, rx_timestamp_of, rx_vlan_tag_of};
            let l = &setup.layouts;
            let t = rx_timestamp_of(l, &memory, &x).expect("reads");
            let h = rx_hash_of(l, &mut memory, &x).expect("reads");
            let v = rx_vlan_tag_of(l, &memory, &x).expect("reads");
            (t, h, v)
        };
        let (t, h, v) = results(from_btf);
        assert_eq!(
            (t.value, h.hash, h.rss_type, v.proto, v.tci),
            (Some(77), Some(5), Some(8), Some(0x0081), Some(9))
        );
        assert_eq!((t, h, v), results(Layouts::v6_18()));
    }
}
