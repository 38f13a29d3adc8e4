//! Bodies of the model's cargo-fuzz targets (`fuzz/fuzz_targets/`), plain functions so that the
//! normal test suite replays the committed seeds too.

use crate::load::ProgType;
use crate::verifier::explore::{verify, Env, Outcome};
use crate::verifier::helpers::Version;

/// Verifies an arbitrary slot stream as a program of the type the first byte picks (XDP, TC,
/// socket filter, kprobe, tracepoint, raw tracepoint, perf event, sock_ops, cgroup sock): the
/// model must return a verdict (or a decode error) without panicking, and count at most the
/// kernel's instruction limit plus one.
pub fn verify_bytes(data: &[u8]) {
    let Ok(insns) = bpf_patch::insn::slots_from_bytes(data, bpf_patch::Endian::Little) else { return };
    let prog_type = match data.first().map(|b| b % 16) {
        Some(1) => ProgType::SchedCls,
        Some(3) => ProgType::SocketFilter,
        Some(5) => ProgType::Kprobe,
        Some(7) => ProgType::Tracepoint,
        Some(9) => ProgType::RawTracepoint,
        Some(11) => ProgType::PerfEvent,
        Some(13) => ProgType::SockOps,
        Some(15) => ProgType::CgroupSock,
        _ => ProgType::Xdp,
    };
    {
        let env = Env {
            prog_type,
            maps: &[],
            read_only_maps: &[],
            helpers: Version::Current,
            gpl: true,
            allow_uninit_stack: true,
            kfuncs: &[],
            dev_bound: false,
            kfunc_table: None,
            funcs: None,
            trusted: None,
        };
        if let Ok(report) = verify(&insns, &env) {
            assert!(report.insns_processed <= crate::verifier::explore::INSN_LIMIT + 1);
            if let Outcome::Reject(d) = &report.outcome {
                assert!(d.insn <= insns.len(), "the error names an instruction of the program");
            }
        }
    }
}
