//! Semantics of the ice, mlx4 and bnxt `kernel` sequences: each runs in the interpreter on a
//! context laid out from the same `Layouts` the emitter used and is compared with the driver's
//! reference kfunc (`bpf_verifier_model::interp::xdp_meta`) called on an identical context: R0,
//! the out-parameter bytes (pre-filled with 0xaa so "not written" shows), the frame (headroom,
//! packet, exported block) and the driver's wrapper. Calls into kernel routines run the
//! interpreter's `PRESERVING_R1_ROUTINES` (bound to the call's `imm`, -1); the wrapper's `r0`
//! scratch slot they use is the only wrapper byte allowed to differ from the reference.
#![allow(clippy::print_stdout)]

mod common;

use std::rc::Rc;

use bpf_unroll::{emit, Abi, Driver, Kfunc, Lowering};
use bpf_verifier_model::interp::{IceRx, Layouts, Mlx4Rx, Timecounter, XdpDriver};
use common::{ours, reference, Run, UNTOUCHED};

fn ice(f: impl FnOnce(&mut IceRx)) -> XdpDriver {
    let mut r = IceRx { rxdid: 2, ..IceRx::default() };
    f(&mut r);
    XdpDriver::Ice(r)
}

fn mlx4(f: impl FnOnce(&mut Mlx4Rx)) -> XdpDriver {
    let clock = Timecounter {
        cc_mask: (1 << 48) - 1,
        mult: 1 << 8,
        shift: 8,
        nsec: 10_000_000,
        cycle_last: 0x10_0000,
        mask: 0xff,
        ..Timecounter::default()
    };
    let mut r = Mlx4Rx { clock, ..Mlx4Rx::default() };
    f(&mut r);
    XdpDriver::Mlx4(r)
}

/// `MLX4_CQE_STATUS_*`.
const IPV4: u16 = 1 << 6;
const IPV4F: u16 = 1 << 7;
const IPV6: u16 = 1 << 8;
const TCP: u16 = 1 << 10;
const UDP: u16 = 1 << 11;

fn ice_cases() -> Vec<(String, XdpDriver)> {
    let stamp = |cached: u64, high: u32| {
        ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high, r.rss_hash, r.ptype) = (true, cached, high, 7, 26))
    };
    let mut v: Vec<(String, XdpDriver)> = vec![
        ("nothing".into(), ice(|_| {})),
        ("valid bit off".into(), ice(|r| (r.cached_phctime, r.ts_high) = (0x1_0000_1000, 0x2000))),
        ("cached PHC time 0".into(), ice(|r| (r.ts_valid, r.ts_high) = (true, 0x2000))),
        ("stamp ahead".into(), stamp(0x1_0000_1000, 0x2000)),
        ("stamp behind".into(), stamp(0x1_0000_1000, 0x0800)),
        ("ahead across the 32-bit wrap".into(), stamp(0x1_ffff_ff00, 0x100)),
        ("behind across the 32-bit wrap".into(), stamp(0x2_0000_0100, 0xffff_ff00)),
        ("exactly U32_MAX / 2 ahead".into(), stamp(0x5_0000_0000, 0x7fff_ffff)),
        ("U32_MAX / 2 + 1 ahead: behind".into(), stamp(0x5_0000_0000, 0x8000_0000)),
        ("extends to 0".into(), stamp(0x1_0000_0000, 0)),
        ("rxdid not FLEX_NIC".into(), ice(|r| (r.rxdid, r.rss_hash, r.ptype) = (1, 0x1234, 24))),
        ("hash 0".into(), ice(|r| r.ptype = 92)),
        ("vlan l2tag1".into(), ice(|r| (r.vlan_proto, r.l2tag1) = (0x8100, Some(5)))),
        ("vlan l2tag2".into(), ice(|r| (r.vlan_proto, r.l2tag2) = (0x88a8, Some(0x2006)))),
        (
            "vlan both tags: l2tag1 wins".into(),
            ice(|r| (r.vlan_proto, r.l2tag1, r.l2tag2) = (0x8100, Some(9), Some(8))),
        ),
        ("vlan none".into(), ice(|r| r.vlan_proto = 0x8100)),
        ("vlan tag 0".into(), ice(|r| (r.vlan_proto, r.l2tag1) = (0x8100, Some(0)))),
        ("vlan proto 0".into(), ice(|r| r.l2tag1 = Some(5))),
        (
            "everything".into(),
            ice(|r| {
                (r.ts_valid, r.cached_phctime, r.ts_high) = (true, 0x1_0000_1000, 0x3000);
                (r.rss_hash, r.ptype, r.vlan_proto, r.l2tag2) = (0xabcd, 90, 0x8100, Some(3));
            }),
        ),
    ];
    // One case per packet-type class (and its neighbours), hash present.
    for ptype in [0, 1, 21, 22, 23, 24, 25, 26, 27, 28, 29, 87, 88, 89, 90, 91, 92, 93, 94, 95, 154, 0x3ff] {
        v.push((format!("ptype {ptype}"), ice(|r| (r.rss_hash, r.ptype) = (0x5555, ptype))));
    }
    v
}

