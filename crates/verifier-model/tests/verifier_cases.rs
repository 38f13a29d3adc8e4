//! The model against the kernel verdicts recorded in `testdata/verifier/*.s` (themselves checked
//! against the running kernel by `crates/cli/tests/verifier_cases.rs`): every case must get the
//! kernel's verdict and, for rejections, the kernel's message.

#![allow(clippy::print_stderr)]

use std::path::Path;

use bpf_patch::text::assemble;
use bpf_verifier_model::verifier::case::{Case, Expect};
use bpf_verifier_model::verifier::explore::{verify, Env, Outcome};
use bpf_verifier_model::verifier::helpers::Version;
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
        let insns = assemble(&case.source).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let funcs = case.func_infos(&insns);
        let env = Env {
            prog_type: case.prog_type,
            maps: &case.maps,
            read_only_maps: &[],
            helpers: Version::Current,
            gpl: true,
            allow_uninit_stack: true,
            kfuncs: &case.kfuncs,
            dev_bound: false,
            kfunc_table: table.as_ref(),
            funcs: funcs.as_deref(),
            trusted: None,
        };
        let report = verify(&insns, &env).unwrap_or_else(|e| panic!("{}: {e}", case.name));
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
