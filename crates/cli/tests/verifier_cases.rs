//! The verdicts recorded in `testdata/verifier/*.s` are the running kernel's: each case is
//! loaded as a raw program and the kernel's verdict and reason must be the recorded ones.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;

use bpf_patch::text::assemble;
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::verifier::case::{Case, Expect};
use bpfpatch::kernel::raw::{RawError, RawProgram};
use common::kernel;

fn prog_type(t: ProgType) -> u32 {
    t.number().expect("cases name xdp, tc, socket or cgroup_skb")
}

#[test]
fn recorded_verdicts_are_the_kernels() {
    if !kernel() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verifier");
    let cases = Case::load_dir(&dir).expect("cases parse");
    let mut wrong = Vec::new();
    for case in &cases {
        let insns = assemble(&case.source).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let loaded = match case.btf(&insns) {
            Some((btf, funcs)) => RawProgram::load_with_btf(prog_type(case.prog_type), &insns, &btf, &funcs),
            None => RawProgram::load(prog_type(case.prog_type), &insns),
        };
        let got = match loaded {
            Ok(_) => Expect::Accept,
            Err(RawError::Rejected(s)) => Expect::Reject(s.message.unwrap_or_default()),
            Err(e) => panic!("{}: {e}", case.name),
        };
        if got != case.expect {
            wrong.push(format!("{}: kernel {got:?}, recorded {:?}", case.name, case.expect));
        }
    }
    assert!(wrong.is_empty(), "the kernel disagrees with recorded verdicts:\n{}", wrong.join("\n"));
    eprintln!("{} verifier cases: the kernel's verdicts are the recorded ones", cases.len());
}
