//! The committed `testdata/obj/xdp_meta.*.o` objects rewritten with every driver × lowering ×
//! ABI: the output parses and disassembles, keeps no relocation against a metadata kfunc of the
//! chosen ABI, holds each reported sequence at the reported slot of its function, and the `stub`
//! rewrite is accepted by the abstract verifier (which rejects the original: its kfuncs need a
//! device-bound program). Before / after listings of one object are snapshotted. ice, mlx4 and
//! bnxt have no `loadable` lowering on a BTF without their wrapper: the error names it. The mlx4
//! and bnxt rewrites call their timestamp routine through a relocation against its name.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use bpf_patch::elf::{BpfObject, RelocKind};
use bpf_patch::text::listing;
use bpf_unroll::{unroll, Abi, Driver, KernelIds, Kfunc, Lowering, Options};
use bpf_verifier_model::load::{LoadOptions, VMLINUX_BTF};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::object::check_object;

/// Made-up BTF ids: the structure of the rewrite does not depend on them (the real kernel's are
/// used by the cli's kernel tests).
const IDS: KernelIds = KernelIds {
    cast_to_kern_ctx: 1001,
    rdonly_cast: 1002,
    veth_xdp_buff: 1003,
    skb_shared_info: 1004,
    ice_xdp_buff: None,
    mlx4_en_xdp_buff: None,
    bnxt_xdp_buff: None,
};

/// The `xdp_meta` objects of `testdata/obj`, discovered.
fn objects() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/obj exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xdp_meta.") && n.ends_with(".o"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no xdp_meta objects in {}", dir.display());
    v
}

fn metadata_relocs(obj: &BpfObject, abi: Abi) -> Vec<String> {
    obj.sections
        .iter()
        .flat_map(|s| &s.relocs)
        .filter(|r| r.kind == RelocKind::Kfunc && Kfunc::resolve(&r.symbol, abi).is_some())
        .map(|r| r.symbol.clone())
        .collect()
}

fn program_listing(obj: &BpfObject) -> String {
    let mut out = String::new();
    for p in &obj.programs {
        out.push_str(&format!("{}:\n", p.name));
        out.push_str(&listing(obj.insns_of(p)).expect("decodes"));
    }
    out
}

/// The verdict per entry program; the objects use CO-RE, so this needs the running kernel's BTF.
fn verdicts(obj: &BpfObject) -> Vec<(String, String, Option<usize>)> {
    let options = LoadOptions::for_running_kernel(obj).expect("CO-RE resolves against vmlinux");
    check_object(obj, &options)
        .expect("the object loads into the model")
        .into_iter()
        .map(|c| {
            let (v, at) = match c.report {
                Ok(r) => match r.outcome {
                    Outcome::Accept => ("accept".to_owned(), None),
                    Outcome::Reject(d) => (format!("reject: {}", d.message), Some(d.insn)),
                    Outcome::Unsupported { what, insn } => (format!("unsupported: {what}"), Some(insn)),
                },
                Err(e) => (format!("error: {e}"), None),
            };
            (c.name, v, at)
        })
        .collect()
}

/// Verdicts the model cannot give yet on code the unroller did not write, with the reason.
const MODEL_GAPS: [(&str, &str, &str); 1] = [(
    "xdp_meta",
    "unsupported: comparison of unrelated pointers",
    "the program's own `meta + 1 > data` (pkt_meta against pkt), which the kernel allows",
)];

