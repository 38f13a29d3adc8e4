//! The reference RX-metadata kfuncs per driver, called from assembled programs with their
//! out-parameters in a test region pre-filled with 0xaa (so "not written" is visible).

use super::*;
use crate::interp::drivers::{IceRx, Mlx4Rx, Timecounter, VethSkb, XdpDriver};
use crate::interp::memory::RegionKind;
use crate::interp::testutil::asm_vm;
use crate::interp::{Vm, XdpSetup};

const UNTOUCHED8: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const UNTOUCHED4: u64 = 0xaaaa_aaaa;
const UNTOUCHED2: u64 = 0xaaaa;

/// Calls `kfunc(ctx, out, out + 8)`; returns (r0, the 8 bytes at out, the 8 bytes at out + 8).
fn call(driver: XdpDriver, kfunc: &str, sizes: (u32, u32)) -> (i64, u64, u64) {
    let mut v = asm_vm(&format!("call %{kfunc}\nexit"));
    let r1 = v.setup_xdp(&XdpSetup { driver, ..XdpSetup::new(vec![0x11; 64]) });
    let out = v.memory.map(RegionKind::Plain, vec![0xaa; 16], true);
    let p = Memory::addr(out, 0);
    let r0 = v.run([r1, p, p + 8, 0, 0]).expect("runs").r0 as i64;
    let a = v.memory.load_bytes_le(p, sizes.0).expect("mapped");
    let b = v.memory.load_bytes_le(p + 8, sizes.1).expect("mapped");
    (r0, a, b)
}

fn ts(driver: XdpDriver) -> (i64, u64) {
    let (r, a, _) = call(driver, "bpf_xdp_metadata_rx_timestamp", (8, 1));
    (r, a)
}

fn hash(driver: XdpDriver) -> (i64, u64, u64) {
    call(driver, "bpf_xdp_metadata_rx_hash", (4, 4))
}

fn vlan(driver: XdpDriver) -> (i64, u64, u64) {
    call(driver, "bpf_xdp_metadata_rx_vlan_tag", (2, 2))
}

fn veth(f: impl FnOnce(&mut VethSkb)) -> XdpDriver {
    let mut s = VethSkb::default();
    f(&mut s);
    XdpDriver::Veth(Some(s))
}

#[test]
fn veth_follows_the_mainline_driver() {
    let frame = XdpDriver::Veth(None);
    assert_eq!(ts(frame), (-61, UNTOUCHED8), "xdp_frame path: no skb");
    assert_eq!(hash(frame), (-61, UNTOUCHED4, UNTOUCHED4));
    assert_eq!(vlan(frame), (-61, UNTOUCHED2, UNTOUCHED2));
    assert_eq!(ts(veth(|s| s.hwtstamp = 12_345)), (0, 12_345));
    assert_eq!(ts(veth(|_| {})), (0, 0), "an skb without a hardware stamp gives 0, not -ENODATA");
    let cases: [(&str, XdpDriver, (i64, u64, u64)); 4] = [
        ("l4_hash", veth(|s| (s.hash, s.l4_hash) = (0xabc, true)), (0, 0xabc, 8)),
        ("sw_hash", veth(|s| (s.hash, s.sw_hash) = (0xabd, true)), (0, 0xabd, 0)),
        ("dissector, l4", veth(|s| (s.hash, s.flow_hash) = (0x1, (0x777, true))), (0, 0x777, 8)),
        ("dissector, l3", veth(|s| s.flow_hash = (0x778, false)), (0, 0x778, 0)),
    ];
    for (name, d, want) in cases {
        assert_eq!(hash(d), want, "{name}");
    }
    assert_eq!(vlan(veth(|s| s.vlan = Some((0x8100, 10)))), (0, 0x0081, 10), "proto stays network order");
    assert_eq!(vlan(veth(|s| s.vlan = Some((0x88a8, 0x2005)))), (0, 0xa888, 0x2005));
    assert_eq!(vlan(veth(|_| {})), (-61, UNTOUCHED2, 0), "no tag: -ENODATA and *tci = 0");
}

