//! The model's context access rules (`bpf_verifier_model::verifier::ctx`) against the kernel:
//! every offset of `xdp_md` / `__sk_buff` / `pt_regs` / raw tracepoint arguments /
//! `bpf_perf_event_data` (and past their ends), the start and end of a tracepoint record, every
//! size, read and write, for every program type whose rules the model has, loaded as
//! `rX = *(uN *)(r1 + off)` or `*(uN *)(r1 + off) = r2`: the kernel accepts exactly the accesses
//! the model allows, and refuses the others with `invalid bpf_context access`.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::filter::{exit, ldx_mem, mov64_imm, stx_mem};
use bpf_patch::op::{encode_all, Reg, Size};
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::verifier::ctx::{self, check, Access};
use bpfpatch::kernel::raw::{RawError, RawProgram};
use common::kernel;

#[test]
fn context_access_rules_match_the_kernel() {
    if !kernel() {
        return;
    }
    let types: [(ProgType, &[(i16, i16)]); 11] = [
        (ProgType::Xdp, &[(0, 24)]),
        (ProgType::SchedCls, &[(0, 192)]),
        (ProgType::SchedAct, &[(0, 192)]),
        (ProgType::SocketFilter, &[(0, 192)]),
        (ProgType::CgroupSkb, &[(0, 192)]),
        (ProgType::Kprobe, &[(0, 176)]),
        (ProgType::Tracepoint, &[(0, 48), (8160, 8200)]),
        (ProgType::RawTracepoint, &[(0, 104)]),
        (ProgType::PerfEvent, &[(0, 192)]),
        (ProgType::SockOps, &[(0, 232)]),
        (ProgType::CgroupSock, &[(0, 88)]),
    ];
    let (mut compared, mut mismatches) = (0, Vec::new());
    for (ty, ranges) in types {
        assert!(ctx::modelled(ty), "{ty} has context rules");
        let kernel_type = ty.number().expect("modelled program types have numbers");
        for off in ranges.iter().flat_map(|&(start, end)| start..end) {
            for size in [Size::B, Size::H, Size::W, Size::DW] {
                for access in [Access::Read, Access::Write] {
                    let body = match access {
                        Access::Read => ldx_mem(size, Reg::R3, Reg::R1, off),
                        Access::Write => stx_mem(size, Reg::R1, Reg::R2, off),
                    };
                    let prog = encode_all(&[mov64_imm(Reg::R2, 0), body, mov64_imm(Reg::R0, 0), exit()]);
                    let kernel_ok = match RawProgram::load(kernel_type, &prog) {
                        Ok(_) => true,
                        Err(RawError::Rejected(s)) => {
                            let m = s.message.unwrap_or_default();
                            assert!(
                                m.starts_with("invalid bpf_context access")
                                    || m.contains("cannot write into"),
                                "{ty:?} off={off} {size:?} {access:?}: unexpected kernel message {m:?}"
                            );
                            false
                        }
                        Err(e) => panic!("{e}"),
                    };
                    let ours = check(ty, i64::from(off), size.bytes(), access).is_some();
                    if ours != kernel_ok {
                        mismatches.push(format!(
                            "{ty:?} off={off} size={} {access:?}: model {ours}, kernel {kernel_ok}",
                            size.bytes()
                        ));
                    }
                    compared += 1;
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{} of {compared} differ:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!("{compared} context accesses: the model allows exactly what the kernel allows");
}
