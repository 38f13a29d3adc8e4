//! The fetch-execute loop: registers, bpf-to-bpf frames with their own 512-byte stacks, helper
//! calls, `may_goto`, `LD_ABS` / `LD_IND`, and the instruction budget.

use bpf_patch::op::{AluOp, AtomicOp, CallTarget, LdImm64Src, Op, Operand, Reg, Size, Width};
use bpf_patch::Slot;

use super::alu;
use super::error::Fault;
use super::helpers::{HelperEnv, Helpers, KernelState};
use super::memory::{MemError, Memory, RegionKind, MAX_FRAMES};
use super::program::Program;

/// Base of the synthetic code addresses that `ld_imm64` with `BPF_PSEUDO_FUNC` yields: the
/// function at slot `s` is at `CODE_BASE + 8 * s`. `callx` to such an address is a bpf-to-bpf
/// call.
pub const CODE_BASE: u64 = 0xc000_0000_0000;

/// The kernel's `BPF_MAX_LOOPS`: how many times `may_goto` falls through per frame before it
/// starts jumping.
pub const BPF_MAX_LOOPS: u64 = 8 * 1024 * 1024;

/// Limits of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Instructions a run may execute before it stops with [`Fault::Budget`].
    pub insn_budget: u64,
    /// Fall-throughs of `may_goto` per frame (each frame starts with a fresh count, as the
    /// kernel keeps the counter in the frame's stack); once spent, `may_goto` jumps.
    pub may_goto_budget: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { insn_budget: 100_000_000, may_goto_budget: BPF_MAX_LOOPS }
    }
}

/// How a run ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// R0 at the final `exit` (0 when an `LD_ABS` / `LD_IND` fell outside the packet).
    pub r0: u64,
    /// Instructions executed (`ld_imm64` counts once).
    pub insns: u64,
}

/// A program with its memory, helpers and limits.
#[derive(Debug)]
pub struct Interpreter {
    program: Program,
    /// The address space; map the context, packet and buffers before running.
    pub memory: Memory,
    /// Helper implementations by id.
    pub helpers: Helpers,
    /// Clock and random generator used by helpers.
    pub kernel: KernelState,
    /// Budgets.
    pub config: Config,
}

/// A caller's state saved across a bpf-to-bpf call.
struct Frame {
    ret: usize,
    callee_saved: [u64; 4],
    fp: u64,
    init: u16,
    may_goto: u64,
}

/// R1-R5.
const ARG_REGS: u16 = 0b11_1110;

/// Registers and frames of one run.
struct State {
    regs: [u64; 11],
    init: u16,
    frames: Vec<Frame>,
    may_goto: u64,
}

impl State {
    fn get(&self, reg: Reg, slot: Slot) -> Result<u64, Fault> {
        if self.init & reg.mask() == 0 {
            return Err(Fault::UninitRegister { slot, reg });
        }
        Ok(self.regs[usize::from(reg.num())])
    }

    fn set(&mut self, reg: Reg, value: u64, slot: Slot) -> Result<(), Fault> {
        if reg == Reg::R10 {
            return Err(Fault::WriteFramePointer { slot });
        }
        self.regs[usize::from(reg.num())] = value;
        self.init |= reg.mask();
        Ok(())
    }

    fn operand(&self, src: Operand, slot: Slot) -> Result<u64, Fault> {
        match src {
            Operand::Reg(r) => self.get(r, slot),
            Operand::Imm(i) => Ok(i64::from(i) as u64),
        }
    }

    fn addr(&self, base: Reg, off: i16, slot: Slot) -> Result<u64, Fault> {
        Ok(self.get(base, slot)?.wrapping_add(i64::from(off) as u64))
    }
}

/// What one instruction asks the loop to do next.
enum Flow {
    Next,
    Goto(usize),
    Exit(u64),
}

fn mem(slot: Slot) -> impl Fn(MemError) -> Fault {
    move |source| Fault::Memory { slot, source }
}