#[test]
fn veth_slow_path_hash_is_stored_in_the_skb() {
    let mut v = asm_vm("call %bpf_xdp_metadata_rx_hash\nexit");
    let d = veth(|s| s.flow_hash = (0x4242, true));
    let r1 = v.setup_xdp(&XdpSetup { driver: d, ..XdpSetup::new(vec![0; 64]) });
    let out = Memory::addr(v.memory.map(RegionKind::Plain, vec![0; 8], true), 0);
    assert_eq!(v.run([r1, out, out + 4, 0, 0]).map(|o| o.r0), Ok(0));
    let l = v.layouts.clone();
    let skb = l.veth_xdp_buff.read(&v.memory, r1, "skb").expect("field");
    let read = |f: &str| l.sk_buff.read(&v.memory, skb, f).expect("field");
    assert_eq!((read("hash"), read("sw_hash"), read("l4_hash")), (0x4242, 1, 1));
}

#[test]
fn veth_unrolled_sequence_reads_the_same_bytes_as_the_reference() {
    // kernel-notes §B.4.1, rx_timestamp, with the 6.18 offsets: the `kernel` lowering's shape.
    let unrolled = "r3 = *(u64 *)(r1 + 56)
if r3 != 0 goto <skb>
r0 = -61
goto <end>
skb:
r4 = *(u64 *)(r3 + 192)
r5 = *(u32 *)(r3 + 188)
r4 += r5
r4 = *(u64 *)(r4 + 16)
*(u64 *)(r2 + 0) = r4
r0 = 0
end:
exit";
    for d in [XdpDriver::Veth(None), veth(|s| s.hwtstamp = 0x1122_3344_5566), veth(|_| {})] {
        let mut v = asm_vm(unrolled);
        let r1 = v.setup_xdp(&XdpSetup { driver: d, ..XdpSetup::new(vec![0; 64]) });
        let out = Memory::addr(v.memory.map(RegionKind::Plain, vec![0xaa; 8], true), 0);
        let r0 = v.run([r1, out, 0, 0, 0]).expect("runs").r0 as i64;
        let got = (r0, v.memory.load(out, 8).expect("mapped"));
        assert_eq!(got, ts(d), "{d:?}");
    }
}

fn ice(f: impl FnOnce(&mut IceRx)) -> XdpDriver {
    let mut r = IceRx { rxdid: 2, ..IceRx::default() };
    f(&mut r);
    XdpDriver::Ice(r)
}

#[test]
fn ice_notes_sequence_matches_the_reference_except_the_nodata_store() {
    // kernel-notes §B.4.2's unrolled rx_timestamp with our ice offsets (eop_desc 56,
    // time_stamp_low 19, pkt_ctx 64, cached_phctime 0, ts_high 28).
    let unrolled = "r3 = *(u64 *)(r1 + 56)
r4 = *(u8 *)(r3 + 19)
r4 &= 1
if r4 == 0 goto <nodata>
r5 = *(u64 *)(r1 + 64)
r5 = *(u64 *)(r5 + 0)
if r5 == 0 goto <nodata>
r3 = *(u32 *)(r3 + 28)
w4 = w3
w4 -= w5
if r4 > 0x7fffffff goto <back>
r5 += r4
goto <store>
back:
w4 = w5
w4 -= w3
r5 -= r4
store:
*(u64 *)(r2 + 0) = r5
r0 = 0
goto <end>
nodata:
r0 = -61
end:
exit";
    let stamp = |valid: bool, cached: u64, high: u32| {
        ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high) = (valid, cached, high))
    };
    let cases = [
        stamp(true, 0x1_0000_1000, 0x2000),
        stamp(true, 0x1_ffff_ff00, 0x100),
        stamp(true, 0x2_0000_0100, 0xffff_ff00),
        stamp(false, 5, 6),
        stamp(true, 0, 6),
    ];
    for d in cases {
        let mut v = asm_vm(unrolled);
        let r1 = v.setup_xdp(&XdpSetup { driver: d, ..XdpSetup::new(vec![0; 64]) });
        let out = Memory::addr(v.memory.map(RegionKind::Plain, vec![0xaa; 8], true), 0);
        let r0 = v.run([r1, out, 0, 0, 0]).expect("runs").r0 as i64;
        let got = (r0, v.memory.load(out, 8).expect("mapped"));
        let (want_r0, want_value) = ts(d);
        assert_eq!(got.0, want_r0, "{d:?}");
        // ice stores 0 before returning -ENODATA; the sequence leaves the out-parameter alone.
        let want_value = if want_r0 == 0 { want_value } else { UNTOUCHED8 };
        assert_eq!(got.1, want_value, "{d:?}");
    }
}

