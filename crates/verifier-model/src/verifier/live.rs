//! Static register liveness, in the spirit of the kernel's `compute_live_registers`: for each
//! instruction, the registers whose current value some path from there may read before
//! writing. The explorer forgets dead registers in the states it keeps for pruning
//! ([`Liveness::clean`]), so two paths that differ only in values nobody reads again meet
//! (a loop whose body calls a helper would otherwise double its paths every iteration).

use bpf_patch::op::{CallTarget, Op};
use bpf_patch::Slot;

use super::helpers::{proto, Version};
use super::state::{Reg, State};

/// Registers R1-R5.
const ARGS: u16 = 0b11_1110;

/// Live registers per instruction (bit `r` for `Rr`), by slot.
#[derive(Clone, Debug)]
pub struct Liveness {
    live_in: Vec<u16>,
}

impl Liveness {
    /// Solves the backward dataflow problem over `ops` (a decoded program of `len` slots whose
    /// jumps the CFG check has validated). A call to a subprogram is a step to its return
    /// point that reads R1-R5 and writes R0-R5; the callee's body is solved in the same pass
    /// (its `exit` reads R0).
    pub fn new(ops: &[(Slot, Op)], len: usize, helpers: Version) -> Liveness {
        let mut uses = vec![0u16; len];
        let mut defs = vec![0u16; len];
        let mut succ: Vec<[Option<usize>; 2]> = vec![[None, None]; len];
        for &(slot, op) in ops {
            let pc = slot.index();
            let next = pc + op.slots() as usize;
            let target =
                op.branch_offset().and_then(|off| usize::try_from(next as i64 + i64::from(off)).ok());
            uses[pc] = match op {
                // A helper reads only the arguments its prototype has.
                Op::Call(CallTarget::Helper(id)) => {
                    proto(helpers, id).map_or(ARGS, |p| ARGS & ((1u16 << (p.args.len() + 1)) - 1))
                }
                _ => op.regs_read(),
            };
            defs[pc] = op.regs_written();
            succ[pc] = match op {
                Op::Exit => [None, None],
                Op::Ja { .. } | Op::Gotol { .. } => [target, None],
                Op::Jump { .. } | Op::MayGoto { .. } => [Some(next), target],
                _ => [Some(next), None],
            };
        }
        let mut live_in = vec![0u16; len];
        let mut changed = true;
        while changed {
            changed = false;
            for &(slot, _) in ops.iter().rev() {
                let pc = slot.index();
                let out = succ[pc].iter().flatten().filter_map(|&s| live_in.get(s)).fold(0, |a, b| a | b);
                let live = uses[pc] | (out & !defs[pc]);
                if live != live_in[pc] {
                    live_in[pc] = live;
                    changed = true;
                }
            }
        }
        Liveness { live_in }
    }

    /// Whether `Rr` may be read from instruction `pc` on.
    pub fn is_live(&self, pc: usize, r: usize) -> bool {
        self.live_in.get(pc).is_some_and(|m| m & (1 << r) != 0)
    }

    /// `state` at `pc` with every dead register of every frame made `NotInit` (which includes
    /// anything): the current frame's liveness at `pc`, a caller's at its call's return point
    /// (and, below a callback, at the helper call that runs it again).
    pub fn clean(&self, pc: usize, state: &State) -> State {
        let mut out = state.clone();
        let n = out.frames.len();
        for k in 0..n {
            let live = |r: usize| {
                if k + 1 == n {
                    return self.is_live(pc, r);
                }
                // A caller resumes after the call; a callback's caller goes back to the helper
                // call itself, which reads its arguments again.
                let callee = &out.frames[k + 1];
                self.is_live(callee.callsite + 1, r) || (callee.callback && self.is_live(callee.callsite, r))
            };
            let dead: Vec<usize> = (0..10).filter(|&r| !live(r)).collect();
            for r in dead {
                out.frames[k].regs[r] = Reg::NotInit;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(src: &str) -> (Liveness, usize) {
        let insns = bpf_patch::text::assemble(src).expect("assembles");
        let ops = bpf_patch::op::decode_all(&insns).expect("decodes");
        (Liveness::new(&ops, insns.len(), Version::Current), insns.len())
    }

    #[test]
    fn registers_are_live_from_their_last_write_to_their_last_read() {
        // 0: r1 = 1; 1: r2 = r1; 2: r0 = r2; 3: exit
        let (l, _) = live("r1 = 1\nr2 = r1\nr0 = r2\nexit");
        assert!(!l.is_live(0, 1), "r1 is written at 0");
        assert!(l.is_live(1, 1) && !l.is_live(1, 2));
        assert!(l.is_live(2, 2) && !l.is_live(2, 1));
        assert!(l.is_live(3, 0));
    }

    #[test]
    fn a_helper_call_reads_only_its_arguments_and_clobbers_r0_to_r5() {
        // ktime_get_ns (5) has no arguments; map_lookup_elem (1) has two.
        let (l, _) = live("r3 = 1\ncall 5\nr0 = 0\nexit");
        assert!(!l.is_live(1, 3), "R3 is not an argument of ktime_get_ns");
        let (l, _) = live("call 1\nr0 = 0\nexit");
        assert!(l.is_live(0, 1) && l.is_live(0, 2) && !l.is_live(0, 3));
    }

    #[test]
    fn both_successors_of_a_branch_count() {
        // 0: if r1 == 0 goto +2; 1: r0 = r2; 2: exit; 3: r0 = r3; 4: exit.
        let (l, _) = live("if r1 == 0 goto +2\nr0 = r2\nexit\nr0 = r3\nexit");
        assert!(l.is_live(0, 1) && l.is_live(0, 2) && l.is_live(0, 3));
        assert!(!l.is_live(1, 3), "the fall-through path never reads R3");
    }
}