fn mlx4_cases() -> Vec<(String, XdpDriver)> {
    let on = |status: u16, ext: u8| {
        mlx4(|r| (r.rxhash, r.rss_hash, r.status, r.ipv6_ext_mask) = (true, 0x1234_5678, status, ext))
    };
    let mut v: Vec<(String, XdpDriver)> = vec![
        ("nothing".into(), mlx4(|_| {})),
        ("RXHASH off".into(), mlx4(|r| (r.rss_hash, r.status) = (0x1234, TCP | IPV4))),
        ("filter not ALL".into(), mlx4(|r| (r.ts_hi, r.ts_lo) = (0x10, 0x20))),
        ("filter ALL".into(), mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo) = (true, 0x10, 0x20))),
        ("filter ALL, lo 0".into(), mlx4(|r| (r.filter_all, r.ts_hi) = (true, 0x10))),
        (
            "filter ALL, behind cycle_last".into(),
            mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo) = (true, 0, 0x20)),
        ),
        ("hash 0".into(), mlx4(|r| (r.rxhash, r.status) = (true, UDP | IPV6))),
    ];
    let combos = [
        0,
        TCP,
        UDP,
        TCP | UDP,
        IPV4,
        IPV4F,
        IPV6,
        IPV4 | TCP,
        IPV4F | UDP,
        IPV6 | TCP,
        IPV6 | UDP,
        IPV4 | IPV6 | TCP | UDP,
    ];
    for status in combos {
        for ext in [0, 1] {
            v.push((format!("status {status:#x} ipv6_ext {ext}"), on(status, ext)));
        }
    }
    v
}

