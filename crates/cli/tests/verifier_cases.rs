//! The verdicts recorded in `testdata/verifier/*.s` are the running kernel's: each case is
//! loaded as a raw program (its declared maps created, `BPF_PSEUDO_MAP_FD` indices replaced by
//! their fds) and the kernel's verdict and reason must be the recorded ones. Where the kernel's
//! log names the instruction it failed at, the model must fail at the same one.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use bpf_patch::op::LdImm64Src;
use bpf_patch::text::assemble;
use bpf_patch::Insn;
use bpf_verifier_model::load::{MapShape, ProgType};
use bpf_verifier_model::verifier::case::{Case, Expect};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::kfunc::KfuncTable;
use bpfpatch::kernel::raw::{RawError, RawProgram};
use common::kernel;

/// The slot the model rejects `case` at, if it rejects it.
fn model_rejects_at(case: &Case, table: &KfuncTable) -> Option<usize> {
    match case.verify(Some(table)).unwrap_or_else(|e| panic!("{e}")).outcome {
        Outcome::Reject(d) => Some(d.insn),
        _ => None,
    }
}

fn prog_type(t: ProgType) -> u32 {
    t.number().expect("cases name modelled program types")
}

/// Creates map `i` of `shapes` (its inner template first), keeping every fd in `fds`.
fn create(shapes: &[MapShape], i: usize, fds: &mut Vec<Option<OwnedFd>>) -> i32 {
    if let Some(fd) = &fds[i] {
        return fd.as_raw_fd();
    }
    let s = shapes[i];
    // SAFETY: zeroed is the documented initial state of bpf_map_create_opts; `sz` set below.
    let mut opts: libbpf_sys::bpf_map_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as libbpf_sys::size_t;
    if let Some(inner) = s.inner {
        opts.inner_map_fd = create(shapes, inner as usize, fds) as u32;
    }
    // SAFETY: the name is NUL-terminated and `opts` is a valid, sized options struct.
    let fd = unsafe {
        libbpf_sys::bpf_map_create(
            s.map_type,
            c"bpfpatch_case".as_ptr(),
            s.key_size,
            s.value_size,
            s.max_entries,
            &opts,
        )
    };
    assert!(fd >= 0, "creating map {s:?}: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh map fd that nothing else owns.
    fds[i] = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    fd
}

/// The case's maps created, and its map references pointed at them.
fn with_maps(shapes: &[MapShape], insns: &mut [Insn]) -> Vec<Option<OwnedFd>> {
    let mut fds: Vec<Option<OwnedFd>> = shapes.iter().map(|_| None).collect();
    for i in 0..shapes.len() {
        create(shapes, i, &mut fds);
    }
    for insn in insns.iter_mut() {
        if insn.is_ld_imm64() && insn.src_reg() == LdImm64Src::MapFd.code() {
            let i = usize::try_from(insn.imm).expect("map indices are not negative");
            insn.imm = fds[i].as_ref().map(|f| f.as_raw_fd()).expect("the case declares the map");
        }
    }
    fds
}

/// `call kfunc i` (the case's `i`-th `; kfunc:` line) pointed at the kernel's BTF id.
fn with_kfunc_ids(case: &Case, table: &KfuncTable, insns: &mut [Insn]) {
    for insn in insns.iter_mut() {
        if insn.code == 0x85 && insn.src_reg() == 2 {
            let name = usize::try_from(insn.imm - 1).ok().and_then(|i| case.kfuncs.get(i));
            let name =
                name.unwrap_or_else(|| panic!("{}: call kfunc {} is not declared", case.name, insn.imm));
            let id =
                table.id_of(name).unwrap_or_else(|| panic!("{}: no kfunc {name} in the kernel", case.name));
            insn.imm = i32::try_from(id).expect("BTF ids fit");
        }
    }
}

#[test]
fn recorded_verdicts_are_the_kernels() {
    if !kernel() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verifier");
    let cases = Case::load_dir(&dir).expect("cases parse");
    let table = KfuncTable::running().expect("a kernel that loads programs publishes its BTF");
    let (mut wrong, mut same_insn, mut no_insn) = (Vec::new(), 0, 0);
    for case in &cases {
        let mut insns = assemble(&case.source).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        with_kfunc_ids(case, &table, &mut insns);
        let _maps = with_maps(&case.maps, &mut insns);
        let loaded = match case.btf(&insns) {
            Some((btf, funcs)) => RawProgram::load_with_btf(prog_type(case.prog_type), &insns, &btf, &funcs),
            None => RawProgram::load(prog_type(case.prog_type), &insns),
        };
        let got = match loaded {
            Ok(_) => Expect::Accept,
            Err(RawError::Rejected(s)) => {
                // The failing instruction: the last one the kernel printed before its message,
                // except at the complexity limit, which stops before printing the instruction
                // it was about to process.
                let at_limit =
                    s.message.as_deref().is_some_and(|m| m.starts_with("BPF program is too large"));
                let kernel_insn = s.error_insn.filter(|_| !at_limit);
                match (kernel_insn, model_rejects_at(case, &table)) {
                    (Some(k), Some(m)) if k as usize == m => same_insn += 1,
                    (Some(k), m) => {
                        wrong.push(format!("{}: kernel fails at insn {k}, model at {m:?}", case.name))
                    }
                    (None, _) => no_insn += 1,
                }
                Expect::Reject(s.message.unwrap_or_default())
            }
            Err(e) => panic!("{}: {e}", case.name),
        };
        if got != case.expect {
            wrong.push(format!("{}: kernel {got:?}, recorded {:?}", case.name, case.expect));
        }
    }
    assert!(wrong.is_empty(), "the kernel disagrees:\n{}", wrong.join("\n"));
    eprintln!(
        "{} verifier cases: the kernel's verdicts are the recorded ones; {same_insn} rejections at the model's instruction, {no_insn} where the kernel's log names none (or stops at the complexity limit)",
        cases.len()
    );
}
