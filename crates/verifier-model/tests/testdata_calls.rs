//! Every helper and kfunc the committed `testdata` objects call has a model in
//! `Helpers::kernel` (so each XDP / TC / socket program can run in the interpreter once loaded);
//! the objects written against the RFC's metadata kfuncs (`*_rfc.*`) in `Helpers::kernel` switched
//! to that ABI (`xdp_meta::register_rfc`).

use std::path::PathBuf;

use bpf_patch::elf::{BpfObject, RelocKind};
use bpf_patch::op::{decode_all, CallTarget, Op};
use bpf_verifier_model::interp::maps::BPF_FUNC_TAIL_CALL;
use bpf_verifier_model::interp::xdp_meta::register_rfc;
use bpf_verifier_model::interp::Helpers;

#[test]
#[allow(clippy::print_stdout)] // the count is the test's report
fn every_called_helper_and_kfunc_is_modelled() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj");
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/obj is part of the repository")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    objects.sort();
    assert!(!objects.is_empty(), "no objects under {}", dir.display());
    let mainline = Helpers::kernel(0);
    let mut rfc = Helpers::kernel(0);
    register_rfc(&mut rfc);
    let (mut helper_calls, mut kfunc_calls) = (0, 0);
    let mut missing = Vec::new();
    for path in &objects {
        let bytes = std::fs::read(path).expect("readable");
        let obj = BpfObject::parse(&bytes).expect("testdata objects parse");
        let rfc_abi = path.file_name().is_some_and(|n| n.to_string_lossy().contains("_rfc."));
        let h = if rfc_abi { &rfc } else { &mainline };
        for sec in &obj.sections {
            for (slot, op) in decode_all(&sec.insns).expect("testdata code decodes") {
                if let Op::Call(CallTarget::Helper(id)) = op {
                    let kfunc = sec.relocs.iter().any(|r| r.slot == slot && r.kind == RelocKind::Kfunc);
                    if kfunc {
                        continue;
                    }
                    helper_calls += 1;
                    if id != BPF_FUNC_TAIL_CALL && h.helper(id).is_none() {
                        missing.push(format!("{}: {} helper {id}", path.display(), sec.name));
                    }
                }
            }
            for r in sec.relocs.iter().filter(|r| r.kind == RelocKind::Kfunc) {
                kfunc_calls += 1;
                if h.kfunc(&r.symbol).is_none() {
                    missing.push(format!("{}: {} kfunc {}", path.display(), sec.name, r.symbol));
                }
            }
        }
    }
    assert!(missing.is_empty(), "not modelled:\n{}", missing.join("\n"));
    println!(
        "{} objects: {helper_calls} helper calls and {kfunc_calls} kfunc calls all modelled",
        objects.len()
    );
    assert!(kfunc_calls > 0 && helper_calls > 0);
}
