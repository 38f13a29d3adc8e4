//! The model's current helper table against the kernel: every helper it lists exists for some
//! packet or tracing program type, and is GPL-only exactly when a non-GPL program calling it
//! gets `cannot call GPL-restricted function from non-GPL compatible program`; and the helper
//! sets per program type (`verifier::availability`): for every modelled type and every helper
//! id, the kernel refuses `call id` with the model's message exactly when the model says the
//! type may not call it.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::filter::{call_helper, exit, mov64_imm};
use bpf_patch::op::{encode_all, Reg};
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::verifier::availability::{self, FUNC_MAX_ID};
use bpf_verifier_model::verifier::helpers::CURRENT;
use bpfpatch::kernel::raw::{RawError, RawProgram};
use common::kernel;

const GPL_MESSAGE: &str = "cannot call GPL-restricted function from non-GPL compatible program";

#[test]
fn gpl_only_flags_match_the_kernel() {
    if !kernel() {
        return;
    }
    // XDP, SCHED_CLS, KPROBE, PERF_EVENT, SOCK_OPS: between them every listed helper is
    // available.
    let types = [6u32, 3, 2, 7, 13];
    let mut checked = 0;
    for p in CURRENT {
        let prog = encode_all(&[call_helper(p.id), mov64_imm(Reg::R0, 0), exit()]);
        let mut verdict = None;
        for t in types {
            let message = match RawProgram::load_licensed(t, &prog, "Proprietary") {
                Ok(_) => String::new(),
                Err(RawError::Rejected(s)) => s.message.unwrap_or_default(),
                Err(e) => panic!("{e}"),
            };
            if message.starts_with("unknown func")
                || message.starts_with("program of this type cannot use helper")
            {
                continue;
            }
            verdict = Some(message == GPL_MESSAGE);
            break;
        }
        let gpl =
            verdict.unwrap_or_else(|| panic!("helper {} ({}) exists for none of {types:?}", p.name, p.id));
        assert_eq!(p.gpl_only, gpl, "helper {} ({}): model gpl_only (left), kernel (right)", p.name, p.id);
        checked += 1;
    }
    eprintln!("{checked} helpers: gpl_only as the kernel says");
}

#[test]
fn helper_sets_per_program_type_match_the_kernel() {
    if !kernel() {
        return;
    }
    let (mut compared, mut wrong) = (0, Vec::new());
    for ty in ProgType::all() {
        let number = ty.number().expect("modelled types have numbers");
        for id in -1..FUNC_MAX_ID + 3 {
            let prog = encode_all(&[call_helper(id), mov64_imm(Reg::R0, 0), exit()]);
            let message = match RawProgram::load(number, &prog) {
                Ok(_) => String::new(),
                Err(RawError::Rejected(s)) => s.message.unwrap_or_default(),
                Err(e) => panic!("{e}"),
            };
            let refused = message.starts_with("program of this type cannot use helper")
                || message.starts_with("invalid func")
                || message.starts_with("unknown func");
            let ours = availability::refusal(ty, id);
            let agree = match &ours {
                Some(m) => refused && *m == message,
                None => !refused,
            };
            if !agree {
                wrong.push(format!("{ty} helper {id}: model {ours:?}, kernel {message:?}"));
            }
            compared += 1;
        }
    }
    assert!(wrong.is_empty(), "{} of {compared} differ:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{compared} (program type, helper) pairs: the model refuses exactly what the kernel refuses");
}