#[test]
fn ice_extends_32_bit_stamps_across_the_wrap_both_ways() {
    let stamp =
        |cached: u64, high: u32| ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high) = (true, cached, high));
    let cases: [(&str, XdpDriver, (i64, u64)); 6] = [
        ("forward", stamp(0x1_0000_1000, 0x2000), (0, 0x1_0000_2000)),
        ("slightly behind", stamp(0x1_0000_1000, 0x0800), (0, 0x1_0000_0800)),
        ("forward across the wrap", stamp(0x1_ffff_ff00, 0x100), (0, 0x2_0000_0100)),
        ("backward across the wrap", stamp(0x2_0000_0100, 0xffff_ff00), (0, 0x1_ffff_ff00)),
        ("valid bit clear", ice(|r| (r.cached_phctime, r.ts_high) = (5, 6)), (-61, 0)),
        ("no cached PHC time", ice(|r| (r.ts_valid, r.ts_high) = (true, 6)), (-61, 0)),
    ];
    for (name, d, want) in cases {
        assert_eq!(ts(d), want, "{name}");
    }
    assert_eq!(ice_extend_32b_ts(0x1_0000_0000, 0x7fff_ffff), 0x1_7fff_ffff, "delta U32_MAX/2 goes forward");
    assert_eq!(ice_extend_32b_ts(0x1_7fff_ffff, 0xffff_ffff), 0xffff_ffff, "delta U32_MAX/2 + 1 goes back");
}

#[test]
fn ice_hash_and_vlan_follow_the_descriptor() {
    let cases: [(&str, XdpDriver, (i64, u64, u64)); 5] = [
        ("IPv4 UDP", ice(|r| (r.rss_hash, r.ptype) = (0x1234, 24)), (0, 0x1234, 41)),
        ("IPv6 TCP", ice(|r| (r.rss_hash, r.ptype) = (0x1235, 92)), (0, 0x1235, 26)),
        ("L2 only", ice(|r| (r.rss_hash, r.ptype) = (0x1236, 1)), (0, 0x1236, 0)),
        (
            "not the NIC profile: hash 0, type still written",
            ice(|r| (r.rxdid, r.rss_hash, r.ptype) = (1, 9, 26)),
            (-61, 0, 25),
        ),
        ("hash 0", ice(|r| r.ptype = 23), (-61, 0, 1)),
    ];
    for (name, d, want) in cases {
        assert_eq!(hash(d), want, "{name}");
    }
    let cases: [(&str, XdpDriver, (i64, u64, u64)); 4] = [
        ("l2tag1", ice(|r| (r.vlan_proto, r.l2tag1) = (0x8100, Some(5))), (0, 0x0081, 5)),
        ("l2tag2", ice(|r| (r.vlan_proto, r.l2tag2) = (0x8100, Some(7))), (0, 0x0081, 7)),
        ("no tag", ice(|r| r.vlan_proto = 0x8100), (-61, 0x0081, 0)),
        ("stripping off", ice(|r| r.l2tag1 = Some(5)), (-61, 0, UNTOUCHED2)),
    ];
    for (name, d, want) in cases {
        assert_eq!(vlan(d), want, "{name}");
    }
}

