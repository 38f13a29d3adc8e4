//! Kfunc calls in the model beyond what the kernel-checked cases cover: prototypes read from
//! the running kernel's BTF, calls named by BTF id rather than by the loader's numbering, the
//! device-bound load the XDP metadata kfuncs need, and the checks made before exploration.
//! Needs `/sys/kernel/btf/vmlinux` (skipped with a message without it, failing instead when
//! `BPFPATCH_REQUIRE_KERNEL=1`).
#![allow(clippy::print_stderr)]

use bpf_patch::text::assemble;
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::verifier::explore::{verify, verify_observed, Env, Outcome};
use bpf_verifier_model::verifier::kfunc::{KfuncTable, VMLINUX};
use bpf_verifier_model::verifier::state::Reg;

fn table() -> Option<KfuncTable> {
    let t = KfuncTable::running();
    if t.is_none() {
        assert!(std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(), "{VMLINUX} is missing");
        eprintln!("{VMLINUX} absent: skipped");
    }
    t
}

fn env<'a>(t: ProgType, kfuncs: &'a [String], table: &'a KfuncTable) -> Env<'a> {
    Env { kfuncs, kfunc_table: Some(table), ..Env::new(t) }
}

fn outcome(text: &str, env: &Env<'_>) -> Outcome {
    let insns = assemble(text).expect("valid assembly");
    verify(&insns, env).expect("decodes").outcome
}

const RX_TIMESTAMP: &str = "r2 = r10\nr2 += -8\ncall kfunc 0x1\nr1 = *(u64 *)(r10 -8)\nexit\n";

#[test]
fn metadata_kfuncs_need_a_device_bound_load() {
    let Some(t) = table() else { return };
    let names = ["bpf_xdp_metadata_rx_timestamp".to_owned()];
    let mut e = env(ProgType::Xdp, &names, &t);
    match outcome(RX_TIMESTAMP, &e) {
        Outcome::Reject(d) => {
            assert_eq!((d.insn, d.message.as_str()), (0, "metadata kfuncs require device-bound program"))
        }
        other => panic!("{other:?}"),
    }
    e.dev_bound = true;
    let insns = assemble(RX_TIMESTAMP).expect("valid");
    let mut after_call = Vec::new();
    let report = verify_observed(&insns, &e, &mut |pc, st| {
        if pc == 3 {
            after_call.push(st.cur().regs);
        }
    })
    .expect("decodes");
    assert_eq!(report.outcome, Outcome::Accept);
    // An int return is an unknown scalar; the arguments are clobbered.
    let regs = after_call.first().expect("the load after the call was explored");
    assert!(matches!(regs[0], Reg::Scalar(s) if s.as_const().is_none() && s.smin == i64::MIN));
    assert_eq!(regs[1], Reg::NotInit);
    // The out-parameter must be writable memory of 8 bytes.
    let bad = "r2 = r10\nr2 += -4\ncall kfunc 0x1\nr0 = 0x0\nexit\n";
    match outcome(bad, &e) {
        Outcome::Reject(d) => assert_eq!(d.message, "invalid indirect access to stack R2 off=-4 size=8"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn kfuncs_are_named_by_btf_id_too() {
    let Some(t) = table() else { return };
    let id = t.id_of("bpf_dynptr_from_xdp").expect("6.18 has it");
    let e = env(ProgType::SchedCls, &[], &t);
    let text = format!("r2 = 0x0\nr3 = r10\nr3 += -16\ncall kfunc {id:#x}\nr0 = 0x0\nexit\n");
    match outcome(&text, &e) {
        Outcome::Reject(d) => {
            assert_eq!(d.message, "calling kernel function bpf_dynptr_from_xdp is not allowed")
        }
        other => panic!("{other:?}"),
    }
    let e = env(ProgType::Xdp, &[], &t);
    assert_eq!(outcome(&text, &e), Outcome::Accept);
}

#[test]
fn non_gpl_programs_and_missing_btf() {
    let Some(t) = table() else { return };
    let names = ["bpf_dynptr_from_xdp".to_owned()];
    let text = "r2 = 0x0\nr3 = r10\nr3 += -16\ncall kfunc 0x1\nr0 = 0x0\nexit\n";
    let mut e = env(ProgType::Xdp, &names, &t);
    e.gpl = false;
    match outcome(text, &e) {
        Outcome::Reject(d) => {
            assert_eq!(d.message, "cannot call kernel function from non-GPL compatible program")
        }
        other => panic!("{other:?}"),
    }
    e.gpl = true;
    e.kfunc_table = None;
    assert!(matches!(outcome(text, &e), Outcome::Unsupported { insn: 3, .. }));
}

#[test]
fn tagged_kfuncs_have_prototypes() {
    let Some(t) = table() else { return };
    let tagged = t.tagged();
    assert!(tagged.len() > 100, "{} kfuncs", tagged.len());
    let parsed = tagged.iter().filter(|n| t.proto(n).is_ok()).count();
    for n in tagged.iter().filter(|n| n.starts_with("bpf_dynptr_") || n.starts_with("bpf_xdp_metadata_")) {
        t.proto(n).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("{} kfuncs tagged bpf_kfunc in {VMLINUX}, {parsed} prototypes classified", tagged.len());
}
