//! Semantics: every `kernel`- and `stub`-lowered sequence runs in the interpreter on an XDP
//! context laid out from the same `Layouts` the emitter used, and is compared with the driver's
//! reference implementation (`bpf_verifier_model::interp::xdp_meta`) called as a kfunc on an
//! identical context: R0, the out-parameter bytes (pre-filled with 0xaa so "not written" shows),
//! the frame (headroom, packet, exported block) and the driver's wrapper (`data_meta`).
//!
//! Documented deviations, asserted as such:
//! - veth `rx_hash` when neither `l4_hash` nor `sw_hash` is set: the kernel runs the flow
//!   dissector; the sequence returns -ENODATA and writes nothing. In `export_to_skb` the same
//!   case leaves the hash out of the block (no `XDP_META_F_HASH`).
//! - default driver, RFC `export_to_skb`: the RFC's default had no body, so the sequence is
//!   `r0 = 0` and writes nothing; the reference model still writes a block of no hints.
//! - `stub`: always the default result, pointer arguments zeroed.
#![allow(clippy::print_stdout)]

mod common;

use std::rc::Rc;

use bpf_unroll::{emit, Abi, Driver, Kfunc, Lowering};
use bpf_verifier_model::interp::xdp_meta::{xdp_to_skb_metadata, XDP_META_F_HASH};
use bpf_verifier_model::interp::{Helpers, Layouts, VethSkb, XdpDriver};
use common::{reference, run, Run, UNTOUCHED};

fn veth(f: impl FnOnce(&mut VethSkb)) -> XdpDriver {
    let mut s = VethSkb { flow_hash: (0x4242, true), ..VethSkb::default() };
    f(&mut s);
    XdpDriver::Veth(Some(s))
}

fn cases() -> Vec<(&'static str, XdpDriver)> {
    vec![
        ("xdp_frame path (skb NULL)", XdpDriver::Veth(None)),
        ("skb without stamp, hash or tag", veth(|_| {})),
        (
            "hw stamp, l4 hash",
            veth(|s| (s.hwtstamp, s.hash, s.l4_hash) = (0x1122_3344_5566_7788, 0xabc, true)),
        ),
        ("hash 0, l4_hash", veth(|s| s.l4_hash = true)),
        ("hash 0, sw_hash", veth(|s| s.sw_hash = true)),
        ("hash, sw_hash", veth(|s| (s.hash, s.sw_hash) = (0x1234, true))),
        ("hash, l4_hash and sw_hash", veth(|s| (s.hash, s.l4_hash, s.sw_hash) = (0x5678, true, true))),
        ("vlan 802.1Q", veth(|s| (s.vlan, s.sw_hash, s.hash) = (Some((0x8100, 10)), true, 7))),
        (
            "vlan 802.1ad, stamp",
            veth(|s| (s.vlan, s.hwtstamp, s.l4_hash) = (Some((0x88a8, 0x2005)), 99, true)),
        ),
        ("hash but neither bit (flow dissector)", veth(|s| (s.hash, s.flow_hash) = (0x99, (0x4343, false)))),
    ]
}

fn neither_bit(d: &XdpDriver) -> bool {
    matches!(d, XdpDriver::Veth(Some(s)) if !s.l4_hash && !s.sw_hash)
}

/// Where the exported block is in the frame, and its flags word.
fn block_flags(frame: &[u8]) -> (usize, u32) {
    let start = 256 - xdp_to_skb_metadata().size as usize;
    let flags = u32::from_le_bytes(frame[start + 4..start + 8].try_into().expect("4 bytes"));
    (start, flags)
}

fn check_veth(kfunc: Kfunc, name: &str, d: XdpDriver, ours: &Run, want: &Run) {
    match kfunc {
        Kfunc::RxHash if neither_bit(&d) => {
            assert_eq!(ours.r0, -61, "{name}: documented deviation returns -ENODATA");
            assert!(ours.out.iter().all(|&b| b == UNTOUCHED), "{name}: and writes nothing");
            assert_eq!(want.r0, 0, "{name}: where the kernel hashes");
        }
        Kfunc::RfcExportToSkb if neither_bit(&d) => {
            let (start, ours_flags) = block_flags(&ours.frame);
            let (_, want_flags) = block_flags(&want.frame);
            assert_eq!((ours.r0, ours_flags), (want.r0, want_flags & !XDP_META_F_HASH), "{name}");
            let mut masked = want.frame.clone();
            masked[start + 4..start + 8].copy_from_slice(&ours_flags.to_le_bytes());
            masked[start + 16..start + 24].fill(0);
            assert_eq!(ours.frame, masked, "{name}: the block without the hash");
            assert_eq!(ours.buff, want.buff, "{name}");
        }
        _ => assert_eq!(ours, want, "{name}"),
    }
}