fn mlx4(f: impl FnOnce(&mut Mlx4Rx)) -> XdpDriver {
    let clock = Timecounter {
        cc_mask: (1 << 48) - 1,
        mult: 1 << 8,
        shift: 8,
        nsec: 10_000_000,
        mask: 0xff,
        ..Timecounter::default()
    };
    let mut r = Mlx4Rx { clock, ..Mlx4Rx::default() };
    f(&mut r);
    XdpDriver::Mlx4(r)
}

#[test]
fn mlx4_converts_cqe_cycles_and_types_hashes() {
    let cases: [(&str, XdpDriver, (i64, u64)); 4] = [
        ("filter not ALL", mlx4(|r| (r.ts_hi, r.ts_lo) = (0x10, 0x20)), (-61, UNTOUCHED8)),
        (
            "forward",
            mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo) = (true, 0x10, 0x20)),
            (0, 10_000_000 + 0x10_0020),
        ),
        ("lo == 0 bumps hi", mlx4(|r| (r.filter_all, r.ts_hi) = (true, 0x10)), (0, 10_000_000 + 0x11_0000)),
        (
            "before cycle_last",
            mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo, r.clock.cycle_last) = (true, 0x10, 0x20, 0x20_0000)),
            (0, 10_000_000 - 0xf_ffe0),
        ),
    ];
    for (name, d, want) in cases {
        assert_eq!(ts(d), want, "{name}");
    }
    let (tcp, udp, v4, v6) = (1 << 10, 1 << 11, 1 << 6, 1 << 8);
    let cases: [(&str, XdpDriver, (i64, u64, u64)); 4] = [
        ("no RXHASH", mlx4(|r| r.rss_hash = 5), (-61, UNTOUCHED4, UNTOUCHED4)),
        (
            "IPv4 TCP",
            mlx4(|r| (r.rxhash, r.rss_hash, r.status) = (true, 0xdead_beef, tcp | v4)),
            (0, 0xdead_beef, 17),
        ),
        (
            "IPv6 UDP with extension headers",
            mlx4(|r| (r.rxhash, r.rss_hash, r.status, r.ipv6_ext_mask) = (true, 7, udp | v6, 1)),
            (0, 7, 38),
        ),
        ("L2", mlx4(|r| (r.rxhash, r.rss_hash) = (true, 8)), (0, 8, 0)),
    ];
    for (name, d, want) in cases {
        assert_eq!(hash(d), want, "{name}");
    }
    assert_eq!(vlan(mlx4(|_| {})), (-95, UNTOUCHED2, UNTOUCHED2), "mlx4 has no vlan op");
}

#[test]
fn bnxt_has_no_metadata_ops_in_mainline() {
    assert_eq!(ts(XdpDriver::Bnxt), (-95, UNTOUCHED8));
    assert_eq!(hash(XdpDriver::Bnxt), (-95, UNTOUCHED4, UNTOUCHED4));
    assert_eq!(vlan(XdpDriver::Bnxt), (-95, UNTOUCHED2, UNTOUCHED2));
}

#[test]
fn every_driver_keeps_the_xdp_md_view() {
    for d in [XdpDriver::Veth(None), veth(|_| {}), ice(|_| {}), mlx4(|_| {}), XdpDriver::Bnxt] {
        let mut v = asm_vm("r2 = *(u32 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 4)\nr0 -= r2\nexit");
        let r1 = v.setup_xdp(&XdpSetup { driver: d, ..XdpSetup::new(vec![0; 77]) });
        assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(77), "{d:?}");
    }
}

fn rfc_vm(src: &str) -> Vm {
    let mut v = asm_vm(src);
    register_rfc(&mut v.helpers);
    v
}

