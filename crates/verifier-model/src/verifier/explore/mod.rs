//! Path-sensitive exploration, the kernel's `do_check`: every path from the entry is followed
//! instruction by instruction on an abstract [`State`]; conditional jumps on scalars split or
//! decide ([`super::branch`]), NULL checks and packet bounds checks refine the registers that
//! share an id, and at prune points (jump targets, returns from calls) a state that a fully
//! explored state includes is not explored again. The first error stops everything and is
//! reported with the kernel's words, the instruction, the registers and the path to it.
//!
//! Calls: a static subprogram runs in a new frame on the caller's path; a helper's callback
//! (`bpf_loop`, `bpf_for_each_map_elem`) is explored from the helper call as often as the
//! kernel does, going back to the call after each run until the states converge; a global
//! function (per [`Env::funcs`]) is only checked against its prototype at the call and is
//! explored on its own afterwards (`do_check_subprogs`); after an
//! accepted exploration the combined stack of every call chain is checked
//! ([`super::subprog`]). `may_goto` jumps first and queues the fall-through one iteration
//! deeper, as the kernel does; past 128 iterations the scalars that changed since
//! the previous iteration are widened so that the loop converges.
//!
//! Kfunc calls and dynptr arguments are checked in `kcall` against prototypes from the
//! kernel's BTF ([`super::kfunc`]), dynptr stack slots kept as [`super::dynptr`] describes.
//! Unrolled regions ([`Env::trusted`]) follow the rules of [`super::trusted`] (in `trusted`).
//!
//! What is not modelled yet (kfuncs taking or returning kernel objects, timer callbacks,
//! atomics outside the stack and map values, helpers missing from [`super::helpers::CURRENT`])
//! ends the exploration with [`Outcome::Unsupported`], never with a verdict.

use std::cell::Cell;
use std::collections::HashMap;

use bpf_patch::op::{AluOp, AtomicOp, CallTarget, LdImm64Src, Op, Operand, Reg as R, Width};
use bpf_patch::{Insn, Slot};

use super::ctx::Access;
use super::helpers::Version;
use super::kfunc::KfuncTable;
use super::live::Liveness;
use super::scalar::Scalar;
use super::state::{Frame, Ptr, PtrKind, Reg, State};
use super::subprog::{self, FuncInfo, MAX_CALL_FRAMES};
use super::trusted::ProgramRegions;
use crate::load::{MapShape, ProgType};
use loops::{widen, LoopHead};

mod call;
mod kcall;
mod kcall_traits;
mod loops;
mod mem;
mod prune;
mod refine;
mod report;
mod trusted;

