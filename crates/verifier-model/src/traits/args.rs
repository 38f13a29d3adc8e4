//! The trait kfuncs' prototypes and argument rules, as data for a verifier (kernel-notes §E.3).
//!
//! The verifier model consults these when the kernel's kfunc table lacks a name called
//! (`verifier::explore::kcall_traits` checks R1-R5 against the rules, the way the kernel's
//! `check_kfunc_args` treats these parameters (a context pointer, `u64` scalars, and a
//! `void *val` / `u64 val__sz` memory-and-size pair). The kfuncs exist only in kernels carrying
//! the RFC and only for `BPF_PROG_TYPE_XDP` ([`PROG_TYPE`]); each returns an `int` (a scalar in
//! R0) and clobbers R1-R5 like any call.

use super::Format;

/// The program type the kfunc set is registered for.
pub const PROG_TYPE: &str = "xdp";

/// Whether the kfunc reads or writes a buffer argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BufferAccess {
    /// The kfunc reads `size` bytes (set: the value): stack bytes must be initialised.
    Read,
    /// The kfunc writes up to `size` bytes (get: the value): the memory must be writable
    /// (not a read-only map value).
    Write,
}

/// What one argument register must hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArgRule {
    /// The program's own context (`struct xdp_md *`, `PTR_TO_CTX` at offset 0, unmodified).
    XdpCtx,
    /// A `u64` scalar, any value: its range is checked at run time (a key above 63 is
    /// `-EINVAL`, `flags` is reserved and not checked).
    Scalar {
        /// The parameter's name in the prototype.
        name: &'static str,
    },
    /// A pointer to a buffer of the size held by argument `size_arg` (0-based): to the stack
    /// or to a map value, and in bounds for that size. A NULL pointer is accepted only with
    /// size 0.
    Buffer {
        /// The parameter's name.
        name: &'static str,
        /// Index of the argument holding its size.
        size_arg: usize,
        /// Read or written.
        access: BufferAccess,
    },
    /// The size of buffer argument `of_arg` (the `__sz` suffix): a known constant. 0 is
    /// accepted by the verifier (a v2 flag); sizes the format cannot store are a run-time
    /// `-EINVAL`, not a verifier error. (The kernel's `__sz` accepts a bounded variable size too;
    /// this model asks for a constant, as issue 7 does.)
    ConstSize {
        /// The parameter's name.
        name: &'static str,
        /// Index of the buffer argument it sizes.
        of_arg: usize,
    },
}

/// One trait kfunc.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TraitKfunc {
    /// Its name (the BTF `FUNC`'s).
    pub name: &'static str,
    /// Its C prototype.
    pub proto: &'static str,
    /// The rules for R1, R2, ...
    pub args: &'static [ArgRule],
    /// The RFC versions that have it.
    pub formats: &'static [Format],
}

const CTX: ArgRule = ArgRule::XdpCtx;
const KEY: ArgRule = ArgRule::Scalar { name: "key" };

/// The four kfuncs: set, get and del (v1 and v2), is_set (v2 only).
pub const TRAIT_KFUNCS: [TraitKfunc; 4] = [
    TraitKfunc {
        name: "bpf_xdp_trait_set",
        proto: "int bpf_xdp_trait_set(const struct xdp_md *xdp, u64 key, const void *val, u64 val__sz, u64 flags)",
        args: &[
            CTX,
            KEY,
            ArgRule::Buffer { name: "val", size_arg: 3, access: BufferAccess::Read },
            ArgRule::ConstSize { name: "val__sz", of_arg: 2 },
            ArgRule::Scalar { name: "flags" },
        ],
        formats: &[Format::V1, Format::V2],
    },
    TraitKfunc {
        name: "bpf_xdp_trait_get",
        proto: "int bpf_xdp_trait_get(const struct xdp_md *xdp, u64 key, void *val, u64 val__sz)",
        args: &[
            CTX,
            KEY,
            ArgRule::Buffer { name: "val", size_arg: 3, access: BufferAccess::Write },
            ArgRule::ConstSize { name: "val__sz", of_arg: 2 },
        ],
        formats: &[Format::V1, Format::V2],
    },
    TraitKfunc {
        name: "bpf_xdp_trait_del",
        proto: "int bpf_xdp_trait_del(const struct xdp_md *xdp, u64 key)",
        args: &[CTX, KEY],
        formats: &[Format::V1, Format::V2],
    },
    TraitKfunc {
        name: "bpf_xdp_trait_is_set",
        proto: "int bpf_xdp_trait_is_set(const struct xdp_md *xdp, u64 key)",
        args: &[CTX, KEY],
        formats: &[Format::V2],
    },
];

/// The trait kfunc called `name`.
pub fn trait_kfunc(name: &str) -> Option<&'static TraitKfunc> {
    TRAIT_KFUNCS.iter().find(|k| k.name == name)
}

/// The argument rules of the trait kfunc called `name`, R1 first.
pub fn trait_kfunc_args(name: &str) -> Option<&'static [ArgRule]> {
    trait_kfunc(name).map(|k| k.args)
}
