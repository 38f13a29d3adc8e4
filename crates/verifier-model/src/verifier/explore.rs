//! Path-sensitive exploration, the kernel's `do_check`: every path from the entry is followed
//! instruction by instruction on an abstract [`State`]; conditional jumps on scalars split or
//! decide ([`super::branch`]), NULL checks and packet bounds checks refine the registers that
//! share an id, and at prune points (jump targets, returns from calls) a state that a fully
//! explored state includes is not explored again. The first error stops everything and is
//! reported with the kernel's words, the instruction, the registers and the path to it.
//!
//! What is not modelled yet (kfunc calls, callbacks, dynptrs, atomics outside the stack and
//! map values, helpers missing from [`super::helpers::CURRENT`]) ends the exploration with
//! [`Outcome::Unsupported`], never with a verdict.

use std::collections::HashMap;

use bpf_patch::op::{AluOp, AtomicOp, CallTarget, Cond, LdImm64Src, Op, Operand, Reg as R, Width};
use bpf_patch::{Insn, Slot};

use super::branch::{branch_taken, refine};
use super::ctx::{self, Access, CtxField};
use super::helpers::{proto, Arg, Ret, Version};
use super::scalar::Scalar;
use super::state::{Byte, Frame, Ptr, PtrKind, Reg, StackSlot, State, STACK_SLOTS};
use crate::interp::MapDef;
use crate::load::ProgType;

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`.
pub const INSN_LIMIT: u64 = 1_000_000;
/// States kept per prune point.
const MAX_STATES_PER_INSN: usize = 64;
/// The kernel's `MAX_CALL_FRAMES`.
const MAX_FRAMES: usize = 8;

/// What the program runs with.
#[derive(Clone, Debug)]
pub struct Env<'a> {
    /// Program type (context rules, return rules).
    pub prog_type: ProgType,
    /// Maps by index (what `ld_imm64` map references name).
    pub maps: &'a [MapDef],
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
}

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

/// The result of [`verify`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    /// The verdict.
    pub outcome: Outcome,
    /// Instructions processed, as the kernel counts them.
    pub insns_processed: u64,
    /// States kept for pruning.
    pub states: usize,
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
    next_id: u32,
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
        return Ok(Report { outcome: Outcome::Reject(diag), insns_processed: 0, states: 0 });
    }
    if let Err(e) = super::cfg::check(&ops, insns.len()) {
        let diag = Diag { insn: e.insn.index(), message: e.message, regs: String::new(), path: Vec::new() };
        return Ok(Report { outcome: Outcome::Reject(diag), insns_processed: 0, states: 0 });
    }
    // add_kfunc_call: the XDP metadata kfuncs need a device-bound program.
    for (_, op) in &ops {
        if let Op::Call(CallTarget::Kfunc { btf_id, .. }) = op {
            let name = usize::try_from(*btf_id - 1).ok().and_then(|i| env.kfuncs.get(i));
            if name.is_some_and(|n| n.starts_with("bpf_xdp_metadata_")) && !env.dev_bound {
                let diag = Diag {
                    insn: 0,
                    message: "metadata kfuncs require device-bound program".into(),
                    regs: String::new(),
                    path: Vec::new(),
                };
                return Ok(Report { outcome: Outcome::Reject(diag), insns_processed: 0, states: 0 });
            }
        }
    }
    let mut index = vec![None; insns.len()];
    for (i, (s, _)) in ops.iter().enumerate() {
        index[s.index()] = Some(i);
    }
    let mut prune = vec![false; insns.len()];
    for &(s, op) in &ops {
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
    if env.prog_type == ProgType::Other {
        let what = "program type (only xdp, tc, socket filter and cgroup skb are modelled)".into();
        return Ok(Report { outcome: Outcome::Unsupported { insn: 0, what }, insns_processed: 0, states: 0 });
    }
    let mut ex = Explorer { ops, index, env, next_id: 0 };
    Ok(ex.run(&prune, observe))
}

enum Work {
    Visit { pc: usize, state: State, node: usize },
    Done { pc: usize, idx: usize },
}

impl Explorer<'_> {
    fn run(&mut self, prune: &[bool], observe: &mut dyn FnMut(usize, &State)) -> Report {
        let mut regs = [Reg::NotInit; 11];
        regs[1] = Reg::Ptr(Ptr::new(PtrKind::Ctx, 0));
        regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: 0 }, 0));
        let start = State { frames: vec![Frame::new(regs, 0)] };
        // Path tree: (insn, parent node).
        let mut tree: Vec<(usize, usize)> = vec![(0, usize::MAX)];
        let mut explored: HashMap<usize, Vec<(State, bool)>> = HashMap::new();
        let mut work = vec![Work::Visit { pc: 0, state: start, node: 0 }];
        let mut processed = 0u64;
        let mut kept = 0usize;
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
                Work::Done { pc, idx } => {
                    if let Some(e) = explored.get_mut(&pc).and_then(|v| v.get_mut(idx)) {
                        e.1 = true;
                    }
                    continue;
                }
                Work::Visit { pc, state, node } => (pc, state, node),
            };
            processed += 1;
            if processed > INSN_LIMIT {
                let message = format!("BPF program is too large. Processed {processed} insn");
                let diag = Diag { insn: pc, message, regs: dump_regs(state.cur()), path: path(&tree, node) };
                return Report { outcome: Outcome::Reject(diag), insns_processed: processed, states: kept };
            }
            if prune.get(pc).copied().unwrap_or(false) {
                let seen = explored.entry(pc).or_default();
                if seen.iter().any(|(s, done)| *done && s.includes(&state)) {
                    continue;
                }
                if seen.iter().any(|(s, done)| !*done && *s == state) {
                    let diag = Diag {
                        insn: pc,
                        message: format!("infinite loop detected at insn {pc}"),
                        regs: dump_regs(state.cur()),
                        path: path(&tree, node),
                    };
                    return Report {
                        outcome: Outcome::Reject(diag),
                        insns_processed: processed,
                        states: kept,
                    };
                }
                if seen.len() >= MAX_STATES_PER_INSN {
                    // Forget the oldest fully explored state (the kernel evicts states that keep
                    // missing); a slot that is still being explored stays for loop detection.
                    if let Some(k) = seen.iter().position(|(_, done)| *done) {
                        seen[k] = (state.clone(), false);
                        work.push(Work::Done { pc, idx: k });
                    }
                } else {
                    seen.push((state.clone(), false));
                    kept += 1;
                    work.push(Work::Done { pc, idx: seen.len() - 1 });
                }
            }
            observe(pc, &state);
            match self.step(pc, state.clone()) {
                Ok(next) => {
                    // Push in reverse so the first successor (the fall-through) is explored first.
                    for (npc, nstate) in next.into_iter().rev() {
                        tree.push((npc, node));
                        work.push(Work::Visit { pc: npc, state: nstate, node: tree.len() - 1 });
                    }
                }
                Err(Stop::Reject(insn, message)) => {
                    let diag = Diag { insn, message, regs: dump_regs(state.cur()), path: path(&tree, node) };
                    return Report {
                        outcome: Outcome::Reject(diag),
                        insns_processed: processed,
                        states: kept,
                    };
                }
                Err(Stop::Unsupported(insn, what)) => {
                    return Report {
                        outcome: Outcome::Unsupported { insn, what },
                        insns_processed: processed,
                        states: kept,
                    };
                }
            }
        }
        Report { outcome: Outcome::Accept, insns_processed: processed, states: kept }
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
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
                    LdImm64Src::Func => Reg::Ptr(Ptr::new(PtrKind::Func, 0)),
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
                    ProgType::SocketFilter | ProgType::SchedCls | ProgType::CgroupSkb
                ) {
                    return reject(pc, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
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
            Op::MayGoto { .. } => unsupported(pc, "may_goto"),
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
                if st.frames.len() >= MAX_FRAMES {
                    return reject(
                        pc,
                        format!("the call stack of {} frames is too deep !", st.frames.len() + 1),
                    );
                }
                let caller = st.cur().regs;
                let mut regs = [Reg::NotInit; 11];
                regs[1..6].copy_from_slice(&caller[1..6]);
                regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: st.frames.len() as u8 }, 0));
                st.frames.push(Frame::new(regs, pc));
                Ok(vec![(self.target(pc, i64::from(imm)), st)])
            }
            Op::Call(CallTarget::Kfunc { .. }) => unsupported(pc, "kfunc call"),
            Op::Callx { .. } => unsupported(pc, "callx"),
            Op::Exit => self.exit(pc, st),
        }
    }

    fn map(&self, imm: i32) -> Option<&MapDef> {
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
        if matches!(p.kind, PtrKind::Map { .. } | PtrKind::PacketEnd | PtrKind::Func) {
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
                if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
                    r.id = self.fresh_id();
                    r.range = 0;
                }
            }
        }
        Ok(Reg::Ptr(r))
    }

    #[allow(clippy::too_many_arguments)]
    fn mem_access(
        &self,
        pc: usize,
        st: &mut State,
        base_reg: R,
        base: Reg,
        insn_off: i16,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Result<Reg, Stop> {
        let r = base_reg.num();
        let p = match base {
            Reg::Scalar(_) => return reject(pc, format!("R{r} invalid mem access 'scalar'")),
            Reg::NotInit => return reject(pc, format!("R{r} !read_ok")),
            Reg::Ptr(p) if p.maybe_null => {
                return reject(pc, format!("R{r} invalid mem access '{}'", p.type_name()))
            }
            Reg::Ptr(p) => p,
        };
        let off = i64::from(p.off) + i64::from(insn_off);
        match p.kind {
            PtrKind::Stack { frame } => {
                let Some(var) = p.var.as_const() else {
                    return unsupported(pc, "variable-offset stack access");
                };
                let off = off + var as i64;
                let dir = if access == Access::Read { "read from" } else { "write to" };
                if off < -512 || off + i64::from(size) > 0 {
                    return reject(pc, format!("invalid {dir} stack R{r} off={off} size={size}"));
                }
                let frame = usize::from(frame);
                if frame >= st.frames.len() {
                    return unsupported(pc, "access to a returned frame's stack");
                }
                match access {
                    Access::Read => {
                        Ok(stack_read(pc, &st.frames[frame], off, size, self.env.allow_uninit_stack)?)
                    }
                    Access::Write => {
                        stack_write(&mut st.frames[frame], off, size, value.unwrap_or_else(unknown));
                        Ok(Reg::NotInit)
                    }
                }
            }
            PtrKind::Ctx => {
                if p.var.as_const() != Some(0) {
                    return reject(
                        pc,
                        format!("variable ctx access var_off={} off={off} size={size}", p.var.var_off),
                    );
                }
                match ctx::check(self.env.prog_type, off, size, access) {
                    None => reject(pc, format!("invalid bpf_context access off={off} size={size}")),
                    Some(CtxField::Scalar) => Ok(unknown()),
                    Some(CtxField::Packet) => Ok(Reg::Ptr(Ptr::new(PtrKind::Packet, 0))),
                    Some(CtxField::PacketMeta) => Ok(Reg::Ptr(Ptr::new(PtrKind::PacketMeta, 0))),
                    Some(CtxField::PacketEnd) => Ok(Reg::Ptr(Ptr::new(PtrKind::PacketEnd, 0))),
                    Some(CtxField::SockCommonOrNull) => unsupported(pc, "__sk_buff.sk"),
                }
            }
            PtrKind::Packet | PtrKind::PacketMeta => {
                if access == Access::Write
                    && matches!(self.env.prog_type, ProgType::SocketFilter | ProgType::CgroupSkb)
                {
                    return reject(pc, "cannot write into packet");
                }
                if p.var.smin < 0 {
                    return reject(
                        pc,
                        format!("R{r} min value is negative, either use unsigned index or do a if (index >=0) check."),
                    );
                }
                // The range is relative to the variable part: pointers sharing the id share it,
                // and the comparison with data_end covered it.
                if off < 0 || off + i64::from(size) > i64::from(p.range) {
                    return reject(pc, format!("R{r} offset is outside of the packet"));
                }
                Ok(unknown())
            }
            PtrKind::MapValue { map } => {
                let Some(def) = self.map(map as i32) else { return unsupported(pc, "unknown map") };
                if access == Access::Write
                    && self.env.read_only_maps.get(map as usize).copied().unwrap_or(false)
                {
                    return reject(
                        pc,
                        "write into map forbidden, value_size=".to_owned()
                            + &def.value_size.to_string()
                            + &format!(" off={off} size={size}"),
                    );
                }
                let vs = i64::from(def.value_size);
                let (lo, hi) = (off + p.var.smin.max(i64::MIN / 4), off + p.var.umax.min(1 << 40) as i64);
                if p.var.as_const().is_some() {
                    if off < 0 || off + i64::from(size) > vs {
                        return reject(
                            pc,
                            format!("invalid access to map value, value_size={vs} off={off} size={size}"),
                        );
                    }
                } else if lo < 0 {
                    return reject(pc, format!("R{r} min value is outside of the allowed memory range"));
                } else if hi + i64::from(size) > vs {
                    return reject(pc, format!("R{r} max value is outside of the allowed memory range"));
                }
                Ok(unknown())
            }
            PtrKind::Mem { size: ms, rdonly } => {
                if access == Access::Write && rdonly {
                    return reject(pc, format!("R{r} cannot write into rdonly_mem"));
                }
                let hi = off + p.var.umax.min(1 << 40) as i64 + i64::from(size);
                if off + p.var.smin.max(0) < 0 || hi > i64::from(ms) {
                    return reject(
                        pc,
                        format!("invalid access to memory, mem_size={ms} off={off} size={size}"),
                    );
                }
                Ok(unknown())
            }
            PtrKind::PacketEnd | PtrKind::Map { .. } | PtrKind::Func => {
                reject(pc, format!("R{r} invalid mem access '{}'", p.kind.name()))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn jump(
        &mut self,
        pc: usize,
        st: State,
        fall: usize,
        taken: usize,
        width: Width,
        cond: Cond,
        (dst, a): (R, Reg),
        (src, b): (Option<R>, Reg),
    ) -> Step {
        match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                let decided = branch_taken(cond, width, &x, &y);
                let mut out = Vec::new();
                for (holds, next) in [(false, fall), (true, taken)] {
                    if decided.is_some_and(|d| d != holds) {
                        continue;
                    }
                    let (rx, ry) = refine(cond, width, x, y, holds);
                    if rx.is_empty() || ry.is_empty() {
                        continue;
                    }
                    let mut s = st.clone();
                    s.cur_mut().regs[rn(dst)] = Reg::Scalar(rx);
                    if let Some(r) = src {
                        s.cur_mut().regs[rn(r)] = Reg::Scalar(ry);
                    }
                    out.push((next, s));
                }
                Ok(out)
            }
            (Reg::Ptr(p), Reg::Scalar(z)) | (Reg::Scalar(z), Reg::Ptr(p))
                if z.as_const() == Some(0) && matches!(cond, Cond::Eq | Cond::Ne) && width == Width::W64 =>
            {
                let (eq_next, ne_next) = if cond == Cond::Eq { (taken, fall) } else { (fall, taken) };
                if !p.maybe_null {
                    // A non-NULL pointer is never 0.
                    return Ok(vec![(ne_next, st)]);
                }
                let mut is_null = st.clone();
                let mut not_null = st;
                mark_null(&mut is_null, p.id, true);
                mark_null(&mut not_null, p.id, false);
                let mut out = vec![(eq_next, is_null), (ne_next, not_null)];
                out.sort_by_key(|(n, _)| usize::from(*n != fall));
                Ok(out)
            }
            (Reg::Ptr(x), Reg::Ptr(y)) if width == Width::W64 => {
                let mut t = st.clone();
                let mut f = st;
                let pkt = |p: &Ptr| matches!(p.kind, PtrKind::Packet);
                let end = |p: &Ptr| matches!(p.kind, PtrKind::PacketEnd);
                // (state that learns, pointer) per kernel's find_good_pkt_pointers.
                match cond {
                    Cond::Gt | Cond::Ge if pkt(&x) && end(&y) => good_pkt(&mut f, &x),
                    Cond::Gt | Cond::Ge if end(&x) && pkt(&y) => good_pkt(&mut t, &y),
                    Cond::Lt | Cond::Le if pkt(&x) && end(&y) => good_pkt(&mut t, &x),
                    Cond::Lt | Cond::Le if end(&x) && pkt(&y) => good_pkt(&mut f, &y),
                    _ if x.kind == y.kind || pkt(&x) || end(&x) => {}
                    _ => return unsupported(pc, "comparison of unrelated pointers"),
                }
                Ok(vec![(fall, f), (taken, t)])
            }
            _ => unsupported(pc, "comparison of a pointer with a scalar"),
        }
    }

    fn call_helper(&mut self, pc: usize, mut st: State, next: usize, id: i32) -> Step {
        let Some(p) = proto(self.env.helpers, id) else { return unsupported(pc, format!("helper {id}")) };
        if p.gpl_only && !self.env.gpl {
            return reject(pc, "cannot call GPL-restricted function from non-GPL compatible program");
        }
        let mut map = None;
        let mut i = 0;
        while i < p.args.len() {
            let regno = (i + 1) as u8;
            let r = R::new(regno).expect("R1-R5");
            let v = self.read(pc, &st, r)?;
            let expect = |what: &str| -> Result<(), Stop> {
                reject(pc, format!("R{regno} type={} expected={what}", v.type_name()))
            };
            match p.args[i] {
                Arg::ConstMapPtr => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Map { map: m }, .. }) => map = self.map(m as i32).copied(),
                    _ => expect("map_ptr")?,
                },
                Arg::Ctx => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off: 0, .. }) => {}
                    _ => expect("ctx")?,
                },
                Arg::Anything => {}
                Arg::MapKey | Arg::MapValue | Arg::UninitMapValue => {
                    let Some(def) = map else { return unsupported(pc, "map argument without a map") };
                    let size = if p.args[i] == Arg::MapKey { def.key_size } else { def.value_size };
                    let access = if p.args[i] == Arg::UninitMapValue { Access::Write } else { Access::Read };
                    self.helper_mem(pc, &mut st, r, v, size, access, p.pkt_access)?;
                }
                Arg::Mem | Arg::UninitMem => {
                    let size_reg = R::new(regno + 1).expect("a size argument follows");
                    let size = match self.read(pc, &st, size_reg)? {
                        Reg::Scalar(s) => s,
                        other => {
                            return reject(
                                pc,
                                format!("R{} type={} expected=scalar", regno + 1, other.type_name()),
                            )
                        }
                    };
                    let Some(n) = size.as_const() else {
                        return unsupported(pc, "variable-size helper memory argument");
                    };
                    if n == 0 && p.args[i + 1] == Arg::ConstSize {
                        return reject(pc, "invalid zero-sized read");
                    }
                    if n > 0 {
                        let access = if p.args[i] == Arg::UninitMem { Access::Write } else { Access::Read };
                        self.helper_mem(pc, &mut st, r, v, n as u32, access, p.pkt_access)?;
                    }
                    i += 1;
                }
                Arg::ConstSize | Arg::ConstSizeOrZero => {}
                Arg::Func | Arg::StackOrNull | Arg::Dynptr | Arg::UninitDynptr | Arg::AllocMem => {
                    return unsupported(pc, format!("helper {} argument {:?}", p.name, p.args[i]))
                }
            }
            i += 1;
        }
        let r0 = match p.ret {
            Ret::Integer => unknown(),
            Ret::Void => Reg::NotInit,
            Ret::MapValueOrNull | Ret::MapValue => {
                let Some(Reg::Ptr(Ptr { kind: PtrKind::Map { map: m }, .. })) = Some(st.cur().regs[1]) else {
                    return unsupported(pc, "map value return without a map");
                };
                let mut ptr = Ptr::new(PtrKind::MapValue { map: m }, 0);
                if p.ret == Ret::MapValueOrNull {
                    ptr.maybe_null = true;
                    ptr.id = self.fresh_id();
                }
                Reg::Ptr(ptr)
            }
            other => return unsupported(pc, format!("helper return {other:?}")),
        };
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = r0;
        Ok(vec![(next, st)])
    }

    /// A helper's memory argument of `size` bytes.
    #[allow(clippy::too_many_arguments)]
    fn helper_mem(
        &self,
        pc: usize,
        st: &mut State,
        r: R,
        v: Reg,
        size: u32,
        access: Access,
        pkt_access: bool,
    ) -> Result<(), Stop> {
        let regno = r.num();
        match v {
            Reg::Ptr(p @ Ptr { kind: PtrKind::Stack { frame }, .. }) => {
                let Some(var) = p.var.as_const() else { return unsupported(pc, "variable stack pointer argument") };
                let off = i64::from(p.off) + var as i64;
                if off < -512 || off + i64::from(size) > 0 {
                    return reject(pc, format!("invalid indirect access to stack R{regno} off={off} size={size}"));
                }
                let f = &mut st.frames[usize::from(frame)];
                if access == Access::Write {
                    stack_write(f, off, size, unknown());
                } else {
                    for k in 0..i64::from(size) {
                        let b = off + k;
                        let slot = ((-b - 1) / 8) as usize;
                        let byte = (b.rem_euclid(8)) as usize;
                        if f.slot(slot).bytes()[byte] == Byte::Invalid && !self.env.allow_uninit_stack {
                            return reject(pc, format!("invalid indirect read from stack R{regno} off {}+{} size {size}", off, k));
                        }
                    }
                }
                Ok(())
            }
            Reg::Ptr(p) if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) && !pkt_access => {
                reject(pc, "helper access to the packet is not allowed")
            }
            Reg::Ptr(p) if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta | PtrKind::MapValue { .. } | PtrKind::Mem { .. }) => {
                let mut tmp = st.clone();
                self.mem_access(pc, &mut tmp, r, v, 0, size, access, Some(unknown())).map(|_| ())
            }
            _ => reject(pc, format!("R{regno} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_", v.type_name())),
        }
    }

    fn exit(&mut self, pc: usize, mut st: State) -> Step {
        if matches!(st.cur().regs[0], Reg::NotInit) {
            return reject(pc, "R0 !read_ok");
        }
        if st.frames.len() > 1 {
            let callee = st.frames.pop().expect("more than one frame");
            let f = st.cur_mut();
            f.regs[0] = callee.regs[0];
            for r in 1..=5 {
                f.regs[r] = Reg::NotInit;
            }
            return Ok(vec![(callee.callsite + 1, st)]);
        }
        if self.env.prog_type == ProgType::CgroupSkb {
            match st.cur().regs[0] {
                Reg::Scalar(s) if s.umax <= 1 => {}
                _ => return unsupported(pc, "cgroup_skb return value range"),
            }
        }
        Ok(Vec::new())
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

/// After a NULL check: registers sharing `id` become 0 (`null`) or lose `maybe_null`.
fn mark_null(st: &mut State, id: u32, null: bool) {
    for f in &mut st.frames {
        let fix = |r: &mut Reg| {
            if let Reg::Ptr(p) = r {
                if p.maybe_null && p.id == id {
                    if null {
                        *r = Reg::Scalar(Scalar::constant(0));
                    } else {
                        p.maybe_null = false;
                    }
                }
            }
        };
        f.regs.iter_mut().for_each(fix);
        for s in &mut f.stack {
            if let StackSlot::Spill(r) = s {
                fix(r);
            }
        }
    }
}

/// `find_good_pkt_pointers`: packet pointers sharing `p`'s id may access `p.off` bytes.
fn good_pkt(st: &mut State, p: &Ptr) {
    if p.off <= 0 || p.var.umax > 0xffff {
        return;
    }
    let range = p.off as u32;
    for f in &mut st.frames {
        let fix = |r: &mut Reg| {
            if let Reg::Ptr(q) = r {
                if q.kind == p.kind && q.id == p.id {
                    q.range = q.range.max(range);
                }
            }
        };
        f.regs.iter_mut().for_each(fix);
        for s in &mut f.stack {
            if let StackSlot::Spill(r) = s {
                fix(r);
            }
        }
    }
}

/// Slot index and byte of stack offset `off` (negative).
fn slot_of(off: i64) -> (usize, usize) {
    (((-off - 1) / 8) as usize, off.rem_euclid(8) as usize)
}

fn stack_read(pc: usize, f: &Frame, off: i64, size: u32, allow_uninit: bool) -> Result<Reg, Stop> {
    let (slot, byte) = slot_of(off);
    if let StackSlot::Spill(r) = f.slot(slot) {
        if size == 8 && byte == 0 {
            return Ok(r);
        }
        if let Reg::Ptr(_) = r {
            return Ok(unknown());
        }
    }
    let mut all_zero = true;
    for k in 0..i64::from(size) {
        let (s, b) = slot_of(off + k);
        match (s < STACK_SLOTS).then(|| f.slot(s).bytes()[b]) {
            Some(Byte::Invalid) if allow_uninit => all_zero = false,
            Some(Byte::Invalid) | None => {
                return reject(pc, format!("invalid read from stack off {off}+{k} size {size}"));
            }
            Some(Byte::Misc) => all_zero = false,
            Some(Byte::Zero) => {}
        }
    }
    Ok(Reg::Scalar(if all_zero { Scalar::constant(0) } else { Scalar::UNKNOWN }))
}

fn stack_write(f: &mut Frame, off: i64, size: u32, value: Reg) {
    let (slot, byte) = slot_of(off);
    if size == 8 && byte == 0 && slot < STACK_SLOTS {
        *f.slot_mut(slot) = StackSlot::Spill(value);
        return;
    }
    let zero = matches!(value, Reg::Scalar(s) if s.as_const() == Some(0));
    for k in 0..i64::from(size) {
        let (s, b) = slot_of(off + k);
        if s < STACK_SLOTS {
            let slot = f.slot_mut(s);
            let mut bytes = slot.bytes();
            bytes[b] = if zero { Byte::Zero } else { Byte::Misc };
            *slot = StackSlot::Bytes(bytes);
        }
    }
}
