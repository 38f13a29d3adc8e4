//! The model against the kernel verdicts recorded in `testdata/verifier/*.s` (themselves checked
//! against the running kernel by `crates/cli/tests/verifier_cases.rs`): every case must get the
//! kernel's verdict and, for rejections, the kernel's message.

#![allow(clippy::print_stderr)]

use std::path::Path;

use bpf_verifier_model::verifier::case::{Case, Expect};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::kfunc::KfuncTable;

#[test]
fn verdicts_and_messages_match_the_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verifier");
    let cases = Case::load_dir(&dir).expect("testdata/verifier cases parse");
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let table = KfuncTable::running();
    let mut wrong = Vec::new();
    let mut skipped = 0;
    for case in &cases {
        if !case.kfuncs.is_empty() && table.is_none() {
            // The prototypes come from the kernel's BTF.
            assert!(std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(), "no kernel BTF");
            skipped += 1;
            continue;
        }
        let report = case.verify(table.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let ours = match report.outcome {
            Outcome::Accept => Expect::Accept,
            Outcome::Reject(d) => Expect::Reject(d.message),
            Outcome::Unsupported { insn, what } => {
                wrong.push(format!("{}: unsupported at {insn}: {what}", case.name));
                continue;
            }
        };
        if ours != case.expect {
            wrong.push(format!("{}: model {ours:?}, kernel {:?}", case.name, case.expect));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    let kfunc_cases = cases.iter().filter(|c| !c.kfuncs.is_empty()).count();
    eprintln!(
        "{} cases agree with the kernel ({kfunc_cases} calling kfuncs; {skipped} skipped without {})",
        cases.len() - skipped,
        bpf_verifier_model::verifier::kfunc::VMLINUX
    );
}

/// Every case calling kfuncs gets the same verdict and message with the bundled table of the
/// running kernel's version as with its BTF (the struct layouts included: `bpf_cast_to_kern_ctx`
/// and conntrack cases).
#[test]
fn bundled_kfunc_table_gives_the_btf_verdicts() {
    use bpf_verifier_model::verifier::kfunc_bundle;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verifier");
    let cases = Case::load_dir(&dir).expect("testdata/verifier cases parse");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let (Some(live), Some(version)) = (KfuncTable::running(), kfunc_bundle::version_of_release(&release))
    else {
        assert!(std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(), "no kernel BTF of a bundled version");
        eprintln!("no kernel BTF, or kernel {} has no bundled table: skipped", release.trim());
        return;
    };
    let bundled = KfuncTable::bundled(version).expect("bundled");
    let verdict =
        |case: &Case, table: &KfuncTable| case.verify(Some(table)).unwrap_or_else(|e| panic!("{e}")).outcome;
    let (mut same, mut undecided, mut wrong) = (0, Vec::new(), Vec::new());
    let kfunc_cases: Vec<&Case> = cases.iter().filter(|c| !c.kfuncs.is_empty()).collect();
    for case in &kfunc_cases {
        let (a, b) = (verdict(case, &live), verdict(case, &bundled));
        match (&a, &b) {
            _ if a == b => same += 1,
            (_, Outcome::Unsupported { what, .. }) => undecided.push(format!("{}: {what}", case.name)),
            _ => wrong.push(format!("{}: BTF {a:?}, bundled {b:?}", case.name)),
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    assert!(undecided.is_empty(), "undecided with the bundled table:\n{}", undecided.join("\n"));
    eprintln!("{} kfunc cases: {same} same verdict with the bundled table of {version}", kfunc_cases.len());
    assert!(kfunc_cases.len() >= 60, "{} kfunc cases", kfunc_cases.len());
}