#[test]
fn testdata_objects_unroll_with_every_driver_lowering_and_abi() {
    let mut rewrites = 0;
    let mut sites = 0;
    let mut refused = 0;
    for path in objects() {
        let bytes = std::fs::read(&path).expect("readable");
        let input = BpfObject::parse(&bytes).expect("parses");
        for abi in Abi::ALL {
            let before = metadata_relocs(&input, abi);
            for driver in Driver::ALL {
                for lowering in Lowering::ALL {
                    let what = format!("{} {driver} {lowering} {abi}", path.display());
                    let options = Options { kernel_ids: Some(IDS), ..Options::new(driver, lowering, abi) };
                    let (out, report) = match unroll(&bytes, &options) {
                        Err(bpf_unroll::UnrollError::MissingWrapper { wrapper, .. })
                            if lowering == Lowering::Loadable && !before.is_empty() =>
                        {
                            assert_eq!(Some(wrapper), driver.wrapper(), "{what}");
                            refused += 1;
                            continue;
                        }
                        other => other.unwrap_or_else(|e| panic!("{what}: {e}")),
                    };
                    let obj = BpfObject::parse(&out).unwrap_or_else(|e| panic!("{what}: output: {e}"));
                    for s in &obj.sections {
                        listing(&s.insns).unwrap_or_else(|e| panic!("{what}: {}: {e}", s.name));
                    }
                    assert_eq!(report.sites.len(), before.len(), "{what}: one report per call");
                    assert!(metadata_relocs(&obj, abi).is_empty(), "{what}: kfunc relocations left");
                    for s in &report.sites {
                        let p = obj.program(&s.program).expect("function kept");
                        let at = s.insn.index();
                        assert_eq!(
                            &obj.insns_of(p)[at..at + s.emitted()],
                            &s.code[..],
                            "{what}: {}",
                            s.program
                        );
                        assert_eq!(s.annotations.len(), s.emitted());
                        let spills = if lowering == Lowering::Loadable && driver == Driver::Veth {
                            8 * s.kfunc.out_params().len() as u32
                        } else {
                            0
                        };
                        assert_eq!(s.stack_bytes, spills);
                        let orig = input.program(&s.program).expect("function");
                        assert_eq!(input.insns_of(orig)[s.original_insn.index()], s.call);
                    }
                    // Every other instruction count is unchanged: growth is exactly the sequences'.
                    let grown: usize = report.sites.iter().map(|s| s.emitted() - 1).sum();
                    let len = |o: &BpfObject| o.programs.iter().map(|p| p.len as usize).sum::<usize>();
                    assert_eq!(len(&obj), len(&input) + grown, "{what}");
                    sites += report.sites.len();
                    rewrites += 1;
                }
            }
        }
    }
    println!("{rewrites} rewrites, {sites} sites replaced, {refused} loadable rewrites refused for a missing wrapper");
    assert!(sites > 0);
    assert_eq!(refused, objects().len() * 3 * 2, "ice, mlx4, bnxt under both ABIs");
}

/// The relocations of `obj` against `symbol`, as (function, slot from its first instruction).
fn relocs_against(obj: &BpfObject, symbol: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for (si, s) in obj.sections.iter().enumerate() {
        for r in s.relocs.iter().filter(|r| r.symbol == symbol) {
            assert_eq!(r.kind, RelocKind::Kfunc, "{symbol}: an undefined function");
            let slot = r.slot.0;
            let p = obj
                .programs
                .iter()
                .find(|p| p.section == si && (p.start.0..p.start.0 + p.len).contains(&slot))
                .expect("inside a function");
            out.push((p.name.clone(), slot - p.start.0));
        }
    }
    out.sort();
    out
}

