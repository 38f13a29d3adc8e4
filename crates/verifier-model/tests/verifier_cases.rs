//! The model against the kernel verdicts recorded in `testdata/verifier/*.s` (themselves checked
//! against the running kernel by `crates/cli/tests/verifier_cases.rs`). Today the model decides
//! the control-flow rules: every case it rejects must be one the kernel rejects with the same
//! message, and every case the kernel rejects for a control-flow reason must be rejected so.

use std::path::Path;

use bpf_patch::op::decode_all;
use bpf_patch::text::assemble;
use bpf_verifier_model::verifier::case::{Case, Expect};
use bpf_verifier_model::verifier::cfg;

const CFG_MESSAGES: [&str; 5] = [
    "jump out of range from insn",
    "last insn is not an exit or jmp",
    "unreachable insn",
    "jump into the middle of ldimm64 insn",
    "call to invalid destination",
];

#[test]
fn control_flow_verdicts_match_the_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verifier");
    let cases = Case::load_dir(&dir).expect("testdata/verifier cases parse");
    assert!(cases.len() >= 9, "{} cases", cases.len());
    let mut cfg_rejects = 0;
    for case in &cases {
        let insns = assemble(&case.source).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let ops = decode_all(&insns).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let ours = cfg::check(&ops, insns.len());
        let kernel_cfg =
            matches!(&case.expect, Expect::Reject(m) if CFG_MESSAGES.iter().any(|p| m.starts_with(p)));
        match ours {
            Err(e) => {
                assert_eq!(case.expect, Expect::Reject(e.message.clone()), "{}", case.name);
                cfg_rejects += 1;
            }
            Ok(_) => assert!(
                !kernel_cfg,
                "{}: the kernel rejects ({:?}), the model's CFG check passes",
                case.name, case.expect
            ),
        }
    }
    assert!(cfg_rejects >= 7);
}
