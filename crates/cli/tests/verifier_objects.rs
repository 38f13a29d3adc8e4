//! The abstract verifier against the kernel's verifier on real objects: every program of
//! `testdata/` and of the corpus (`ebpf-samples`, little-endian `cilium-ebpf`) that libbpf can
//! load here is checked by both. False accepts (we accept, the kernel rejects) must be zero
//! everywhere; false rejects must be zero on `testdata/`. The table of every verdict is written
//! to `$CARGO_TARGET_TMPDIR/verifier-differential.tsv`.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bpf_patch::co_re::{Btf, Target};
use bpf_patch::elf::BpfObject;
use bpf_patch::op::{CallTarget, Op};
use bpf_verifier_model::load::host::running_kconfig;
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::load::{LoadOptions, ObjectImage, VMLINUX_BTF};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::object::{check_object, check_object_with, CheckOptions};
use bpfpatch::kernel::netns::Netns;
use bpfpatch::kernel::{load_each, LoadOptions as KernelOptions};
use common::{kernel, testdata_objects};

fn corpus_objects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let mut out = Vec::new();
    let mut stack = vec![root.join("ebpf-samples"), root.join("cilium-ebpf")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() && name != "invalid" {
                stack.push(p);
            } else if (name.ends_with(".o") || name.ends_with("-el.elf")) && !name.contains("-eb") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct Tally {
    compared: usize,
    agree: usize,
    messages_equal: usize,
    both_reject: usize,
    false_accepts: Vec<String>,
    false_rejects: Vec<String>,
    unknown: usize,
    not_verified: usize,
    /// Programs (verified by the kernel) that call kfuncs, which the model left undecided
    /// ("kfunc call") before it modelled them.
    kfunc_programs: usize,
    /// Of those, decided by the model.
    kfunc_decided: usize,
    /// Why the others are not.
    kfunc_unknown: Vec<String>,
}

/// The entry programs of `obj` whose code calls a kfunc.
fn kfunc_callers(obj: &BpfObject, options: &LoadOptions) -> Vec<String> {
    let Ok(image) = ObjectImage::new(obj, options) else { return Vec::new() };
    image
        .programs
        .iter()
        .filter(|(_, l)| {
            bpf_patch::op::decode_all(&l.insns)
                .is_ok_and(|ops| ops.iter().any(|(_, op)| matches!(op, Op::Call(CallTarget::Kfunc { .. }))))
        })
        .map(|(n, _)| n.clone())
        .collect()
}

fn compare(path: &Path, options: &LoadOptions, target: &Target<'_>, tally: &mut Tally, table: &mut String) {
    let Ok(bytes) = std::fs::read(path) else { return };
    let Ok(obj) = BpfObject::parse(&bytes) else { return };
    // The kernel's verdicts; objects libbpf cannot open or prepare are not compared.
    let Ok(kernel) = load_each(&bytes, &KernelOptions::default()) else { return };
    let with = |sections| LoadOptions { sections: Some(sections), ..options.clone() };
    let ours = LoadOptions::resolve_core(&obj, target).and_then(|s| check_object(&obj, &with(s)));
    let callers =
        LoadOptions::resolve_core(&obj, target).map(|s| kfunc_callers(&obj, &with(s))).unwrap_or_default();
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("?");
    for k in &kernel {
        if !k.accepted && k.log.trim().is_empty() {
            // libbpf or the kernel refused before verification (relocation, attach target,
            // BTF): there is no verifier verdict to compare with.
            tally.not_verified += 1;
            continue;
        }
        let mine = ours.as_ref().ok().and_then(|v| v.iter().find(|c| c.name == k.name));
        let kv = if k.accepted { "accept" } else { "reject" };
        let km = k.summary.message.clone().unwrap_or_default();
        let (ov, om) = match mine.map(|c| &c.report) {
            Some(Ok(r)) => match &r.outcome {
                Outcome::Accept => ("accept", String::new()),
                Outcome::Reject(d) => ("reject", d.message.clone()),
                Outcome::Unsupported { what, .. } => ("unknown", what.clone()),
            },
            Some(Err(e)) => ("unknown", e.clone()),
            None => {
                ("unknown", ours.as_ref().err().map(|e| e.to_string()).unwrap_or_else(|| "not loaded".into()))
            }
        };
        let _ = writeln!(table, "{file}\t{}\t{kv}\t{km}\t{ov}\t{om}", k.name);
        if callers.contains(&k.name) {
            tally.kfunc_programs += 1;
            if ov == "unknown" {
                tally.kfunc_unknown.push(format!("{file} {}: {om}", k.name));
            } else {
                tally.kfunc_decided += 1;
            }
        }
        if ov == "unknown" {
            tally.unknown += 1;
            continue;
        }
        tally.compared += 1;
        match (kv, ov) {
            ("accept", "accept") => tally.agree += 1,
            ("reject", "reject") => {
                tally.agree += 1;
                tally.both_reject += 1;
                tally.messages_equal += usize::from(km == om);
            }
            ("reject", _) => tally.false_accepts.push(format!("{file} {}: kernel: {km}", k.name)),
            _ => tally.false_rejects.push(format!("{file} {}: ours: {om}", k.name)),
        }
    }
}

#[test]
fn verdicts_agree_with_the_kernel() {
    if !kernel() {
        return;
    }
    let mut table = String::from("object\tprogram\tkernel\tkernel message\tmodel\tmodel message\n");
    let vmlinux = Btf::from_file(VMLINUX_BTF).expect("the running kernel has BTF");
    let target = Target::new(&vmlinux);
    let options = LoadOptions { kconfig: running_kconfig(), ..LoadOptions::default() };
    let mut testdata = Tally::default();
    for p in testdata_objects() {
        compare(&p, &options, &target, &mut testdata, &mut table);
    }
    let corpus_files = corpus_objects();
    let mut corpus = Tally::default();
    for p in &corpus_files {
        compare(p, &options, &target, &mut corpus, &mut table);
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verifier-differential.tsv");
    std::fs::write(&out, &table).expect("write the table");
    for (what, t) in [("testdata", &testdata), ("corpus", &corpus)] {
        eprintln!(
            "{what}: {} programs compared, {} agree ({} both reject, {} with the same message), \
             {} false accepts, {} false rejects, {} not decided by the model, {} not verified by the kernel",
            t.compared,
            t.agree,
            t.both_reject,
            t.messages_equal,
            t.false_accepts.len(),
            t.false_rejects.len(),
            t.unknown,
            t.not_verified
        );
    }
    for (what, t) in [("testdata", &testdata), ("corpus", &corpus)] {
        eprintln!(
            "{what}: {} programs call kfuncs, {} decided by the model; undecided:\n  {}",
            t.kfunc_programs,
            t.kfunc_decided,
            t.kfunc_unknown.join("\n  ")
        );
    }
    eprintln!("table: {}", out.display());
    assert!(
        testdata.false_accepts.is_empty() && corpus.false_accepts.is_empty(),
        "false accepts: {:?} {:?}",
        testdata.false_accepts,
        corpus.false_accepts
    );
    assert!(testdata.false_rejects.is_empty(), "false rejects on testdata: {:?}", testdata.false_rejects);
    assert!(testdata.compared >= 30, "only {} testdata programs decided", testdata.compared);
    if !corpus.false_rejects.is_empty() {
        eprintln!("corpus false rejects:\n{}", corpus.false_rejects.join("\n"));
    }
}

/// The XDP metadata kfuncs load only device-bound: each testdata program calling them,
/// loaded bound to a veth in a throw-away namespace, gets the model's verdict under
/// `dev_bound` (`bpfpatch check --dev-bound`).
#[test]
fn device_bound_verdicts_agree_with_the_kernel() {
    if !kernel() {
        return;
    }
    let vmlinux = Btf::from_file(VMLINUX_BTF).expect("the running kernel has BTF");
    let target = Target::new(&vmlinux);
    let options = LoadOptions { kconfig: running_kconfig(), ..LoadOptions::default() };
    let ns = Netns::new().expect("network namespace with a veth pair");
    let ifindex = ns.ifindex("vb").expect("vb exists");
    let kopts = KernelOptions { dev_bound_ifindex: Some(ifindex), ..KernelOptions::default() };
    let check = CheckOptions { dev_bound: true, ..CheckOptions::default() };
    let (mut compared, mut not_verified) = (0, 0);
    let mut wrong = Vec::new();
    for path in testdata_objects() {
        let bytes = std::fs::read(&path).expect("read object");
        let obj = BpfObject::parse(&bytes).expect("testdata parses");
        let callers = kfunc_callers(&obj, &options);
        let sections = LoadOptions::resolve_core(&obj, &target).expect("testdata CO-RE resolves");
        let with = LoadOptions { sections: Some(sections), ..options.clone() };
        let ours = check_object_with(&obj, &with, &check).expect("testdata links");
        for c in ours.iter().filter(|c| c.prog_type == ProgType::Xdp && callers.contains(&c.name)) {
            let kopts = KernelOptions { prog: Some(c.name.clone()), ..kopts.clone() };
            let k = ns.run_in(|| load_each(&bytes, &kopts)).expect("enter the namespace").expect("opens");
            let Some(k) = k.iter().find(|k| k.name == c.name) else { continue };
            if !k.accepted && k.summary.insns_processed.is_none() {
                // libbpf refused before the verifier ran (the RFC's kfuncs exist on no kernel).
                not_verified += 1;
                continue;
            }
            let ov = match &c.report {
                Ok(r) => match &r.outcome {
                    Outcome::Accept => "accept".to_owned(),
                    Outcome::Reject(d) => format!("reject: {}", d.message),
                    Outcome::Unsupported { what, .. } => format!("unknown: {what}"),
                },
                Err(e) => format!("unknown: {e}"),
            };
            let kv = if k.accepted {
                "accept".to_owned()
            } else {
                format!("reject: {}", k.summary.message.clone().unwrap_or_default())
            };
            compared += 1;
            if ov != kv {
                wrong.push(format!("{} {}: kernel {kv}, model {ov}", path.display(), c.name));
            }
        }
    }
    assert!(wrong.is_empty(), "device-bound verdicts differ:\n{}", wrong.join("\n"));
    assert!(compared >= 4, "only {compared} device-bound programs compared");
    eprintln!(
        "{compared} device-bound XDP programs: the model's verdicts are the kernel's; {not_verified} refused by libbpf before verification"
    );
}

/// The `loadable` unroll lowering spills to slots below `bpf_unroll::emit::stack_depth` of the
/// function, a straight-line scan of its frame accesses. On every entry function of testdata and
/// the corpus the kernel accepts, that scan must cover the stack the kernel measured for it (the
/// first figure of its `stack depth A+B...` line, less the slots the kernel itself adds below the
/// program's: 16 for a timed `may_goto`, 24 for an inlined `bpf_loop`) and the model's measure.
#[test]
fn unroll_stack_scan_covers_the_kernels_stack_depth() {
    if !kernel() {
        return;
    }
    let vmlinux = Btf::from_file(VMLINUX_BTF).expect("the running kernel has BTF");
    let target = Target::new(&vmlinux);
    let options = LoadOptions { kconfig: running_kconfig(), ..LoadOptions::default() };
    let (mut checked, mut model_same, mut short) = (0, 0, Vec::new());
    for path in testdata_objects().into_iter().chain(corpus_objects()) {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(obj) = BpfObject::parse(&bytes) else { continue };
        let Ok(kernel) = load_each(&bytes, &KernelOptions::default()) else { continue };
        let ours = LoadOptions::resolve_core(&obj, &target)
            .and_then(|s| check_object(&obj, &LoadOptions { sections: Some(s), ..options.clone() }));
        for k in kernel.iter().filter(|k| k.accepted) {
            let Some(depth) = k.summary.stack_depth.as_deref() else { continue };
            let Some(Ok(kernel_depth)) = depth.split('+').next().map(str::parse::<u32>) else { continue };
            let Some(p) = obj.program(&k.name) else { continue };
            let insns = obj.insns_of(p);
            let scan = bpf_unroll::emit::stack_depth(insns);
            let ops = bpf_patch::op::decode_all(insns).unwrap_or_default();
            let may_goto = ops.iter().any(|(_, op)| matches!(op, Op::MayGoto { .. }));
            let bpf_loop = ops.iter().any(|(_, op)| matches!(op, Op::Call(CallTarget::Helper(181))));
            let extra = if may_goto { 16 } else { 0 } + if bpf_loop { 24 } else { 0 };
            let program_depth = kernel_depth.saturating_sub(extra);
            let model = ours.as_ref().ok().and_then(|v| v.iter().find(|c| c.name == k.name));
            let model_depth = model
                .and_then(|c| c.report.as_ref().ok())
                .and_then(|r| r.stack_depths.first())
                .map_or(0, |&(_, d)| d);
            checked += 1;
            if scan < program_depth.max(model_depth) {
                short.push(format!(
                    "{} {}: scan {scan}, kernel {kernel_depth} (program {program_depth}), model {model_depth}",
                    path.display(),
                    k.name
                ));
            }
            if model_depth == program_depth {
                model_same += 1;
            }
        }
    }
    eprintln!(
        "{checked} accepted entry functions: the unroll stack scan covers the kernel's and the model's stack depth in all; the model measures the kernel's in {model_same}"
    );
    assert!(short.is_empty(), "the scan misses stack the kernel measured:\n{}", short.join("\n"));
    assert!(checked >= 50, "only {checked} entry functions had a stack depth");
}