#[test]
fn kernel_rewrites_name_the_kernel_routines_they_call() {
    let mut checked = 0;
    for path in objects() {
        let bytes = std::fs::read(&path).expect("readable");
        for driver in Driver::ALL {
            for abi in Abi::ALL {
                let what = format!("{} {driver} {abi}", path.display());
                let (out, report) = unroll(&bytes, &Options::new(driver, Lowering::Kernel, abi))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let obj = BpfObject::parse(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
                let mut want: Vec<(String, u32, &str)> = report
                    .sites
                    .iter()
                    .flat_map(|s| {
                        s.calls.iter().map(|&(at, name)| (s.program.clone(), s.insn.0 + at.0, name))
                    })
                    .collect();
                want.sort();
                let timestamps = report
                    .sites
                    .iter()
                    .filter(|s| matches!(s.kfunc, Kfunc::RxTimestamp | Kfunc::RfcRxTimestamp))
                    .count();
                match driver {
                    Driver::Mlx4 | Driver::Bnxt => {
                        assert_eq!(want.len(), timestamps, "{what}: one routine per timestamp")
                    }
                    _ => assert!(want.is_empty(), "{what}: inline"),
                }
                let mut names: Vec<&str> = want.iter().map(|w| w.2).collect();
                names.dedup();
                for name in names {
                    let got = relocs_against(&obj, name);
                    let expected: Vec<(String, u32)> =
                        want.iter().filter(|w| w.2 == name).map(|w| (w.0.clone(), w.1)).collect();
                    assert_eq!(got, expected, "{what}: {name}");
                    for (prog, slot) in &got {
                        let p = obj.program(prog).expect("kept");
                        let call = obj.insns_of(p)[*slot as usize];
                        assert_eq!(listing(&[call]).expect("decodes"), "0: call -0x1\n", "{what}");
                        checked += 1;
                    }
                }
            }
        }
    }
    println!("{checked} routine calls carry a relocation against the routine's name");
    assert!(checked >= 8);
}

#[test]
fn mainline_sites_of_xdp_meta_are_found_per_function() {
    for path in objects() {
        let bytes = std::fs::read(&path).expect("readable");
        let (_, report) =
            unroll(&bytes, &Options::new(Driver::Veth, Lowering::Kernel, Abi::Mainline)).expect("unrolls");
        let got: Vec<(&str, Kfunc)> = report.sites.iter().map(|s| (s.program.as_str(), s.kfunc)).collect();
        assert_eq!(
            got,
            [
                ("read_timestamp", Kfunc::RxTimestamp),
                ("hash_type", Kfunc::RxHash),
                ("xdp_meta", Kfunc::RxTimestamp),
                ("xdp_meta", Kfunc::RxHash),
                ("xdp_meta", Kfunc::RxVlanTag),
                ("xdp_meta_vlan", Kfunc::RxVlanTag),
            ],
            "{}",
            path.display()
        );
        // Under the RFC ABI only the timestamp calls are its kfunc (value-returning).
        let (_, rfc) =
            unroll(&bytes, &Options::new(Driver::Veth, Lowering::Kernel, Abi::Rfc)).expect("unrolls");
        assert!(rfc.sites.iter().all(|s| s.kfunc == Kfunc::RfcRxTimestamp));
        assert_eq!(rfc.sites.len(), 2);
    }
}

#[test]
fn stub_rewrite_is_accepted_by_the_abstract_verifier() {
    if std::fs::metadata(VMLINUX_BTF).is_err() {
        assert!(
            std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"),
            "BPFPATCH_REQUIRE_KERNEL=1 but {VMLINUX_BTF} is unreadable"
        );
        println!("skipped: {VMLINUX_BTF} is not readable (the objects' CO-RE needs it)");
        return;
    }
    let (mut accepted, mut gaps) = (0, 0);
    for path in objects() {
        let bytes = std::fs::read(&path).expect("readable");
        let original = verdicts(&BpfObject::parse(&bytes).expect("parses"));
        assert_eq!(original.len(), 4);
        for (name, v, _) in &original {
            assert_eq!(v, "reject: metadata kfuncs require device-bound program", "{name}");
        }
        for driver in Driver::ALL {
            let (out, report) =
                unroll(&bytes, &Options::new(driver, Lowering::Stub, Abi::Mainline)).expect("unrolls");
            let got = verdicts(&BpfObject::parse(&out).expect("parses"));
            assert_eq!(got.len(), original.len());
            for (name, v, at) in &got {
                if v == "accept" {
                    accepted += 1;
                    continue;
                }
                let what = format!("{} {driver} stub: {name}: {v}", path.display());
                assert!(MODEL_GAPS.iter().any(|(p, m, _)| p == name && m == v), "{what}");
                let at = at.expect("a located verdict");
                let inside = report
                    .sites
                    .iter()
                    .filter(|s| &s.program == name)
                    .any(|s| (s.insn.index()..s.insn.index() + s.emitted()).contains(&at));
                assert!(!inside, "{what}: at insn {at}, inside an emitted sequence");
                gaps += 1;
            }
        }
    }
    println!("{accepted} stub-rewritten programs accepted, {gaps} stopped at a listed model gap outside the emitted code");
    assert!(accepted >= 12);
}

#[test]
fn before_and_after_listings_are_snapshotted() {
    let path =
        objects().into_iter().find(|p| p.ends_with("xdp_meta.v3.o")).expect("xdp_meta.v3.o is committed");
    let bytes = std::fs::read(&path).expect("readable");
    let mut text = format!("== before\n{}", program_listing(&BpfObject::parse(&bytes).expect("parses")));
    // Not `loadable`: its BTF ids differ per kernel build.
    for lowering in [Lowering::Kernel, Lowering::Stub] {
        let (out, report) =
            unroll(&bytes, &Options::new(Driver::Veth, lowering, Abi::Mainline)).expect("unrolls");
        text.push_str(&format!("== after: veth, {lowering}, mainline\n"));
        for s in &report.sites {
            text.push_str(&format!(
                "site {} insn {} (was {}): {} -> {} insns, writes {:?}\n",
                s.program,
                s.insn,
                s.original_insn,
                s.kfunc,
                s.emitted(),
                s.regs_written
            ));
        }
        text.push_str(&program_listing(&BpfObject::parse(&out).expect("parses")));
    }
    insta::with_settings!({ snapshot_path => "../../../snapshots/unroll", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("xdp_meta_v3_before_after", text);
    });
}

#[test]
fn calls_in_resolved_form_are_found_with_the_kfunc_ids() {
    use bpf_patch::elf::{rewrite, ObjectEdits};
    use bpf_patch::filter::call_kfunc;
    use bpf_unroll::KfuncIds;

    let ids = [
        (500, "bpf_xdp_metadata_rx_timestamp"),
        (501, "bpf_xdp_metadata_rx_hash"),
        (502, "bpf_xdp_metadata_rx_vlan_tag"),
    ];
    for path in objects() {
        let bytes = std::fs::read(&path).expect("readable");
        let options = Options::new(Driver::Veth, Lowering::Kernel, Abi::Mainline);
        let (from_relocs, report) = unroll(&bytes, &options).expect("unrolls");
        // The same object with every call resolved as libbpf would (src_reg 2, imm = id), no
        // relocation left.
        let mut edits = ObjectEdits::new();
        for s in &report.sites {
            let id = ids.iter().find(|(_, n)| *n == s.kfunc.name()).expect("catalogue").0;
            edits.replace(&s.program, s.original_insn, vec![call_kfunc(0, id).encode().0]);
        }
        let resolved = rewrite(&bytes, &edits).expect("rewrites");
        assert!(metadata_relocs(&BpfObject::parse(&resolved).expect("parses"), Abi::Mainline).is_empty());
        let (_, none) = unroll(&resolved, &options).expect("unrolls");
        assert!(none.sites.is_empty(), "without ids a resolved call is not recognised");
        let with_ids = Options { resolved: Some(KfuncIds::from_pairs(&ids)), ..options.clone() };
        let (out, again) = unroll(&resolved, &with_ids).expect("unrolls");
        let key = |r: &bpf_unroll::Report| {
            r.sites.iter().map(|s| (s.program.clone(), s.insn, s.kfunc)).collect::<Vec<_>>()
        };
        assert_eq!(key(&again), key(&report), "{}", path.display());
        let (a, b) =
            (BpfObject::parse(&out).expect("parses"), BpfObject::parse(&from_relocs).expect("parses"));
        for p in &a.programs {
            let q = b.program(&p.name).expect("same functions");
            assert_eq!(a.insns_of(p), b.insns_of(q), "{}: {}", path.display(), p.name);
        }
    }
}

#[test]
fn kfunc_ids_of_this_kernel_name_the_mainline_kfuncs() {
    let Some(btf) = bpf_verifier_model::interp::btf_layout::load_vmlinux() else {
        assert!(std::env::var("BPFPATCH_REQUIRE_KERNEL").map_or(true, |v| v != "1"), "no vmlinux BTF");
        println!("skipped: /sys/kernel/btf/vmlinux is not readable");
        return;
    };
    let ids = bpf_unroll::KfuncIds::from_btf(&btf);
    assert_eq!(ids.len(), 3, "6.18 has the three mainline kfuncs and no RFC one");
    let kernel = bpf_unroll::KernelIds::from_btf(&btf).expect("casts and veth_xdp_buff are in vmlinux");
    assert_ne!(kernel.veth_xdp_buff, kernel.skb_shared_info);
}

/// Every object file under `dir` (`.o` and `.elf`), walked.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "o" || x == "elf") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_testdata_and_corpus_object_unrolls_or_is_refused_with_an_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("BPFPATCH_SHARED")
        .map_or_else(|| root.join("../shared"), PathBuf::from)
        .join("corpus");
    let mut files = walk(&root.join("testdata/obj"));
    if shared.is_dir() {
        files.extend(walk(&shared));
    } else {
        assert!(
            std::env::var("BPFPATCH_REQUIRE_CORPUS").map_or(true, |v| v != "1"),
            "BPFPATCH_REQUIRE_CORPUS=1 but {} is absent",
            shared.display()
        );
        println!("corpus skipped: {} is absent", shared.display());
    }
    let (mut rewritten, mut refused, mut sites) = (0, 0, 0);
    for path in &files {
        let bytes = std::fs::read(path).expect("readable");
        let parses = BpfObject::parse(&bytes).is_ok();
        match unroll(&bytes, &Options::new(Driver::Veth, Lowering::Kernel, Abi::Mainline)) {
            Ok((out, report)) => {
                BpfObject::parse(&out).unwrap_or_else(|e| panic!("{}: output: {e}", path.display()));
                sites += report.sites.len();
                rewritten += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
                // Only objects the reader or writer refuses; never one that parses and has no site.
                assert!(
                    !parses || matches!(e, bpf_unroll::UnrollError::Object(_)),
                    "{}: {e}",
                    path.display()
                );
            }
        }
    }
    println!(
        "{} objects: {rewritten} rewritten ({sites} sites), {refused} refused with an error",
        files.len()
    );
    assert!(rewritten > 0);
}
