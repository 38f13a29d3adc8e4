//! Pluggable helper functions: a registry from helper id to a Rust closure, and the kernel state
//! helpers share (a settable clock, a seeded random generator).
//!
//! Only `bpf_ktime_get_ns` and `bpf_get_prandom_u32` are provided so far; maps, packet
//! adjustment, `bpf_loop`, dynptrs and kfuncs are registered the same way.

use std::collections::HashMap;
use std::fmt;

use super::memory::{MemError, Memory};

/// `BPF_FUNC_ktime_get_ns`.
pub const BPF_FUNC_KTIME_GET_NS: i32 = 5;
/// `BPF_FUNC_get_prandom_u32`.
pub const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;

/// Why a helper failed (the interpreter adds the slot and helper id).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum HelperError {
    /// The helper touched memory it may not.
    #[error(transparent)]
    Memory(#[from] MemError),
    /// The arguments make no sense for this helper.
    #[error("{message}")]
    BadArgument {
        /// What was wrong.
        message: String,
    },
}

/// A deterministic, seeded pseudo-random generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Prng {
    state: u64,
}

impl Prng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Prng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Kernel state that helpers read and change.
#[derive(Clone, Debug)]
pub struct KernelState {
    /// What the next `bpf_ktime_get_ns` returns.
    pub clock_ns: u64,
    /// How far the clock advances after each read (0: a frozen clock).
    pub clock_step_ns: u64,
    /// Source of `bpf_get_prandom_u32`.
    pub rng: Prng,
}

impl Default for KernelState {
    fn default() -> Self {
        KernelState { clock_ns: 0, clock_step_ns: 0, rng: Prng::new(0) }
    }
}

/// What a helper sees: the program's memory and the kernel state.
pub struct HelperEnv<'a> {
    /// The address space of the running program.
    pub memory: &'a mut Memory,
    /// Clock, random generator, ...
    pub kernel: &'a mut KernelState,
}

/// A helper implementation: arguments R1-R5 in, R0 out.
pub type HelperFn = Box<dyn Fn(&mut HelperEnv<'_>, [u64; 5]) -> Result<u64, HelperError>>;

struct Helper {
    name: &'static str,
    run: HelperFn,
}

/// Helper id → implementation.
#[derive(Default)]
pub struct Helpers {
    map: HashMap<i32, Helper>,
}

impl fmt::Debug for Helpers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.map.iter().map(|(id, h)| (*id, h.name)).collect();
        names.sort_unstable();
        f.debug_struct("Helpers").field("registered", &names).finish()
    }
}

impl Helpers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The helpers this crate implements: `bpf_ktime_get_ns`, `bpf_get_prandom_u32`.
    pub fn standard() -> Self {
        let mut h = Helpers::new();
        h.register(
            BPF_FUNC_KTIME_GET_NS,
            "bpf_ktime_get_ns",
            Box::new(|env, _| {
                let now = env.kernel.clock_ns;
                env.kernel.clock_ns = now.wrapping_add(env.kernel.clock_step_ns);
                Ok(now)
            }),
        );
        h.register(
            BPF_FUNC_GET_PRANDOM_U32,
            "bpf_get_prandom_u32",
            Box::new(|env, _| Ok(env.kernel.rng.next_u64() & 0xffff_ffff)),
        );
        h
    }

    /// Registers (or replaces) helper `id`.
    pub fn register(&mut self, id: i32, name: &'static str, run: HelperFn) {
        self.map.insert(id, Helper { name, run });
    }

    /// The name helper `id` was registered under.
    pub fn name(&self, id: i32) -> Option<&'static str> {
        self.map.get(&id).map(|h| h.name)
    }

    /// Calls helper `id`; `None` if it is not registered.
    pub fn call(&self, id: i32, env: &mut HelperEnv<'_>, args: [u64; 5]) -> Option<Result<u64, HelperError>> {
        self.map.get(&id).map(|h| (h.run)(env, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_settable_and_rng_is_seeded() {
        let h = Helpers::standard();
        let mut memory = Memory::new();
        let mut kernel = KernelState { clock_ns: 100, clock_step_ns: 10, rng: Prng::new(42) };
        let mut env = HelperEnv { memory: &mut memory, kernel: &mut kernel };
        assert_eq!(h.call(BPF_FUNC_KTIME_GET_NS, &mut env, [0; 5]), Some(Ok(100)));
        assert_eq!(h.call(BPF_FUNC_KTIME_GET_NS, &mut env, [0; 5]), Some(Ok(110)));
        let a = h.call(BPF_FUNC_GET_PRANDOM_U32, &mut env, [0; 5]);
        let b = h.call(BPF_FUNC_GET_PRANDOM_U32, &mut env, [0; 5]);
        assert_ne!(a, b);
        let mut again = Prng::new(42);
        assert_eq!(a, Some(Ok(again.next_u64() & 0xffff_ffff)));
        assert!(matches!(a, Some(Ok(v)) if v <= u64::from(u32::MAX)));
        assert_eq!(h.call(12345, &mut env, [0; 5]), None);
        assert_eq!(h.name(BPF_FUNC_KTIME_GET_NS), Some("bpf_ktime_get_ns"));
    }
}
