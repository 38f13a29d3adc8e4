//! [`UnrollError`]: why an object cannot be unrolled.

use bpf_patch::elf::ObjectError;
use bpf_patch::Slot;
use bpf_verifier_model::interp::LayoutError;

/// Why an object cannot be unrolled or a sequence cannot be emitted.
#[derive(Debug, thiserror::Error)]
pub enum UnrollError {
    /// The object cannot be read or rewritten.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A relocation against a metadata kfunc lies outside every function.
    #[error("section {section}, slot {slot}: call of {kfunc} outside every function")]
    SiteOutsideFunction {
        /// Code section.
        section: String,
        /// Slot in the section.
        slot: Slot,
        /// The kfunc.
        kfunc: &'static str,
    },
    /// A relocation against a metadata kfunc is on an instruction that is not a call.
    #[error("program {program}, insn {slot}: relocation against {kfunc} is not on a call")]
    NotACall {
        /// The function.
        program: String,
        /// Slot relative to the function.
        slot: Slot,
        /// The kfunc.
        kfunc: &'static str,
    },
    /// A struct layout lacks a field the driver's sequence reads.
    #[error("{driver} {kfunc}: {source}")]
    MissingField {
        /// The driver.
        driver: &'static str,
        /// The kfunc.
        kfunc: &'static str,
        /// Which layout and field.
        #[source]
        source: LayoutError,
    },
    /// A field exists but cannot be loaded by one instruction (its size, offset or placement).
    #[error("{driver} {kfunc}: field {layout}.{field} {reason}")]
    UnusableField {
        /// The driver.
        driver: &'static str,
        /// The kfunc.
        kfunc: &'static str,
        /// Layout name.
        layout: String,
        /// Field name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `loadable` lowering needs the target kernel's BTF ids ([`crate::emit::KernelIds`]).
    #[error("the loadable lowering needs the target kernel's BTF (e.g. /sys/kernel/btf/vmlinux)")]
    NeedsKernelBtf,
    /// A BTF file cannot be read.
    #[error("{path}: cannot read BTF: {reason}")]
    BtfRead {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A name the loadable lowering needs is not in the target's BTF.
    #[error("the target's BTF has no {name}")]
    MissingBtf {
        /// The function or struct name.
        name: String,
    },
    /// The `loadable` lowering casts the context to the driver's wrapper, which the target's
    /// BTF does not have.
    #[error("{driver} {kfunc}: the target's BTF has no struct {wrapper}, which the loadable lowering casts the context to (pass the BTF of a kernel or module that defines it)")]
    MissingWrapper {
        /// The driver.
        driver: &'static str,
        /// The kfunc.
        kfunc: &'static str,
        /// The wrapper struct.
        wrapper: &'static str,
    },
    /// The spill slots would not fit the 512-byte stack frame.
    #[error("program {program}: uses {depth} stack bytes; {needed} more for spilled arguments exceed 512")]
    StackFull {
        /// The function.
        program: String,
        /// Its stack depth.
        depth: u32,
        /// Bytes the spills need.
        needed: u32,
    },
    /// A struct a sequence reads a field of is not in the BTF the layouts were read from.
    #[error("{driver} {kfunc}: {btf} has no struct {layout} (needed for {layout}.{field})")]
    MissingBtfType {
        /// The driver.
        driver: &'static str,
        /// The kfunc.
        kfunc: &'static str,
        /// The BTF, in words.
        btf: String,
        /// The missing struct.
        layout: String,
        /// The field the sequence needs.
        field: String,
    },
    /// A profile cannot be read or built.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// A combination this crate does not lower.
    #[error("{driver} {kfunc}: no {lowering} lowering: {reason}")]
    Unsupported {
        /// The driver.
        driver: &'static str,
        /// The kfunc.
        kfunc: &'static str,
        /// The lowering.
        lowering: &'static str,
        /// Why.
        reason: String,
    },
}
