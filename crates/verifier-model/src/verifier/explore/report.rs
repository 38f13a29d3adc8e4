//! What exploration reports: the verdict ([`Outcome`]), the kernel-style error ([`Diag`]) and
//! the counts and stack depths ([`Report`]).

/// An error as the kernel reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Diag {
    /// Instruction index (slot).
    pub insn: usize,
    /// The kernel's message.
    pub message: String,
    /// The registers of the current frame at that point.
    pub regs: String,
    /// Instructions of the path that led there, oldest first.
    pub path: Vec<usize>,
}

/// How exploration ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Every path is safe.
    Accept,
    /// The first error found.
    Reject(Diag),
    /// A construct the model does not decide yet.
    Unsupported {
        /// Where.
        insn: usize,
        /// What.
        what: String,
    },
}

/// The result of [`super::verify`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    /// The verdict.
    pub outcome: Outcome,
    /// Instructions processed, as the kernel counts them.
    pub insns_processed: u64,
    /// States kept for pruning.
    pub states: usize,
    /// Of an accepted program: each subprogram's first slot and the stack bytes it used on
    /// any path (`subprog_info[].stack_depth`, before the JIT's rounding). Empty otherwise.
    pub stack_depths: Vec<(usize, u32)>,
}

impl Report {
    /// A report without stack depths.
    pub(super) fn new(outcome: Outcome, insns_processed: u64, states: usize) -> Report {
        Report { outcome, insns_processed, states, stack_depths: Vec::new() }
    }
}