#[test]
fn rfc_abi_returns_values_and_exports_a_block_before_data() {
    let run = |src: &str, d: XdpDriver, headroom: usize| {
        let mut v = rfc_vm(src);
        let r1 = v.setup_xdp(&XdpSetup { driver: d, headroom, ..XdpSetup::new(vec![0x55; 64]) });
        let r0 = v.run([r1, 0, 0, 0, 0]).expect("runs").r0 as i64;
        let (meta, _) = v.xdp.expect("set up").output(&v.memory).expect("valid");
        (r0, meta)
    };
    let full = veth(|s| (s.hwtstamp, s.hash, s.l4_hash, s.vlan) = (99, 0x77, true, Some((0x8100, 3))));
    for (d, want) in [(full, 1), (ice(|_| {}), 1), (mlx4(|_| {}), 1), (XdpDriver::Bnxt, 0)] {
        assert_eq!(run("call %bpf_xdp_metadata_rx_timestamp_supported\nexit", d, 256).0, want, "{d:?}");
    }
    assert_eq!(run("call %bpf_xdp_metadata_rx_timestamp\nexit", full, 256).0, 99);
    assert_eq!(run("call %bpf_xdp_metadata_rx_timestamp\nexit", XdpDriver::Veth(None), 256).0, 0);
    let (r0, meta) = run("call %bpf_xdp_metadata_export_to_skb\nexit", full, 256);
    assert_eq!(r0, 0);
    let l = xdp_to_skb_metadata();
    let mut want = l
        .instantiate(&[
            ("magic", u64::from(XDP_METADATA_MAGIC)),
            ("flags", 7),
            ("rx_timestamp", 99),
            ("rx_hash", 0x77),
            ("rx_hash_type", 8),
            ("vlan_proto", 0x0081),
            ("vlan_tci", 3),
        ])
        .expect("fields exist");
    assert_eq!(meta, want);
    // The xdp_frame path fills nothing but the magic.
    let (r0, meta) = run("call %bpf_xdp_metadata_export_to_skb\nexit", XdpDriver::Veth(None), 256);
    want = l.instantiate(&[("magic", u64::from(XDP_METADATA_MAGIC))]).expect("fields exist");
    assert_eq!((r0, meta), (0, want));
    // Refusals: metadata already there (second call), or no room above the xdp_frame.
    let twice =
        "r6 = r1\ncall %bpf_xdp_metadata_export_to_skb\nr1 = r6\ncall %bpf_xdp_metadata_export_to_skb\nexit";
    assert_eq!(run(twice, full, 256).0, -1);
    assert_eq!(run("call %bpf_xdp_metadata_export_to_skb\nexit", full, 40 + 31), (-1, Vec::new()));
    assert_eq!(run("call %bpf_xdp_metadata_export_to_skb\nexit", full, 40 + 32).0, 0);
}

proptest::proptest! {
    /// ice's extension recovers any stamp within 2^31 - 1 ns of the cached PHC time.
    #[test]
    fn ice_extension_recovers_nearby_stamps(cached in (1u64 << 32)..(u64::MAX >> 1), d in -(i64::from(i32::MAX))..=i64::from(i32::MAX)) {
        let real = cached.wrapping_add_signed(d);
        proptest::prop_assert_eq!(ice_extend_32b_ts(cached, real as u32), real);
    }

    /// With an identity clock (mult = 2^shift, no fraction) the conversion is nsec ± the
    /// cycle distance, either side of cycle_last.
    #[test]
    fn timecounter_is_linear_for_an_identity_clock(last in 0u64..(1 << 40), d in -(1i64 << 30)..(1i64 << 30)) {
        let tc = Timecounter { cc_mask: (1 << 48) - 1, mult: 1 << 8, shift: 8, cycle_last: last, nsec: 1 << 50, mask: 0xff, frac: 0 };
        let cycles = last.wrapping_add_signed(d) & tc.cc_mask;
        proptest::prop_assert_eq!(timecounter_cyc2time(&tc, cycles), (1u64 << 50).wrapping_add_signed(d));
    }
}

