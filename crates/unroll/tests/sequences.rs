//! Every emitted sequence, driver × kfunc × lowering × ABI: an insta snapshot of its annotated
//! llvm-objdump-19 listing (under `snapshots/unroll`), and the register / stack discipline.
//! The `stub` lowering does not depend on the driver: it is snapshotted once per kfunc and
//! checked equal across drivers. ice, mlx4 and bnxt have no `loadable` sequence: with a target
//! BTF lacking their wrapper (these ids, and this kernel) the error names it.
#![allow(clippy::print_stdout)]

use bpf_unroll::discipline::{check, check_loadable, ALLOWED_WRITES};
use bpf_unroll::{emit, emit_loadable, Abi, Driver, KernelIds, Kfunc, Lowering, Sequence, UnrollError};
use bpf_verifier_model::interp::Layouts;

/// Made-up BTF ids for the loadable snapshots (real ones are per kernel build).
const IDS: KernelIds = KernelIds {
    cast_to_kern_ctx: 1001,
    rdonly_cast: 1002,
    veth_xdp_buff: 1003,
    skb_shared_info: 1004,
    ice_xdp_buff: None,
    mlx4_en_xdp_buff: None,
    bnxt_xdp_buff: None,
};
/// The stack depth of the function the loadable snapshots are emitted for.
const DEPTH: u32 = 16;

fn any(driver: Driver, kfunc: Kfunc, lowering: Lowering, l: &Layouts) -> Result<Sequence, UnrollError> {
    match lowering {
        Lowering::Loadable => emit_loadable(driver, kfunc, l, &IDS, DEPTH, "f"),
        _ => emit(driver, kfunc, lowering, l),
    }
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../../snapshots/unroll", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn every_sequence_is_snapshotted_and_keeps_the_discipline() {
    let layouts = Layouts::v6_18();
    let mut checked = 0;
    let mut missing_wrapper = 0;
    let mut counts = String::new();
    for abi in Abi::ALL {
        for &kfunc in abi.kfuncs() {
            for lowering in Lowering::ALL {
                let mut stub = None;
                for driver in Driver::ALL {
                    let seq = match any(driver, kfunc, lowering, &layouts) {
                        Err(UnrollError::Unsupported { .. })
                            if (driver, kfunc, lowering)
                                == (Driver::Veth, Kfunc::RfcExportToSkb, Lowering::Loadable) =>
                        {
                            continue;
                        }
                        Err(UnrollError::MissingWrapper { wrapper, .. })
                            if lowering == Lowering::Loadable =>
                        {
                            assert_eq!(Some(wrapper), driver.wrapper(), "{driver}");
                            assert!(matches!(driver, Driver::Ice | Driver::Mlx4 | Driver::Bnxt));
                            missing_wrapper += 1;
                            continue;
                        }
                        other => other.expect("6.18 layouts have every field"),
                    };
                    assert_eq!(seq.insns.len(), seq.annotations.len(), "one annotation per insn");
                    assert!(seq.annotations.iter().all(|a| !a.is_empty()));
                    if lowering == Lowering::Loadable {
                        let spills = i16::try_from(seq.usage.stack_bytes).expect("small");
                        let base = -(DEPTH as i16);
                        let violations = check_loadable(&seq.insns, (base - spills, base), &[1001, 1002]);
                        assert!(violations.is_empty(), "{driver} {kfunc:?} {lowering}: {violations:?}");
                        assert_eq!(
                            seq.usage.stack_bytes,
                            8 * kfunc.out_params().len() as u32 * u32::from(driver == Driver::Veth)
                        );
                    } else {
                        let violations = check(&seq.insns);
                        assert!(violations.is_empty(), "{driver} {kfunc:?} {lowering}: {violations:?}");
                        // R1 only through the contract pair, which every listed call opens.
                        let r1 = if seq.calls.is_empty() { 0 } else { 1 << 1 };
                        assert_eq!(seq.usage.regs_written & !(ALLOWED_WRITES | r1), 0);
                        assert_eq!(seq.usage.stack_bytes, 0);
                        for &(at, routine) in &seq.calls {
                            assert!(seq.annotations[at.index()].contains(routine), "{driver} {kfunc:?}");
                        }
                    }
                    checked += 1;
                    let listing = seq.annotated_listing();
                    if lowering == Lowering::Stub {
                        match &stub {
                            None => {
                                snapshot(&format!("stub__{abi}__{}", kfunc.key()), &listing);
                                counts.push_str(&format!(
                                    "stub (any) {abi} {}: {}\n",
                                    kfunc.key(),
                                    seq.insns.len()
                                ));
                                stub = Some(seq);
                            }
                            Some(first) => assert_eq!(first, &seq, "the stub ignores the driver"),
                        }
                    } else {
                        snapshot(&format!("{driver}__{lowering}__{abi}__{}", kfunc.key()), &listing);
                        counts.push_str(&format!(
                            "{driver} {lowering} {abi} {}: {}\n",
                            kfunc.key(),
                            seq.insns.len()
                        ));
                    }
                }
            }
        }
    }
    println!("{counts}");
    println!("{checked} sequences checked, {missing_wrapper} loadable refused for a missing wrapper");
    assert_eq!(missing_wrapper, 3 * 6, "ice, mlx4, bnxt x 6 kfuncs");
    assert_eq!(checked, 5 * 6 * 3 - 1 - missing_wrapper, "all but veth export_to_skb loadable");
}

