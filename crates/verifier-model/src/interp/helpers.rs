//! Helpers and kfuncs as pluggable Rust functions: a registry keyed by helper id and by kfunc
//! name (with a BTF id → name table), plus the built-in helpers that need no maps
//! (`bpf_ktime_get_ns` with a settable clock, seeded `bpf_get_prandom_u32`, `bpf_loop`).

use std::collections::BTreeMap;
use std::rc::Rc;

use thiserror::Error;

use super::{InterpError, Vm};

/// `BPF_FUNC_ktime_get_ns`.
pub const BPF_FUNC_KTIME_GET_NS: i32 = 5;
/// `BPF_FUNC_get_prandom_u32`.
pub const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;
/// `BPF_FUNC_loop`.
pub const BPF_FUNC_LOOP: i32 = 181;

/// What a helper sees: the VM (memory, registry) and the call depth (for callbacks).
pub struct HelperCtx<'a> {
    /// The running VM.
    pub vm: &'a mut Vm,
    /// Frame depth of the caller (callbacks run one deeper).
    pub depth: usize,
}

/// A helper or kfunc: R1-R5 in, R0 out.
pub type HelperFn = Rc<dyn Fn(&mut HelperCtx<'_>, [u64; 5]) -> Result<u64, HelperError>>;

/// Why a helper failed (a fault, not an error return value to the program).
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum HelperError {
    /// A pointer argument faulted.
    #[error("argument memory: {0}")]
    Memory(#[from] super::MemError),
    /// A callback run failed.
    #[error("callback: {0}")]
    Callback(Box<InterpError>),
    /// An argument the kernel's verifier would have rejected.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// Registry of helpers (by id) and kfuncs (by name; BTF ids map to names).
#[derive(Clone, Default)]
pub struct Helpers {
    by_id: BTreeMap<i32, HelperFn>,
    kfuncs: BTreeMap<String, HelperFn>,
    kfunc_ids: BTreeMap<i32, String>,
    /// The clock `bpf_ktime_get_ns` returns (settable by the caller).
    pub clock_ns: Rc<std::cell::Cell<u64>>,
    /// What `bpf_get_current_task` returns (settable by the caller; 0 by default, so reads
    /// through it fault, and `bpf_probe_read_kernel` reports -EFAULT).
    pub current_task: Rc<std::cell::Cell<u64>>,
}

impl Helpers {
    /// Registers helper `id`.
    pub fn register(&mut self, id: i32, f: HelperFn) {
        self.by_id.insert(id, f);
    }

    /// Registers a kfunc by name.
    pub fn register_kfunc(&mut self, name: &str, f: HelperFn) {
        self.kfuncs.insert(name.to_owned(), f);
    }

    /// Says which kfunc name a call's BTF id stands for.
    pub fn bind_kfunc_id(&mut self, btf_id: i32, name: &str) {
        self.kfunc_ids.insert(btf_id, name.to_owned());
    }

    /// The helper with this id.
    pub fn helper(&self, id: i32) -> Option<HelperFn> {
        self.by_id.get(&id).cloned()
    }

    /// The kfunc registered under `name`.
    pub fn kfunc(&self, name: &str) -> Option<HelperFn> {
        self.kfuncs.get(name).cloned()
    }

    /// The kfunc bound to this BTF id.
    pub fn kfunc_by_id(&self, btf_id: i32) -> Option<HelperFn> {
        self.kfunc_ids.get(&btf_id).and_then(|n| self.kfuncs.get(n)).cloned()
    }

    /// The registry with the modelled kernel helpers: `bpf_ktime_get_ns` (reads
    /// [`Helpers::clock_ns`]), `bpf_get_prandom_u32` (xorshift seeded with `seed`), `bpf_loop`,
    /// the map helpers ([`super::maps`]), the XDP adjust helpers ([`super::ctx`]), dynptrs
    /// ([`super::dynptr`]), ring buffers ([`super::ringbuf`]), packet helpers
    /// ([`super::pkt`]), kernel-object helpers and iterators ([`super::kern`]) and the XDP
    /// RX-metadata kfuncs in their mainline form ([`super::xdp_meta`]).
    pub fn kernel(seed: u64) -> Helpers {
        let mut h = Helpers::default();
        let clock = h.clock_ns.clone();
        h.register(BPF_FUNC_KTIME_GET_NS, Rc::new(move |_, _| Ok(clock.get())));
        let state = Rc::new(std::cell::Cell::new(seed | 1));
        h.register(
            BPF_FUNC_GET_PRANDOM_U32,
            Rc::new(move |_, _| {
                let mut x = state.get();
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                state.set(x);
                Ok(x & 0xffff_ffff)
            }),
        );
        h.register(BPF_FUNC_LOOP, Rc::new(bpf_loop));
        super::maps::register(&mut h);
        super::ctx::register(&mut h);
        super::dynptr::register(&mut h);
        super::ringbuf::register(&mut h);
        super::pkt::register(&mut h);
        super::kern::register(&mut h);
        super::xdp_meta::register(&mut h);
        h
    }
}

/// `long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)`: calls
/// `callback_fn(i, callback_ctx)` for i in 0..nr_loops until it returns 1; returns the number of
/// iterations. `nr_loops > 1 << 23` or non-zero flags → -E2BIG / -EINVAL as in the kernel.
pub fn bpf_loop(ctx: &mut HelperCtx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    const EINVAL: i64 = 22;
    const E2BIG: i64 = 7;
    let (nr, code, cb_ctx, flags) = (args[0] as u32, args[1], args[2], args[3]);
    if flags != 0 {
        return Ok((-EINVAL) as u64);
    }
    if nr > 1 << 23 {
        return Ok((-E2BIG) as u64);
    }
    let mut i = 0u32;
    while i < nr {
        let r = ctx
            .vm
            .call_code(code, [u64::from(i), cb_ctx, 0, 0, 0], ctx.depth)
            .map_err(|e| HelperError::Callback(Box::new(e)))?;
        i += 1;
        if r == 1 {
            break;
        }
    }
    Ok(u64::from(i))
}
