//! Bodies of the model's cargo-fuzz targets (`fuzz/fuzz_targets/`), plain functions so that the
//! normal test suite replays the committed seeds too.

use crate::load::ProgType;
use crate::verifier::explore::{verify, Env, Outcome};
use crate::verifier::kfunc::KfuncTable;

/// Kfuncs a fuzzed program can call: `call` with `src_reg` 2 and `imm = i + 1` calls
/// `FUZZ_KFUNCS[i]` (the loader's numbering), with prototypes from the bundled kfunc table.
/// Dynptr constructors, slices and clones, the casts, the numbers iterator, device-bound
/// metadata and the packet-trait kfuncs: the verifier paths added with kfunc support.
pub const FUZZ_KFUNCS: [&str; 16] = [
    "bpf_dynptr_from_skb",
    "bpf_dynptr_from_xdp",
    "bpf_dynptr_from_skb_meta",
    "bpf_dynptr_slice",
    "bpf_dynptr_slice_rdwr",
    "bpf_dynptr_clone",
    "bpf_dynptr_size",
    "bpf_cast_to_kern_ctx",
    "bpf_rdonly_cast",
    "bpf_iter_num_new",
    "bpf_iter_num_next",
    "bpf_iter_num_destroy",
    "bpf_xdp_metadata_rx_hash",
    "bpf_xdp_trait_set",
    "bpf_xdp_trait_get",
    "bpf_xdp_trait_del",
];

/// Verifies an arbitrary slot stream as a program of the type the first byte picks (XDP, TC,
/// socket filter, kprobe, tracepoint, raw tracepoint, perf event, sock_ops, cgroup sock), its
/// kfunc calls naming [`FUZZ_KFUNCS`] (the second byte's low bit: loaded device-bound): the
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
    static TABLE: std::sync::OnceLock<Option<KfuncTable>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| KfuncTable::newest_bundled().ok());
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let kfuncs = NAMES.get_or_init(|| FUZZ_KFUNCS.iter().map(|&n| n.to_owned()).collect());
    {
        let env = Env {
            kfuncs,
            dev_bound: data.get(1).is_some_and(|b| b & 1 == 1),
            kfunc_table: table.as_ref(),
            ..Env::new(prog_type)
        };
        if let Ok(report) = verify(&insns, &env) {
            assert!(report.insns_processed <= crate::verifier::explore::INSN_LIMIT + 1);
            if let Outcome::Reject(d) = &report.outcome {
                assert!(d.insn <= insns.len(), "the error names an instruction of the program");
            }
        }
    }
}