fn all_layouts() -> Vec<(&'static str, Rc<Layouts>)> {
    let mut out = vec![("6.18 hand-written", Rc::new(Layouts::v6_18()))];
    match bpf_verifier_model::interp::btf_layout::load_vmlinux() {
        Some(btf) => out.push(("/sys/kernel/btf/vmlinux", Rc::new(Layouts::from_btf(&btf)))),
        None => {
            assert!(
                std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"),
                "BPFPATCH_REQUIRE_KERNEL=1 but /sys/kernel/btf/vmlinux is unreadable"
            );
            println!("skipped BTF layouts: /sys/kernel/btf/vmlinux is not readable");
        }
    }
    out
}

#[test]
fn kernel_sequences_match_the_reference_drivers() {
    let mut compared = 0;
    for (lname, layouts) in all_layouts() {
        for abi in Abi::ALL {
            for &kfunc in abi.kfuncs() {
                let seq = emit(Driver::Veth, kfunc, Lowering::Kernel, &layouts).expect("emits");
                for (name, d) in cases() {
                    let ours = run(seq.insns.clone(), Helpers::default(), d, &layouts);
                    let want = reference(kfunc, d, &layouts);
                    check_veth(kfunc, &format!("veth {kfunc:?} {name} ({lname})"), d, &ours, &want);
                    compared += 1;
                }
                // The default driver against a driver with no metadata ops (bnxt in mainline).
                let seq = emit(Driver::Default, kfunc, Lowering::Kernel, &layouts).expect("emits");
                let ours = run(seq.insns.clone(), Helpers::default(), XdpDriver::Bnxt, &layouts);
                let want = reference(kfunc, XdpDriver::Bnxt, &layouts);
                if kfunc == Kfunc::RfcExportToSkb {
                    let pristine = run(Vec::new(), Helpers::default(), XdpDriver::Bnxt, &layouts);
                    assert_eq!((ours.r0, &ours.frame, &ours.buff), (0, &pristine.frame, &pristine.buff));
                    assert_ne!(want.frame, pristine.frame, "the model writes an empty block");
                } else {
                    assert_eq!(ours, want, "default {kfunc:?} ({lname})");
                }
                compared += 1;
            }
        }
    }
    println!("compared {compared} runs of unrolled sequences with the reference kfuncs");
    assert!(compared >= 66);
}

#[test]
fn stub_sequences_give_the_default_result_with_out_params_zeroed() {
    let layouts = Rc::new(Layouts::v6_18());
    let mut compared = 0;
    for abi in Abi::ALL {
        for &kfunc in abi.kfuncs() {
            let seq = emit(Driver::Veth, kfunc, Lowering::Stub, &layouts).expect("emits");
            let want = reference(kfunc, XdpDriver::Bnxt, &layouts);
            let pristine = run(Vec::new(), Helpers::default(), XdpDriver::Bnxt, &layouts);
            for (name, d) in cases().into_iter().chain([("no metadata ops", XdpDriver::Bnxt)]) {
                let ours = run(seq.insns.clone(), Helpers::default(), d, &layouts);
                assert_eq!(ours.r0, if abi == Abi::Mainline { -95 } else { 0 }, "{kfunc:?} {name}");
                if kfunc != Kfunc::RfcExportToSkb {
                    assert_eq!(ours.r0, want.r0, "{kfunc:?} {name}: the no-support result");
                }
                let mut out = vec![UNTOUCHED; 16];
                for (i, &(_, size)) in kfunc.out_params().iter().enumerate() {
                    let n = match size {
                        bpf_patch::op::Size::B => 1,
                        bpf_patch::op::Size::H => 2,
                        bpf_patch::op::Size::W => 4,
                        bpf_patch::op::Size::DW => 8,
                    };
                    out[i * 8..i * 8 + n].fill(0);
                }
                assert_eq!(ours.out, out, "{kfunc:?} {name}: out-params zeroed, nothing else");
                if matches!(d, XdpDriver::Bnxt) {
                    assert_eq!((&ours.frame, &ours.buff), (&pristine.frame, &pristine.buff));
                }
                compared += 1;
            }
        }
    }
    println!("compared {compared} stub runs");
    assert_eq!(compared, 6 * 11);
}