impl Interpreter {
    /// An interpreter with empty memory, the [standard helpers](Helpers::standard), a clock at 0,
    /// a generator seeded with 0 and the default [`Config`].
    pub fn new(program: Program) -> Self {
        Interpreter {
            program,
            memory: Memory::new(),
            helpers: Helpers::standard(),
            kernel: KernelState::default(),
            config: Config::default(),
        }
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Runs from the first instruction with R1.. set to `args` (at most 5) and R10 the top of a
    /// fresh stack.
    pub fn run(&mut self, args: &[u64]) -> Result<Exit, Fault> {
        let mut st = State {
            regs: [0; 11],
            init: Reg::R10.mask(),
            frames: Vec::new(),
            may_goto: self.config.may_goto_budget,
        };
        for (i, &a) in args.iter().take(5).enumerate() {
            st.regs[i + 1] = a;
            st.init |= 1 << (i + 1);
        }
        for depth in 0..MAX_FRAMES {
            self.memory.leave_frame(depth);
        }
        st.regs[10] = self.memory.enter_frame(0).expect("frame 0 exists");
        let mut pc = 0usize;
        let mut insns = 0u64;
        loop {
            let Some(&(slot, op)) = self.program.ops().get(pc) else {
                let last = self.program.ops().last().map_or(Slot(0), |(s, _)| *s);
                return Err(Fault::FallOffEnd { slot: last });
            };
            if insns >= self.config.insn_budget {
                return Err(Fault::Budget { slot, budget: self.config.insn_budget });
            }
            insns += 1;
            match self.step(&mut st, pc, slot, op)? {
                Flow::Next => pc += 1,
                Flow::Goto(t) => pc = t,
                Flow::Exit(r0) => return Ok(Exit { r0, insns }),
            }
        }
    }

    fn target(&self, slot: Slot, rel: i64) -> usize {
        self.program.target(slot, rel).expect("static targets are checked by Program::new")
    }

    fn step(&mut self, st: &mut State, pc: usize, slot: Slot, op: Op) -> Result<Flow, Fault> {
        match op {
            Op::Alu { width, op, dst, src } => {
                let b = st.operand(src, slot)?;
                let a = if matches!(op, AluOp::Mov | AluOp::Movsx(_)) { 0 } else { st.get(dst, slot)? };
                st.set(dst, alu::alu(width, op, a, b), slot)?;
            }
            Op::Neg { width, dst } => {
                let v = alu::neg(width, st.get(dst, slot)?);
                st.set(dst, v, slot)?;
            }
            Op::Endian { swap, bits, dst } => {
                let v = alu::endian(swap, bits, st.get(dst, slot)?);
                st.set(dst, v, slot)?;
            }
            Op::Ja { off } => return Ok(Flow::Goto(self.target(slot, off.into()))),
            Op::Gotol { imm } => return Ok(Flow::Goto(self.target(slot, imm.into()))),
            Op::MayGoto { off } => {
                if st.may_goto == 0 {
                    return Ok(Flow::Goto(self.target(slot, off.into())));
                }
                st.may_goto -= 1;
            }
            Op::Jump { width, cond, dst, src, off } => {
                let (a, b) = (st.get(dst, slot)?, st.operand(src, slot)?);
                if alu::cond(width, cond, a, b) {
                    return Ok(Flow::Goto(self.target(slot, off.into())));
                }
            }
            Op::Call(CallTarget::Helper(id)) => self.call_helper(st, slot, id)?,
            Op::Call(CallTarget::Local(imm)) => {
                let t = self.target(slot, imm.into());
                return self.call_local(st, pc, slot, t);
            }
            Op::Call(CallTarget::Kfunc { btf_id, .. }) => return Err(Fault::UnknownKfunc { slot, btf_id }),
            Op::Callx { reg } => {
                let target = st.get(reg, slot)?;
                let func = target
                    .checked_sub(CODE_BASE)
                    .filter(|d| d % 8 == 0)
                    .and_then(|d| u32::try_from(d / 8).ok())
                    .and_then(|s| self.program.index_of(Slot(s)));
                if let Some(t) = func {
                    return self.call_local(st, pc, slot, t);
                }
                // uBPF's convention, used by bpf_conformance: a small value is a helper id.
                let id = i32::try_from(target).map_err(|_| Fault::BadCallx { slot, target })?;
                self.call_helper(st, slot, id)?;
            }
            Op::Exit => return self.exit(st, slot),
            Op::LdImm64 { dst, src, imm, next_imm } => {
                let v = match src {
                    LdImm64Src::Imm => Op::imm64(imm, next_imm),
                    LdImm64Src::Func => {
                        let t = self.target(slot, imm.into());
                        CODE_BASE + self.program.ops()[t].0.byte_offset()
                    }
                    other => return Err(Fault::UnsupportedLdImm64 { slot, src: other }),
                };
                st.set(dst, v, slot)?;
            }
            Op::LdAbs { size, imm } => return self.ld_packet(st, slot, size, imm),
            Op::LdInd { size, src, imm } => {
                // The kernel adds in 32 bits (`BPF_ALU32_IMM(BPF_ADD, ...)`) and passes an `int`.
                let off = (st.get(src, slot)? as u32 as i32).wrapping_add(imm);
                return self.ld_packet(st, slot, size, off);
            }
            Op::Load { size, signed, dst, src, off } => {
                let addr = st.addr(src, off, slot)?;
                let v = self.memory.load(addr, size.bytes()).map_err(mem(slot))?;
                let bits = (size.bytes() * 8) as u8;
                let v = if signed { alu::sign_extend(v, bits) as u64 } else { v };
                st.set(dst, v, slot)?;
            }
            Op::StoreImm { size, dst, off, imm } => {
                let addr = st.addr(dst, off, slot)?;
                self.memory.store(addr, size.bytes(), i64::from(imm) as u64).map_err(mem(slot))?;
            }
            Op::Store { size, dst, off, src } => {
                let addr = st.addr(dst, off, slot)?;
                let v = st.get(src, slot)?;
                self.memory.store(addr, size.bytes(), v).map_err(mem(slot))?;
            }
            Op::Atomic { size, op, dst, src, off } => self.atomic(st, slot, size, op, dst, src, off)?,
        }
        Ok(Flow::Next)
    }

    #[allow(clippy::too_many_arguments)]
    fn atomic(
        &mut self,
        st: &mut State,
        slot: Slot,
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), Fault> {
        let n = size.bytes();
        let width = if size == Size::DW { Width::W64 } else { Width::W32 };
        let (alu_op, fetch) = match op {
            AtomicOp::LoadAcquire => {
                let addr = st.addr(src, off, slot)?;
                let v = self.memory.load(addr, n).map_err(mem(slot))?;
                return st.set(dst, v, slot);
            }
            AtomicOp::StoreRelease => {
                let addr = st.addr(dst, off, slot)?;
                let v = st.get(src, slot)?;
                return self.memory.store(addr, n, v).map_err(mem(slot));
            }
            AtomicOp::Xchg => {
                let (addr, val) = (st.addr(dst, off, slot)?, st.get(src, slot)?);
                let old = self.memory.load(addr, n).map_err(mem(slot))?;
                self.memory.store(addr, n, val).map_err(mem(slot))?;
                return st.set(src, old, slot);
            }
            AtomicOp::Cmpxchg => {
                let (addr, val) = (st.addr(dst, off, slot)?, st.get(src, slot)?);
                let r0 = st.get(Reg::R0, slot)?;
                let expected = if width == Width::W32 { u64::from(r0 as u32) } else { r0 };
                let old = self.memory.load(addr, n).map_err(mem(slot))?;
                if old == expected {
                    self.memory.store(addr, n, val).map_err(mem(slot))?;
                }
                return st.set(Reg::R0, old, slot);
            }
            AtomicOp::Add { fetch } => (AluOp::Add, fetch),
            AtomicOp::Or { fetch } => (AluOp::Or, fetch),
            AtomicOp::And { fetch } => (AluOp::And, fetch),
            AtomicOp::Xor { fetch } => (AluOp::Xor, fetch),
        };
        let (addr, val) = (st.addr(dst, off, slot)?, st.get(src, slot)?);
        let old = self.memory.load(addr, n).map_err(mem(slot))?;
        self.memory.store(addr, n, alu::alu(width, alu_op, old, val)).map_err(mem(slot))?;
        if fetch {
            st.set(src, old, slot)?;
        }
        Ok(())
    }

    fn call_helper(&mut self, st: &mut State, slot: Slot, id: i32) -> Result<(), Fault> {
        let mut args = [0u64; 5];
        args.copy_from_slice(&st.regs[1..6]);
        let mut env = HelperEnv { memory: &mut self.memory, kernel: &mut self.kernel };
        let r0 = self
            .helpers
            .call(id, &mut env, args)
            .ok_or(Fault::UnknownHelper { slot, id })?
            .map_err(|source| Fault::Helper { slot, id, source })?;
        st.init &= !ARG_REGS;
        st.set(Reg::R0, r0, slot)
    }

    fn call_local(&mut self, st: &mut State, pc: usize, slot: Slot, target: usize) -> Result<Flow, Fault> {
        let depth = st.frames.len() + 1;
        let fp = self.memory.enter_frame(depth).ok_or(Fault::CallDepth { slot, max: MAX_FRAMES })?;
        let mut callee_saved = [0u64; 4];
        callee_saved.copy_from_slice(&st.regs[6..10]);
        st.frames.push(Frame {
            ret: pc + 1,
            callee_saved,
            fp: st.regs[10],
            init: st.init,
            may_goto: st.may_goto,
        });
        st.regs[10] = fp;
        st.init = (st.init & ARG_REGS) | Reg::R10.mask();
        st.may_goto = self.config.may_goto_budget;
        Ok(Flow::Goto(target))
    }

    fn exit(&mut self, st: &mut State, slot: Slot) -> Result<Flow, Fault> {
        let r0 = st.get(Reg::R0, slot)?;
        let depth = st.frames.len();
        let Some(frame) = st.frames.pop() else {
            self.memory.leave_frame(0);
            return Ok(Flow::Exit(r0));
        };
        self.memory.leave_frame(depth);
        st.regs[6..10].copy_from_slice(&frame.callee_saved);
        st.regs[10] = frame.fp;
        st.init = (frame.init & !ARG_REGS) | Reg::R0.mask();
        st.may_goto = frame.may_goto;
        Ok(Flow::Goto(frame.ret))
    }

    /// `LD_ABS` / `LD_IND`: a big-endian load from the first [`RegionKind::Packet`] region into
    /// R0, clobbering R1-R5. Out of bounds (or no packet) does what the kernel's rewrite
    /// (`bpf_gen_ld_abs`) does: R0 = 0 and `exit` from the current frame. Negative offsets
    /// (`SKF_NET_OFF`, `SKF_LL_OFF`) have no headers to refer to here and count as out of bounds.
    fn ld_packet(&mut self, st: &mut State, slot: Slot, size: Size, off: i32) -> Result<Flow, Fault> {
        let n = size.bytes() as usize;
        let bytes = self.memory.regions().iter().find(|r| r.kind == RegionKind::Packet).and_then(|r| {
            let start = usize::try_from(off).ok()?;
            r.bytes.get(start..start.checked_add(n)?)
        });
        let v = bytes.map(|b| b.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
        st.init &= !ARG_REGS;
        st.set(Reg::R0, v.unwrap_or(0), slot)?;
        match v {
            Some(_) => Ok(Flow::Next),
            None => self.exit(st, slot),
        }
    }
}