pub(crate) use call::release_reference;
use prune::{Kept, Open, PrunePoint};
pub use report::{Diag, Outcome, Report};

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`.
pub const INSN_LIMIT: u64 = 1_000_000;
/// States held for pruning and loop detection at once: beyond it new states are not kept
/// (pruning and loop detection weaken; verdicts stay sound). Bounds memory on programs that
/// run into [`INSN_LIMIT`] through long loops.
const MAX_HELD: usize = 1 << 16;
/// Loop iterations (`may_goto` depth, callback runs) explored exactly before widening. The
/// kernel widens at once the scalars that no earlier iteration needed precisely; the model keeps
/// no precision marks, so it follows the first iterations exactly (as the kernel follows its
/// precise counters) and widens every changed scalar after that.
const WIDEN_AFTER: u64 = 128;
/// `BPF_FUNC_for_each_map_elem`.
pub(crate) const FOR_EACH_MAP_ELEM: i32 = 164;
/// `BPF_FUNC_loop`.
pub(crate) const LOOP: i32 = 181;
/// `BPF_FUNC_tail_call`.
pub(crate) const TAIL_CALL: i32 = 12;

/// What the program runs with.
#[derive(Clone, Debug)]
pub struct Env<'a> {
    /// Program type (context rules, return rules).
    pub prog_type: ProgType,
    /// Maps by index (what `ld_imm64` map references name), then inner map templates
    /// ([`crate::load::ObjectImage::map_shapes`]).
    pub maps: &'a [MapShape],
    /// Maps the program may only read (`.rodata`, `.kconfig`), by index.
    pub read_only_maps: &'a [bool],
    /// Helper table.
    pub helpers: Version,
    /// The license is GPL-compatible.
    pub gpl: bool,
    /// Reading unwritten stack gives an unknown scalar instead of an error (the kernel's
    /// `allow_uninit_stack`, true for privileged loaders).
    pub allow_uninit_stack: bool,
    /// Kfunc names: a call with `BPF_PSEUDO_KFUNC_CALL` and `imm = i + 1` calls `kfuncs[i]`
    /// (the loader's numbering).
    pub kfuncs: &'a [String],
    /// Loaded device-bound (`BPF_F_XDP_DEV_BOUND_ONLY`).
    pub dev_bound: bool,
    /// The target kernel's kfunc prototypes (its BTF, or a bundled table); without, kfunc
    /// calls are not modelled, except the packet-trait kfuncs (bundled rules).
    pub kfunc_table: Option<&'a KfuncTable>,
    /// The program's BTF `func_info` (linkage of each function, prototypes of global ones);
    /// `None` when it is loaded without BTF (callbacks are then refused, and subprograms may
    /// not tail-call or use `LD_ABS`).
    pub funcs: Option<&'a [FuncInfo]>,
    /// Unrolled regions checked in the trusted-region mode ([`super::trusted`]); `None`: none.
    pub trusted: Option<&'a ProgramRegions<'a>>,
}

impl Env<'_> {
    /// A privileged (`allow_uninit_stack`), GPL-licensed `prog_type` program with the current
    /// helper table and nothing else: no maps, kfuncs, BTF `func_info` or trusted regions, not
    /// device-bound. Callers name what differs with struct-update syntax.
    pub fn new(prog_type: ProgType) -> Self {
        Env {
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
        }
    }
}

enum Stop {
    Reject(usize, String),
    Unsupported(usize, String),
}

type Step = Result<Vec<(usize, State)>, Stop>;

struct Explorer<'a> {
    ops: Vec<(Slot, Op)>,
    index: Vec<Option<usize>>,
    env: &'a Env<'a>,
    next_id: Cell<u32>,
    /// First slot of each subprogram, ascending.
    subprogs: Vec<usize>,
    /// Stack bytes each subprogram used on any path (`subprog_info[].stack_depth`).
    depths: Vec<Cell<u32>>,
    /// Static register liveness (dead registers are forgotten in kept states).
    live: Liveness,
    /// Per prune point: the states kept there.
    explored: HashMap<usize, PrunePoint>,
    /// Order of the states added to [`PrunePoint::open`].
    seq: u64,
    /// `(pc, open slot)` of the state the instruction being stepped added.
    cur_entry: Option<(usize, usize)>,
    /// First slots of the global functions explored paths call.
    called: Vec<usize>,
    /// The kfuncs the program calls, by call `imm`.
    kfuncs: HashMap<i32, kcall::Resolved>,
}

fn reject<T>(insn: usize, message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Reject(insn, message.into()))
}

fn unsupported<T>(insn: usize, what: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Unsupported(insn, what.into()))
}

fn rn(r: R) -> usize {
    usize::from(r.num())
}

fn unknown() -> Reg {
    Reg::Scalar(Scalar::UNKNOWN)
}

/// The registers of a frame as the kernel's log shows them (only written ones).
pub fn dump_regs(frame: &Frame) -> String {
    frame
        .regs
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r, Reg::NotInit))
        .map(|(i, r)| if i == 10 { "R10=fp0".to_owned() } else { format!("R{i}={r}") })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a program (all its slots): the CFG checks first, then exploration.
pub fn verify(insns: &[Insn], env: &Env<'_>) -> Result<Report, bpf_patch::DecodeError> {
    verify_observed(insns, env, &mut |_, _| {})
}

/// [`verify`], calling `observe(insn, state)` with every state explored, before the
/// instruction runs (for soundness checks against concrete runs).
pub fn verify_observed(
    insns: &[Insn],
    env: &Env<'_>,
    observe: &mut dyn FnMut(usize, &State),
) -> Result<Report, bpf_patch::DecodeError> {
    let ops = bpf_patch::op::decode_all(insns)?;
    if ops.is_empty() {
        // BPF_PROG_LOAD refuses an empty program with EINVAL before verification.
        let diag = Diag { insn: 0, message: "empty program".into(), regs: String::new(), path: Vec::new() };
        return Ok(Report::new(Outcome::Reject(diag), 0, 0));
    }
    let early = |insn: usize, message: String| {
        let diag = Diag { insn, message, regs: String::new(), path: Vec::new() };
        Ok(Report::new(Outcome::Reject(diag), 0, 0))
    };
    let subprogs = match super::cfg::check_subprogs(&ops, insns.len()) {
        Ok(s) => s,
        Err(e) => return early(e.insn.index(), e.message),
    };
    if env.funcs.is_none() {
        if let Err(e) = subprog::check_abnormal_return(&ops, &subprogs) {
            return early(e.insn, e.message);
        }
    }
    if let Err(e) = super::cfg::check_cfg(&ops, insns.len(), subprogs.clone()) {
        return early(e.insn.index(), e.message);
    }
    let kfuncs = match kcall::resolve(&ops, env) {
        Ok(k) => k,
        Err(message) => return early(0, message),
    };
    let mut index = vec![None; insns.len()];
    for (i, (s, _)) in ops.iter().enumerate() {
        index[s.index()] = Some(i);
    }
    let mut prune = vec![false; insns.len()];
    for &(s, op) in &ops {
        // Force checkpoints: loops through callbacks, may_goto and iterators converge here.
        if matches!(op, Op::MayGoto { .. } | Op::Call(CallTarget::Helper(LOOP | FOR_EACH_MAP_ELEM)))
            || kcall::iter_next_call(&op, &kfuncs)
        {
            prune[s.index()] = true;
        }
        let rel = match op {
            Op::Jump { off, .. } | Op::Ja { off } | Op::MayGoto { off } => i64::from(off),
            Op::Gotol { imm } => i64::from(imm),
            Op::Call(_) => 0,
            _ => continue,
        };
        for t in [i64::from(s.0) + 1 + rel, i64::from(s.0) + 1] {
            if let Some(p) = usize::try_from(t).ok().and_then(|t| prune.get_mut(t)) {
                *p = true;
            }
        }
    }
    if !super::ctx::modelled(env.prog_type) {
        let what = format!("program type {} (its context rules are not modelled)", env.prog_type);
        return Ok(Report::new(Outcome::Unsupported { insn: 0, what }, 0, 0));
    }
    let depths = subprogs.iter().map(|_| Cell::new(0)).collect();
    let live = Liveness::new(&ops, insns.len(), env.helpers);
    let mut ex = Explorer {
        ops,
        live,
        index,
        env,
        next_id: Cell::new(0),
        subprogs,
        depths,
        explored: HashMap::new(),
        seq: 0,
        cur_entry: None,
        called: Vec::new(),
        kfuncs,
    };
    let mut regs = [Reg::NotInit; 11];
    regs[1] = Reg::Ptr(Ptr::new(PtrKind::Ctx, 0));
    regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: 0 }, 0));
    let main = State { frames: vec![Frame::new(regs, 0)], may_goto_depth: 0, refs: Vec::new() };
    let mut report = ex.run(&prune, observe, 0, main);
    // do_check_subprogs: global functions the explored paths call, each on its own with
    // arguments from its prototype, until no new one is called.
    let mut verified = Vec::new();
    while report.outcome == Outcome::Accept {
        let Some(start) = ex.called.iter().copied().filter(|s| !verified.contains(s)).min() else { break };
        verified.push(start);
        let state = match ex.global_entry(start) {
            Ok(s) => s,
            Err(what) => {
                report.outcome = Outcome::Unsupported { insn: start, what };
                break;
            }
        };
        ex.explored.clear();
        let r = ex.run(&prune, observe, start, state);
        report.insns_processed += r.insns_processed;
        report.states += r.states;
        report.outcome = r.outcome;
    }
    if report.outcome == Outcome::Accept {
        let depths: Vec<u32> = ex.depths.iter().map(Cell::get).collect();
        if let Err(e) = subprog::check_max_stack_depth(&ex.ops, &ex.subprogs, &depths) {
            let diag = Diag { insn: e.insn, message: e.message, regs: String::new(), path: Vec::new() };
            report.outcome = Outcome::Reject(diag);
        } else {
            report.stack_depths = ex.subprogs.iter().copied().zip(depths).collect();
        }
    }
    Ok(report)
}

enum Work {
    Visit {
        pc: usize,
        state: State,
        node: usize,
    },
    /// Every path from the state in `open[slot]` of prune point `pc` has been explored.
    Done {
        pc: usize,
        slot: usize,
    },
}

impl<'a> Explorer<'a> {
    /// `do_check`: explores every path from `entry` in state `start`.
    fn run(
        &mut self,
        prune: &[bool],
        observe: &mut dyn FnMut(usize, &State),
        entry: usize,
        start: State,
    ) -> Report {
        // Path tree: (insn, parent node).
        let mut tree: Vec<(usize, usize)> = vec![(entry, usize::MAX)];
        let mut work = vec![Work::Visit { pc: entry, state: start, node: 0 }];
        let mut processed = 0u64;
        let mut kept = 0usize;
        // States held now (open and done, all prune points), bounded by MAX_HELD.
        let mut held = 0usize;
        let path = |tree: &[(usize, usize)], mut node: usize| {
            let mut p = Vec::new();
            while node != usize::MAX {
                p.push(tree[node].0);
                node = tree[node].1;
            }
            p.reverse();
            p
        };
        while let Some(w) = work.pop() {
            let (pc, state, node) = match w {
                Work::Done { pc, slot } => {
                    if let Some(p) = self.explored.get_mut(&pc) {
                        if let Some(open) = p.open.get_mut(slot).and_then(Option::take) {
                            p.exact.remove(&open.state);
                            p.free.push(slot);
                            p.done.push(Kept { state: open.state, hits: 0, misses: 0 });
                        }
                    }
                    continue;
                }
                Work::Visit { pc, state, node } => (pc, state, node),
            };
            processed += 1;
            if processed > INSN_LIMIT {
                let message = format!("BPF program is too large. Processed {processed} insn");
                let diag = Diag { insn: pc, message, regs: dump_regs(state.cur()), path: path(&tree, node) };
                return Report::new(Outcome::Reject(diag), processed, kept);
            }
            self.cur_entry = None;
            if prune.get(pc).copied().unwrap_or(false) {
                let loop_head = self.loop_head(pc);
                let point = self.explored.entry(pc).or_default();
                // The kernel's eviction: a fully explored state that keeps missing is no
                // longer compared.
                let mut hit = false;
                let before = point.done.len();
                point.done.retain_mut(|k| {
                    if hit {
                        return true;
                    }
                    if k.state.includes(&state) {
                        k.hits += 1;
                        hit = true;
                        return true;
                    }
                    k.misses += 1;
                    k.misses <= k.hits * 3 + 3
                });
                held -= before - point.done.len();
                if hit {
                    continue;
                }
                // Kept states forget dead registers: paths that differ only there meet. (A
                // visit pruned above needs no copy.)
                let clean = self.live.clean(pc, &state);
                // is_state_visited: at a callback call, a state of an earlier iteration
                // still being explored that includes this one ends the iteration; at
                // may_goto, one from another iteration depth does.
                let loop_hit = |s: &State| match loop_head {
                    LoopHead::Callback => s.includes(&state),
                    LoopHead::MayGoto => s.may_goto_depth != state.may_goto_depth && s.includes(&state),
                    LoopHead::IterNext => loops::iter_active(&state) && s.includes(&state),
                    LoopHead::No => false,
                };
                if loop_head != LoopHead::No && point.open.iter().flatten().any(|o| loop_hit(&o.state)) {
                    continue;
                }
                // is_state_visited skips the infinite loop check at iterator heads.
                if point.exact.contains(&clean) && loop_head != LoopHead::IterNext {
                    let diag = Diag {
                        insn: pc,
                        message: format!("infinite loop detected at insn {pc}"),
                        regs: dump_regs(state.cur()),
                        path: path(&tree, node),
                    };
                    return Report::new(Outcome::Reject(diag), processed, kept);
                }
                if held < MAX_HELD {
                    self.seq += 1;
                    let open = Open { state: clean.clone(), seq: self.seq };
                    let slot = match point.free.pop() {
                        Some(f) => {
                            point.open[f] = Some(open);
                            f
                        }
                        None => {
                            point.open.push(Some(open));
                            point.open.len() - 1
                        }
                    };
                    point.exact.insert(clean);
                    kept += 1;
                    held += 1;
                    work.push(Work::Done { pc, slot });
                    self.cur_entry = Some((pc, slot));
                }
            }
            observe(pc, &state);
            match self.step_checked(pc, state.clone()) {
                Ok(next) => {
                    // Push in reverse so the first successor (the fall-through) is explored first.
                    for (npc, nstate) in next.into_iter().rev() {
                        tree.push((npc, node));
                        work.push(Work::Visit { pc: npc, state: nstate, node: tree.len() - 1 });
                    }
                }
                Err(Stop::Reject(insn, message)) => {
                    let diag = Diag { insn, message, regs: dump_regs(state.cur()), path: path(&tree, node) };
                    return Report::new(Outcome::Reject(diag), processed, kept);
                }
                Err(Stop::Unsupported(insn, what)) => {
                    return Report::new(Outcome::Unsupported { insn, what }, processed, kept);
                }
            }
        }
        Report::new(Outcome::Accept, processed, kept)
    }

    fn fresh_id(&self) -> u32 {
        self.next_id.set(self.next_id.get() + 1);
        self.next_id.get()
    }

    fn next(&self, pc: usize, op: &Op) -> usize {
        pc + if matches!(op, Op::LdImm64 { .. }) { 2 } else { 1 }
    }

    fn target(&self, pc: usize, rel: i64) -> usize {
        (pc as i64 + 1 + rel) as usize
    }

    fn read(&self, pc: usize, st: &State, r: R) -> Result<Reg, Stop> {
        match st.cur().regs[rn(r)] {
            Reg::NotInit => reject(pc, format!("R{} !read_ok", r.num())),
            v => Ok(v),
        }
    }

    fn write(&self, pc: usize, st: &mut State, r: R, v: Reg) -> Result<(), Stop> {
        if r == R::R10 {
            return reject(pc, "frame pointer is read only");
        }
        st.cur_mut().regs[rn(r)] = v;
        Ok(())
    }

    fn step(&mut self, pc: usize, mut st: State) -> Step {
        let Some(k) = self.index[pc] else {
            return unsupported(pc, "execution reached the second slot of ld_imm64");
        };
        let op = self.ops[k].1;
        let next = self.next(pc, &op);
        match op {
            Op::Alu { width, op: aop, dst, src } => {
                let s = match src {
                    Operand::Reg(r) => self.read(pc, &st, r)?,
                    Operand::Imm(i) => Reg::Scalar(Scalar::constant(match width {
                        Width::W64 => i as i64 as u64,
                        Width::W32 => u64::from(i as u32),
                    })),
                };
                let v = self.alu(pc, &st, width, aop, dst, s)?;
                self.write(pc, &mut st, dst, v)?;
                Ok(vec![(next, st)])
            }
            Op::Neg { width, dst } => {
                let v = match self.read(pc, &st, dst)? {
                    Reg::Scalar(s) => Reg::Scalar(s.neg(width)),
                    Reg::Ptr(_) => {
                        return reject(
                            pc,
                            format!("R{} pointer arithmetic with neg operator prohibited", dst.num()),
                        )
                    }
                    Reg::NotInit => unreachable!("read checks"),
                };
                self.write(pc, &mut st, dst, v)?;
                Ok(vec![(next, st)])
            }
            Op::Endian { dst, .. } => {
                match self.read(pc, &st, dst)? {
                    Reg::Scalar(_) => {}
                    _ => return reject(pc, format!("R{} pointer arithmetic prohibited", dst.num())),
                }
                self.write(pc, &mut st, dst, unknown())?;
                Ok(vec![(next, st)])
            }
            Op::LdImm64 { dst, src, imm, next_imm } => {
                let v = match src {
                    LdImm64Src::Imm => Reg::Scalar(Scalar::constant(Op::imm64(imm, next_imm))),
                    LdImm64Src::MapFd | LdImm64Src::MapIdx => match self.map(imm) {
                        Some(_) => Reg::Ptr(Ptr::new(PtrKind::Map { map: imm as u32 }, 0)),
                        None => return reject(pc, format!("fd {imm} is not pointing to valid bpf_map")),
                    },
                    LdImm64Src::MapValue | LdImm64Src::MapIdxValue => match self.map(imm) {
                        Some(_) => Reg::Ptr(Ptr::new(PtrKind::MapValue { map: imm as u32 }, next_imm)),
                        None => return reject(pc, format!("fd {imm} is not pointing to valid bpf_map")),
                    },
                    LdImm64Src::Func => {
                        let target = self.target(pc, i64::from(imm));
                        let Some(funcs) = self.env.funcs else {
                            return reject(pc, "missing btf func_info");
                        };
                        if funcs.iter().any(|f| f.start.index() == target && f.global) {
                            return reject(pc, "callback function not static");
                        }
                        Reg::Ptr(Ptr::new(PtrKind::Func { subprog: target as u32 }, 0))
                    }
                    LdImm64Src::BtfId => return unsupported(pc, "ld_imm64 of a kernel BTF id"),
                };
                self.write(pc, &mut st, dst, v)?;
                Ok(vec![(next, st)])
            }
            Op::Load { size, signed, dst, src, off } => {
                let base = self.read(pc, &st, src)?;
                let v = self.mem_access(pc, &mut st, src, base, off, size.bytes(), Access::Read, None)?;
                let v = match (v, signed) {
                    (Reg::Scalar(s), true) => {
                        Reg::Scalar(s.alu(AluOp::Movsx((size.bytes() * 8) as u8), Width::W64, s))
                    }
                    // coerce_reg_to_size: a narrow load is zero-extended.
                    (Reg::Scalar(s), false) if size.bytes() < 8 => {
                        let mask = (1u64 << (8 * size.bytes())) - 1;
                        Reg::Scalar(s.alu(AluOp::And, Width::W64, Scalar::constant(mask)))
                    }
                    (v, _) => v,
                };
                self.write(pc, &mut st, dst, v)?;
                Ok(vec![(next, st)])
            }
            Op::Store { size, dst, off, src } => {
                let base = self.read(pc, &st, dst)?;
                let value = self.read(pc, &st, src)?;
                self.mem_access(pc, &mut st, dst, base, off, size.bytes(), Access::Write, Some(value))?;
                Ok(vec![(next, st)])
            }
            Op::StoreImm { size, dst, off, imm } => {
                let base = self.read(pc, &st, dst)?;
                let value = Reg::Scalar(Scalar::constant(imm as i64 as u64));
                self.mem_access(pc, &mut st, dst, base, off, size.bytes(), Access::Write, Some(value))?;
                Ok(vec![(next, st)])
            }
            Op::Atomic { size, op: aop, dst, src, off } => {
                let base = self.read(pc, &st, dst)?;
                if !matches!(
                    base,
                    Reg::Ptr(Ptr { kind: PtrKind::Stack { .. } | PtrKind::MapValue { .. }, .. })
                ) {
                    return unsupported(pc, "atomic operation outside the stack and map values");
                }
                if !matches!(aop, AtomicOp::LoadAcquire) {
                    self.read(pc, &st, src)?;
                }
                let n = size.bytes();
                self.mem_access(pc, &mut st, dst, base, off, n, Access::Read, None)?;
                self.mem_access(pc, &mut st, dst, base, off, n, Access::Write, Some(unknown()))?;
                match aop {
                    AtomicOp::Cmpxchg => self.write(pc, &mut st, R::R0, unknown())?,
                    AtomicOp::Xchg
                    | AtomicOp::Add { fetch: true }
                    | AtomicOp::Or { fetch: true }
                    | AtomicOp::And { fetch: true }
                    | AtomicOp::Xor { fetch: true } => self.write(pc, &mut st, src, unknown())?,
                    _ => {}
                }
                Ok(vec![(next, st)])
            }
            Op::LdAbs { .. } | Op::LdInd { .. } => {
                if !matches!(
                    self.env.prog_type,
                    ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct | ProgType::CgroupSkb
                ) {
                    return reject(pc, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
                }
                if !st.refs.is_empty() {
                    return reject(pc, "BPF_LD_[ABS|IND] cannot be mixed with socket references");
                }
                if !matches!(st.cur().regs[6], Reg::Ptr(Ptr { kind: PtrKind::Ctx, .. })) {
                    return reject(pc, "at the time of BPF_LD_ABS|IND R6 != pointer to skb");
                }
                if let Op::LdInd { src, .. } = op {
                    self.read(pc, &st, src)?;
                }
                let f = st.cur_mut();
                for r in 1..=5 {
                    f.regs[r] = Reg::NotInit;
                }
                f.regs[0] = unknown();
                Ok(vec![(next, st)])
            }
            Op::Ja { off } => Ok(vec![(self.target(pc, i64::from(off)), st)]),
            Op::Gotol { imm } => Ok(vec![(self.target(pc, i64::from(imm)), st)]),
            Op::MayGoto { off } => Ok(self.may_goto(pc, st, next, self.target(pc, i64::from(off)))),
            Op::Jump { width, cond, dst, src, off } => {
                let a = self.read(pc, &st, dst)?;
                let (b, src_reg) = match src {
                    Operand::Reg(r) => (self.read(pc, &st, r)?, Some(r)),
                    Operand::Imm(i) => (Reg::Scalar(Scalar::constant(i as i64 as u64)), None),
                };
                self.jump(pc, st, next, self.target(pc, i64::from(off)), width, cond, (dst, a), (src_reg, b))
            }
            Op::Call(CallTarget::Helper(id)) => self.call_helper(pc, st, next, id),
            Op::Call(CallTarget::Local(imm)) => {
                let target = self.target(pc, i64::from(imm));
                if self.global(target).is_none() && st.frames.len() >= MAX_CALL_FRAMES {
                    return reject(
                        pc,
                        format!("the call stack of {} frames is too deep", st.frames.len() + 1),
                    );
                }
                if let Some(f) = self.global(target) {
                    return self.call_global(pc, st, next, f);
                }
                let caller = st.cur().regs;
                let mut regs = [Reg::NotInit; 11];
                regs[1..6].copy_from_slice(&caller[1..6]);
                st.frames.push(self.callee_frame(&st, regs, pc, target));
                Ok(vec![(target, st)])
            }
            Op::Call(CallTarget::Kfunc { btf_id, off: 0 }) => self.call_kfunc(pc, st, next, btf_id),
            Op::Call(CallTarget::Kfunc { .. }) => unsupported(pc, "kfunc call into a module's BTF"),
            Op::Callx { .. } => unsupported(pc, "callx"),
            Op::Exit => self.exit(pc, st),
        }
    }

    fn map(&self, imm: i32) -> Option<&MapShape> {
        usize::try_from(imm).ok().and_then(|i| self.env.maps.get(i))
    }

    fn alu(&mut self, pc: usize, st: &State, width: Width, op: AluOp, dst: R, s: Reg) -> Result<Reg, Stop> {
        let d = dst.num();
        if let AluOp::Mov | AluOp::Movsx(_) = op {
            return Ok(match (s, width, op) {
                (Reg::Scalar(v), _, _) => Reg::Scalar(Scalar::UNKNOWN.alu(op, width, v)),
                (p @ Reg::Ptr(_), Width::W64, AluOp::Mov) => p,
                // A partial copy of a pointer is an unknown scalar for privileged programs.
                (Reg::Ptr(_), _, _) => Reg::Scalar(Scalar::UNKNOWN.alu(AluOp::Mov, width, Scalar::UNKNOWN)),
                (Reg::NotInit, ..) => unreachable!("read checks"),
            });
        }
        let dv = self.read(pc, st, dst)?;
        let any_ptr = matches!(dv, Reg::Ptr(_)) || matches!(s, Reg::Ptr(_));
        // Privileged programs (allow_ptr_leaks): 32-bit subtraction involving a pointer, and
        // pointer minus pointer, give unknown scalars.
        if any_ptr && op == AluOp::Sub && width == Width::W32 {
            return Ok(Reg::Scalar(Scalar::UNKNOWN.alu(AluOp::Mov, Width::W32, Scalar::UNKNOWN)));
        }
        match (dv, s) {
            (Reg::Scalar(a), Reg::Scalar(b)) => Ok(Reg::Scalar(a.alu(op, width, b))),
            (Reg::Ptr(p), Reg::Scalar(v)) => self.ptr_arith(pc, d, width, op, p, v),
            (Reg::Scalar(v), Reg::Ptr(p)) => {
                if width == Width::W64 && op == AluOp::Sub {
                    return reject(pc, format!("R{d} tried to subtract pointer from scalar"));
                }
                self.ptr_arith(pc, d, width, op, p, v)
            }
            (Reg::Ptr(_), Reg::Ptr(_)) if op == AluOp::Sub => Ok(unknown()),
            (Reg::Ptr(_), Reg::Ptr(_)) => {
                reject(pc, format!("R{d} pointer {}= pointer prohibited", op_name(op)))
            }
            _ => unreachable!("both operands were read"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ptr_arith(
        &mut self,
        pc: usize,
        d: u8,
        width: Width,
        op: AluOp,
        p: Ptr,
        v: Scalar,
    ) -> Result<Reg, Stop> {
        if width == Width::W32 {
            return reject(pc, format!("R{d} 32-bit pointer arithmetic prohibited"));
        }
        if p.maybe_null {
            return reject(
                pc,
                format!("R{d} pointer arithmetic on {} prohibited, null-check it first", p.type_name()),
            );
        }
        if matches!(p.kind, PtrKind::Map { .. } | PtrKind::PacketEnd | PtrKind::Func { .. }) {
            return reject(pc, format!("R{d} pointer arithmetic on {} prohibited", p.kind.name()));
        }
        match op {
            AluOp::Add | AluOp::Sub => {}
            AluOp::And | AluOp::Or | AluOp::Xor => {
                return reject(pc, format!("R{d} bitwise operator {}= on pointer prohibited", op_name(op)))
            }
            _ => {
                return reject(
                    pc,
                    format!("R{d} pointer arithmetic with {}= operator prohibited", op_name(op)),
                )
            }
        }
        let mut r = p;
        match v.as_const() {
            Some(c) => {
                let c = if op == AluOp::Sub { (c as i64).wrapping_neg() } else { c as i64 };
                let off = i64::from(p.off) + c;
                r.off = i32::try_from(off)
                    .map_err(|_| Stop::Reject(pc, format!("R{d} pointer offset {off} is not allowed")))?;
            }
            None => {
                if op == AluOp::Sub {
                    return unsupported(pc, "subtracting a variable from a pointer");
                }
                r.var = p.var.alu(AluOp::Add, Width::W64, v);
                if let PtrKind::Trusted { .. } = p.kind {
                    r.kind = PtrKind::TrustedMem;
                }
                if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
                    r.id = self.fresh_id();
                    r.range = 0;
                }
            }
        }
        Ok(Reg::Ptr(r))
    }
}

fn op_name(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+",
        AluOp::Sub => "-",
        AluOp::Mul => "*",
        AluOp::Div | AluOp::Sdiv => "/",
        AluOp::Mod | AluOp::Smod => "%",
        AluOp::Or => "|",
        AluOp::And => "&",
        AluOp::Xor => "^",
        AluOp::Lsh => "<<",
        AluOp::Rsh => ">>",
        AluOp::Arsh => "s>>",
        AluOp::Mov | AluOp::Movsx(_) => "=",
    }
}
