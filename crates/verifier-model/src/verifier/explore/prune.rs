//! What the explorer keeps at a prune point: fully explored states that prune (with the
//! kernel's hit/miss eviction) and states still being explored, which detect infinite loops
//! and, at loop heads, end an iteration.

use std::collections::HashSet;

use crate::verifier::state::State;

/// A fully explored state kept at a prune point, with dead registers forgotten.
pub(super) struct Kept {
    pub(super) state: State,
    /// Times it pruned a path, and times it was compared and did not.
    pub(super) hits: u32,
    pub(super) misses: u32,
}

/// A state still being explored at a prune point.
pub(super) struct Open {
    /// With dead registers forgotten.
    pub(super) state: State,
    /// When it was added (the latest one is the previous loop iteration's).
    pub(super) seq: u64,
}

/// The states of one prune point.
#[derive(Default)]
pub(super) struct PrunePoint {
    /// Fully explored: a state one of them includes needs no exploration.
    pub(super) done: Vec<Kept>,
    /// Still being explored (not every path from them followed yet): they do not prune,
    /// except at loop heads (`LoopHead`); meeting one again exactly is an infinite loop.
    /// Slots are reused (`Work::Done` names one).
    pub(super) open: Vec<Option<Open>>,
    pub(super) free: Vec<usize>,
    /// The open states, hashed, so that a long loop costs no scans to detect.
    pub(super) exact: HashSet<State>,
}