#[test]
fn spot_checks_in_absolute_values() {
    // Equality with the reference could hide a shared mistake; these values are written out.
    let layouts = Rc::new(Layouts::v6_18());
    let go = |k: Kfunc, d: XdpDriver| {
        let seq = emit(Driver::Veth, k, Lowering::Kernel, &layouts).expect("emits");
        run(seq.insns, Helpers::default(), d, &layouts)
    };
    let stamp = 0x1122_3344_5566_7788u64;
    let t = go(Kfunc::RxTimestamp, veth(|s| s.hwtstamp = stamp));
    assert_eq!((t.r0, &t.out[..8]), (0, &stamp.to_le_bytes()[..]));
    assert_eq!(go(Kfunc::RfcRxTimestamp, veth(|s| s.hwtstamp = stamp)).r0, stamp as i64);
    assert_eq!(go(Kfunc::RfcRxTimestamp, XdpDriver::Veth(None)).r0, 0);
    let h = go(Kfunc::RxHash, veth(|s| (s.hash, s.l4_hash) = (0xabcd, true)));
    assert_eq!((h.r0, &h.out[..4], &h.out[8..12]), (0, &[0xcd, 0xab, 0, 0][..], &[8, 0, 0, 0][..]));
    let v = go(Kfunc::RxVlanTag, veth(|s| s.vlan = Some((0x8100, 10))));
    assert_eq!((v.r0, &v.out[..2], &v.out[8..10]), (0, &[0x81, 0x00][..], &[10, 0][..]));
    let none = go(Kfunc::RxVlanTag, veth(|_| {}));
    assert_eq!((none.r0, &none.out[..2], &none.out[8..10]), (-61, &[UNTOUCHED; 2][..], &[0, 0][..]));
    let e = go(Kfunc::RfcExportToSkb, veth(|s| (s.hwtstamp, s.vlan) = (5, Some((0x8100, 3)))));
    let (start, flags) = block_flags(&e.frame);
    assert_eq!((e.r0, flags), (0, 1 | 4), "timestamp and vlan, no hash (neither bit)");
    assert_eq!(&e.frame[start + 8..start + 16], &5u64.to_le_bytes()[..]);
}

#[test]
fn loadable_sequences_match_the_reference_drivers() {
    use bpf_unroll::{emit_loadable, KernelIds};
    let ids = KernelIds {
        cast_to_kern_ctx: 1001,
        rdonly_cast: 1002,
        veth_xdp_buff: 1003,
        skb_shared_info: 1004,
        ice_xdp_buff: None,
        mlx4_en_xdp_buff: None,
        bnxt_xdp_buff: None,
    };
    let layouts = Rc::new(Layouts::v6_18());
    let mut compared = 0;
    for abi in Abi::ALL {
        for &kfunc in abi.kfuncs().iter().filter(|&&k| k != Kfunc::RfcExportToSkb) {
            let seq = emit_loadable(Driver::Veth, kfunc, &layouts, &ids, 16, "f").expect("emits");
            for (name, d) in cases() {
                let mut h = Helpers::kernel(0);
                h.bind_kfunc_id(1001, "bpf_cast_to_kern_ctx");
                h.bind_kfunc_id(1002, "bpf_rdonly_cast");
                let ours = run(seq.insns.clone(), h, d, &layouts);
                let want = reference(kfunc, d, &layouts);
                check_veth(kfunc, &format!("veth loadable {kfunc:?} {name}"), d, &ours, &want);
                compared += 1;
            }
        }
    }
    println!("compared {compared} runs of loadable sequences with the reference kfuncs");
    assert_eq!(compared, 5 * 10);
}