#[test]
fn driver_functions_run_their_own_drivers_logic() {
    let ice_ts = ice(|r| (r.ts_valid, r.cached_phctime, r.ts_high) = (true, 0x1_0000_1000, 0x2000));
    let ice_hash = ice(|r| (r.rss_hash, r.ptype) = (0x1234, 24));
    let ice_vlan = ice(|r| (r.vlan_proto, r.l2tag1) = (0x8100, Some(5)));
    for (name, driver, k) in DRIVER_FUNCTIONS {
        let d = match (driver, k) {
            (DriverKind::Veth, _) => {
                veth(|s| (s.hwtstamp, s.hash, s.l4_hash, s.vlan) = (5, 6, true, Some((0x8100, 7))))
            }
            (DriverKind::Ice, Kfunc::Hash) => ice_hash,
            (DriverKind::Ice, Kfunc::VlanTag) => ice_vlan,
            (DriverKind::Ice, _) => ice_ts,
            _ => mlx4(|r| (r.filter_all, r.ts_hi, r.rxhash, r.rss_hash) = (true, 1, true, 9)),
        };
        let (generic, sizes) = match k {
            Kfunc::Timestamp => ("bpf_xdp_metadata_rx_timestamp", (8, 1)),
            Kfunc::Hash => ("bpf_xdp_metadata_rx_hash", (4, 4)),
            Kfunc::VlanTag => ("bpf_xdp_metadata_rx_vlan_tag", (2, 2)),
        };
        let got = call(d, name, sizes);
        assert_eq!(got, call(d, generic, sizes), "{name}");
        assert_eq!(got.0, 0, "{name} finds data in its driver's context");
    }
    // Called on another driver's context, a driver function still runs its own logic.
    assert_eq!(
        call(XdpDriver::Bnxt, "veth_xdp_rx_timestamp", (8, 1)).0,
        -61,
        "veth logic: skb field is NULL"
    );
}

#[test]
fn preserving_r1_routines_return_the_wrapper_and_leave_the_result_in_its_slot() {
    // `*(u64 *)(r1 + R0) = r2` hands the out pointer over (mainline); then the RFC's contract.
    let run = |routine: &str, driver: XdpDriver, slot: u32| {
        let mut v = asm_vm(&format!(
            "*(u64 *)(r1 + {slot}) = r2\ncall %{routine}\nr1 = r0\nr0 = *(u64 *)(r1 + {slot})\nexit"
        ));
        let r1 = v.setup_xdp(&XdpSetup { driver, ..XdpSetup::new(vec![0x11; 64]) });
        let out = v.memory.map(RegionKind::Plain, vec![0xaa; 8], true);
        let p = Memory::addr(out, 0);
        let r = v.run([r1, p, 0, 0, 0]).expect("runs");
        (r.r0 as i64, v.memory.load_bytes_le(p, 8).expect("mapped"))
    };
    let on = mlx4(|r| (r.filter_all, r.ts_hi, r.ts_lo) = (true, 0x10, 0x20));
    let off = mlx4(|r| r.ts_hi = 0x10);
    let want_ns = 10_000_000 + 0x10_0020;
    let cases: [(&str, XdpDriver, u32, (i64, u64)); 6] = [
        ("mlx4_xdp_rx_timestamp_out", on, 88, (0, want_ns)),
        ("mlx4_xdp_rx_timestamp_out", off, 88, (-61, UNTOUCHED8)),
        ("mlx4_xdp_rx_timestamp", on, 88, (want_ns as i64, UNTOUCHED8)),
        ("mlx4_xdp_rx_timestamp", off, 88, (0, UNTOUCHED8)),
        ("bnxt_xdp_rx_timestamp_out", XdpDriver::Bnxt, 72, (-95, UNTOUCHED8)),
        ("bnxt_xdp_rx_timestamp", XdpDriver::Bnxt, 72, (0, UNTOUCHED8)),
    ];
    for (routine, d, slot, want) in cases {
        let (r0, out) = run(routine, d, slot);
        // For the value form the slot's incoming value (the out pointer) is simply overwritten.
        assert_eq!((r0, out), want, "{routine} on {d:?}");
    }
    assert_eq!(
        preserving_r1_routine(DriverKind::Mlx4, ScratchUse::OutPointer),
        Some("mlx4_xdp_rx_timestamp_out")
    );
    assert_eq!(preserving_r1_routine(DriverKind::Ice, ScratchUse::Value), None);
}