#[test]
fn contract_calls_are_listed_where_the_routine_is_called() {
    let layouts = Layouts::v6_18();
    let cases = [
        (Driver::Mlx4, Kfunc::RxTimestamp, vec!["mlx4_xdp_rx_timestamp_out"]),
        (Driver::Mlx4, Kfunc::RfcRxTimestamp, vec!["mlx4_xdp_rx_timestamp"]),
        (Driver::Mlx4, Kfunc::RfcExportToSkb, vec!["mlx4_xdp_rx_timestamp_out"]),
        (Driver::Mlx4, Kfunc::RxHash, vec![]),
        (Driver::Bnxt, Kfunc::RxTimestamp, vec!["bnxt_xdp_rx_timestamp_out"]),
        (Driver::Bnxt, Kfunc::RfcRxTimestamp, vec!["bnxt_xdp_rx_timestamp"]),
        (Driver::Bnxt, Kfunc::RfcExportToSkb, vec!["bnxt_xdp_rx_timestamp_out"]),
        (Driver::Ice, Kfunc::RxTimestamp, vec![]),
        (Driver::Veth, Kfunc::RfcExportToSkb, vec![]),
    ];
    for (driver, kfunc, want) in cases {
        let seq = emit(driver, kfunc, Lowering::Kernel, &layouts).expect("emits");
        let names: Vec<&str> = seq.calls.iter().map(|&(_, n)| n).collect();
        assert_eq!(names, want, "{driver} {kfunc:?}");
        for &(at, _) in &seq.calls {
            // The RFC's three instructions: call, r1 = r0, r0 = ctx->r0.
            let text = bpf_patch::text::listing(&seq.insns[at.index()..at.index() + 3]).expect("decodes");
            let slot = if driver == Driver::Mlx4 { "0x58" } else { "0x48" };
            assert_eq!(
                text,
                format!("0: call -0x1\n1: r1 = r0\n2: r0 = *(u64 *)(r1 + {slot})\n"),
                "{driver} {kfunc:?}"
            );
        }
    }
}

#[test]
fn driver_names_round_trip() {
    for d in Driver::ALL {
        assert_eq!(Driver::from_name(d.name()), Some(d));
    }
    assert_eq!(Driver::from_name("mlx5"), None);
}

#[test]
fn default_driver_is_one_instruction_and_leaves_out_params_alone() {
    let layouts = Layouts::v6_18();
    for abi in Abi::ALL {
        for &kfunc in abi.kfuncs() {
            let seq = emit(Driver::Default, kfunc, Lowering::Kernel, &layouts).expect("no fields needed");
            let want = if abi == Abi::Mainline { "0: r0 = -0x5f\n" } else { "0: r0 = 0x0\n" };
            assert_eq!(bpf_patch::text::listing(&seq.insns).expect("decodes"), want, "{kfunc:?}");
        }
    }
}

#[test]
fn a_layout_without_a_field_is_an_error_naming_it() {
    let mut layouts = Layouts::v6_18();
    layouts.sk_buff.fields.retain(|f| f.name != "hash");
    let err = emit(Driver::Veth, bpf_unroll::Kfunc::RxHash, Lowering::Kernel, &layouts)
        .expect_err("sk_buff.hash is missing");
    let text = err.to_string();
    assert!(text.contains("sk_buff") && text.contains("hash") && text.contains("veth"), "{text}");
    // The stub needs no layout.
    assert!(emit(Driver::Veth, bpf_unroll::Kfunc::RxHash, Lowering::Stub, &layouts).is_ok());
}

#[test]
fn loadable_refuses_a_frame_without_room_and_kernel_lowering_without_btf() {
    let l = Layouts::v6_18();
    let err = emit_loadable(Driver::Veth, Kfunc::RxHash, &l, &IDS, 500, "deep").expect_err("500 + 16 > 512");
    assert!(matches!(err, UnrollError::StackFull { depth: 500, needed: 16, .. }), "{err}");
    assert!(emit_loadable(Driver::Veth, Kfunc::RxTimestamp, &l, &IDS, 504, "deep").is_ok(), "504 + 8 fits");
    assert!(matches!(
        emit(Driver::Veth, Kfunc::RxHash, Lowering::Loadable, &l),
        Err(UnrollError::NeedsKernelBtf)
    ));
}