/// Every `kernel` sequence of `driver` against the reference on `cases`.
fn compare(driver: Driver, cases: &[(String, XdpDriver)], layouts: &Rc<Layouts>) -> usize {
    let mut compared = 0;
    for abi in Abi::ALL {
        for &kfunc in abi.kfuncs() {
            let seq = emit(driver, kfunc, Lowering::Kernel, layouts).expect("emits");
            for (name, d) in cases {
                let got = ours(&seq, *d, layouts);
                let want = reference(kfunc, *d, layouts);
                assert_eq!(got, want, "{driver} {kfunc:?} ({abi}): {name}");
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn ice_sequences_match_the_reference() {
    let layouts = Rc::new(Layouts::v6_18());
    let n = compare(Driver::Ice, &ice_cases(), &layouts);
    println!("ice: compared {n} runs ({} cases x 6 kfuncs)", ice_cases().len());
    assert_eq!(n, ice_cases().len() * 6);
}

#[test]
fn ice_hash_type_tree_equals_the_reference_table_for_every_packet_type() {
    let layouts = Rc::new(Layouts::v6_18());
    let seq = emit(Driver::Ice, Kfunc::RxHash, Lowering::Kernel, &layouts).expect("emits");
    let mut typed = 0;
    for ptype in 0..=0x3ffu16 {
        let d = ice(|r| (r.rss_hash, r.ptype) = (1, ptype));
        let got = ours(&seq, d, &layouts);
        assert_eq!(got, reference(Kfunc::RxHash, d, &layouts), "ptype {ptype}");
        let t = u32::from_le_bytes(got.out[8..12].try_into().expect("4 bytes"));
        assert_eq!(t, bpf_verifier_model::interp::xdp_meta::ice_ptype_hash_type(ptype), "ptype {ptype}");
        typed += usize::from(t != 0);
    }
    println!("ice: 1024 packet types, {typed} with a hash type");
    assert_eq!(typed, 12, "22-24 and 26-28, IPv4 and IPv6");
}

#[test]
fn mlx4_sequences_match_the_reference() {
    let layouts = Rc::new(Layouts::v6_18());
    let n = compare(Driver::Mlx4, &mlx4_cases(), &layouts);
    println!("mlx4: compared {n} runs ({} cases x 6 kfuncs)", mlx4_cases().len());
    assert_eq!(n, mlx4_cases().len() * 6);
}

#[test]
fn bnxt_sequences_match_the_reference() {
    let layouts = Rc::new(Layouts::v6_18());
    let n = compare(Driver::Bnxt, &[("no metadata".into(), XdpDriver::Bnxt)], &layouts);
    println!("bnxt: compared {n} runs");
    assert_eq!(n, 6);
}

#[test]
fn spot_checks_in_absolute_values() {
    // Equality with the reference could hide a shared mistake; these values are written out.
    let layouts = Rc::new(Layouts::v6_18());
    let go = |driver: Driver, k: Kfunc, d: XdpDriver| {
        let seq = emit(driver, k, Lowering::Kernel, &layouts).expect("emits");
        ours(&seq, d, &layouts)
    };
    let u64_at = |r: &Run, at: usize| u64::from_le_bytes(r.out[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |r: &Run, at: usize| u32::from_le_bytes(r.out[at..at + 4].try_into().expect("4 bytes"));
    let wrap = ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high) = (true, 0x1_ffff_ff00, 0x100));
    let t = go(Driver::Ice, Kfunc::RxTimestamp, wrap);
    assert_eq!((t.r0, u64_at(&t, 0)), (0, 0x2_0000_0100));
    let back = ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high) = (true, 0x2_0000_0100, 0xffff_ff00));
    assert_eq!(go(Driver::Ice, Kfunc::RfcRxTimestamp, back).r0, 0x1_ffff_ff00);
    let off = ice(|r| (r.cached_phctime, r.ts_high) = (0x1_0000_1000, 0x2000));
    let t = go(Driver::Ice, Kfunc::RxTimestamp, off);
    assert_eq!((t.r0, u64_at(&t, 0)), (-61, 0), "no valid bit: 0 written, -ENODATA");
    let h = go(Driver::Ice, Kfunc::RxHash, ice(|r| (r.rss_hash, r.ptype) = (0xabcd, 92)));
    assert_eq!((h.r0, u32_at(&h, 0), u32_at(&h, 8)), (0, 0xabcd, 26), "IPv6 TCP");
    let v = go(Driver::Ice, Kfunc::RxVlanTag, ice(|r| (r.vlan_proto, r.l2tag2) = (0x8100, Some(10))));
    assert_eq!((v.r0, &v.out[..2], &v.out[8..10]), (0, &[0x81, 0x00][..], &[10, 0][..]));
    let m = mlx4(|r| (r.rxhash, r.rss_hash, r.status, r.ipv6_ext_mask) = (true, 0x1234_5678, IPV6 | UDP, 1));
    let h = go(Driver::Mlx4, Kfunc::RxHash, m);
    assert_eq!((h.r0, u32_at(&h, 0), u32_at(&h, 8)), (0, 0x1234_5678, 32 | 2 | 4));
    let ts = mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo) = (true, 0x10, 0x20));
    let t = go(Driver::Mlx4, Kfunc::RxTimestamp, ts);
    // cycles 0x10_0020, cycle_last 0x10_0000, mult / 2^shift = 1: nsec + 0x20.
    assert_eq!((t.r0, u64_at(&t, 0)), (0, 10_000_000 + 0x20));
    assert_eq!(go(Driver::Mlx4, Kfunc::RfcRxTimestamp, ts).r0, 10_000_000 + 0x20);
    let t = go(Driver::Mlx4, Kfunc::RxTimestamp, mlx4(|r| r.ts_hi = 0x10));
    assert_eq!((t.r0, &t.out[..8]), (-61, &[UNTOUCHED; 8][..]), "filter not ALL");
    assert_eq!(go(Driver::Mlx4, Kfunc::RxVlanTag, m).r0, -95);
    assert_eq!(go(Driver::Bnxt, Kfunc::RxTimestamp, XdpDriver::Bnxt).r0, -95);
    assert_eq!(go(Driver::Bnxt, Kfunc::RfcRxTimestampSupported, XdpDriver::Bnxt).r0, 0);
    assert_eq!(go(Driver::Mlx4, Kfunc::RfcRxTimestampSupported, m).r0, 1);
}
