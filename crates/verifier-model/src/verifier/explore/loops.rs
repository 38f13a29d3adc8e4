//! Loops the kernel lets a program run without a visible bound: `may_goto`, the callbacks of
//! `bpf_loop` / `bpf_for_each_map_elem` and open-coded iterators (`bpf_iter_num_next`). Their heads are forced prune points where a state of
//! an earlier iteration that is still being explored and includes the new one ends the loop
//! (`is_state_visited`), and where scalars that changed since the previous iteration are
//! widened (`widen_imprecise_scalars`) once `WIDEN_AFTER` iterations were followed exactly.

use bpf_patch::op::{CallTarget, Op};

use super::{unknown, Explorer, FOR_EACH_MAP_ELEM, LOOP, WIDEN_AFTER};
use crate::verifier::iter;
use crate::verifier::state::{Ptr, PtrKind, Reg, StackSlot, State};

impl Explorer<'_> {
    /// Which loop-convergence rule of `is_state_visited` applies at `pc`.
    pub(super) fn loop_head(&self, pc: usize) -> LoopHead {
        match self.index[pc].map(|k| self.ops[k].1) {
            Some(Op::MayGoto { .. }) => LoopHead::MayGoto,
            Some(Op::Call(CallTarget::Helper(LOOP | FOR_EACH_MAP_ELEM))) => LoopHead::Callback,
            Some(Op::Call(CallTarget::Kfunc { btf_id, off: 0 })) if self.is_iter_next(btf_id) => {
                LoopHead::IterNext
            }
            _ => LoopHead::No,
        }
    }

    /// `find_prev_entry`: the latest state at `pc` still being explored, other than the one
    /// the current step added, with the same call frames as `st` (an earlier iteration).
    pub(super) fn prev_entry(&self, pc: usize, st: &State) -> Option<State> {
        let point = self.explored.get(&pc)?;
        let same_calls = |s: &State| {
            s.frames.len() == st.frames.len()
                && s.frames.iter().zip(&st.frames).all(|(a, b)| a.callsite == b.callsite)
        };
        point
            .open
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|o| (i, o)))
            .filter(|(i, o)| Some((pc, *i)) != self.cur_entry && same_calls(&o.state))
            .max_by_key(|(_, o)| o.seq)
            .map(|(_, o)| o.state.clone())
    }

    /// `may_goto`: the jump to `target` (the loop's exit) is followed first; the fall-through
    /// to `next` is queued one iteration deeper, widened against the previous iteration.
    pub(super) fn may_goto(&self, pc: usize, st: State, next: usize, target: usize) -> Vec<(usize, State)> {
        let mut fall = st.clone();
        fall.may_goto_depth += 1;
        if u64::from(fall.may_goto_depth) > WIDEN_AFTER {
            if let Some(prev) = self.prev_entry(pc, &st) {
                widen(&prev, &mut fall);
            }
        }
        vec![(target, st), (next, fall)]
    }
}

/// The convergence rule `is_state_visited` applies at a prune point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LoopHead {
    /// A helper call that calls a callback.
    Callback,
    /// A `may_goto`.
    MayGoto,
    /// A `bpf_iter_num_next` call.
    IterNext,
    /// Anything else.
    No,
}

/// Whether R1 at a `bpf_iter_num_next` call points to an active iterator: only then does a
/// state of an earlier iteration that includes this one end the loop.
pub(super) fn iter_active(st: &State) -> bool {
    let Reg::Ptr(p @ Ptr { kind: PtrKind::Stack { frame }, .. }) = st.cur().regs[1] else { return false };
    let Some(f) = st.frames.get(usize::from(frame)) else { return false };
    iter::spi(&p, f).ok().and_then(|s| iter::slot(f, s)).is_some_and(|i| i.active)
}

/// `widen_imprecise_scalars`: scalars of `cur` (registers and spilled slots) that differ from
/// the same place in `prev`, the previous iteration's state, become unknown. The model keeps
/// no precision marks, so every scalar counts as imprecise.
pub(super) fn widen(prev: &State, cur: &mut State) {
    let widen_reg = |old: &Reg, new: &mut Reg| {
        if let (Reg::Scalar(a), Reg::Scalar(b)) = (old, &*new) {
            if a != b {
                *new = unknown();
            }
        }
    };
    for (fo, fc) in prev.frames.iter().zip(cur.frames.iter_mut()) {
        for (o, c) in fo.regs.iter().zip(fc.regs.iter_mut()) {
            widen_reg(o, c);
        }
        for (i, c) in fc.stack.iter_mut().enumerate() {
            if let (StackSlot::Spill(o), StackSlot::Spill(c)) = (fo.slot(i), c) {
                widen_reg(&o, c);
            }
        }
    }
}
