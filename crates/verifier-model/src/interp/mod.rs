//! The concrete interpreter: runs decoded [`Op`]s with the kernel's semantics on a modelled
//! [`Memory`].
//!
//! The program is decoded once ([`Program::new`]) with a slot → index map for jumps. [`Vm::run`]
//! executes from slot 0 with per-frame 512-byte stacks (at most [`MAX_CALL_FRAMES`] frames,
//! R6-R9 saved across bpf-to-bpf calls), a `may_goto` budget per frame (the kernel's
//! `BPF_MAX_LOOPS`, taken once the counter reaches zero) and an instruction budget. Faults are
//! [`InterpError`]s carrying the slot; the interpreter never panics on program input.
//!
//! Pure ALU semantics are in [`alu`], regions and layouts in [`memory`] (from BTF:
//! [`btf_layout`]; the hand-written 6.18 defaults: [`layouts`]), the helper registry in
//! [`helpers`]. Contexts: XDP in [`ctx`] with the drivers' wrappers in [`drivers`], TC in
//! [`skb`]. Modelled helpers and kfuncs, each concern in its module: [`maps`], [`ringbuf`],
//! [`dynptr`], [`pkt`], [`kern`], the XDP RX-metadata reference kfuncs in [`xdp_meta`] and the
//! packet-trait kfuncs of the traits RFC in [`traits`].

pub mod alu;
pub mod btf_layout;
pub mod ctx;
pub mod drivers;
pub mod dynptr;
mod error;
#[cfg(test)]
mod helper_tests;
pub mod helpers;
pub mod kern;
pub mod layouts;
pub mod maps;
pub mod memory;
pub mod pkt;
pub mod ringbuf;
pub mod skb;
#[cfg(test)]
mod testutil;
pub mod traits;
pub mod xdp_meta;

use std::collections::HashMap;
use std::rc::Rc;

use bpf_patch::op::{decode_all, AluOp, AtomicOp, CallTarget, LdImm64Src, Op, Operand, Reg, Size, Width};
use bpf_patch::{DecodeError, Insn, Slot};

pub use ctx::{XdpCtx, XdpSetup};
pub use drivers::{DriverKind, IceRx, Mlx4Rx, Timecounter, VethSkb, XdpDriver};
pub use error::InterpError;
pub use helpers::{HelperError, HelperFn, Helpers};
pub use layouts::Layouts;
pub use maps::{MapDef, MapKind, Maps};
pub use memory::{Field, Layout, LayoutError, MemError, Memory, Region, RegionId, RegionKind};
pub use skb::{SkbCtx, SkbSetup};

/// Bytes of stack per call frame.
pub const STACK_SIZE: usize = 512;
/// Maximum call depth (main program included), as the kernel's `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;
/// The kernel's `BPF_MAX_LOOPS`: how many times `may_goto` falls through per frame.
pub const BPF_MAX_LOOPS: u64 = 8 * 1024 * 1024;
/// Tag of code addresses (`ld_imm64` with `BPF_PSEUDO_FUNC`): `CODE_BASE | slot`.
pub const CODE_BASE: u64 = 0xfffe_0000_0000_0000;
/// The kernel's `MAX_TAIL_CALL_CNT`.
pub const MAX_TAIL_CALL_CNT: u32 = 33;
/// Default instruction budget of [`Vm::new`].
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// A decoded program ready to run.
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<(Slot, Op)>,
    /// Slot → index in `ops`; `None` for the second slot of `ld_imm64`.
    index: Vec<Option<usize>>,
}

impl Program {
    /// Decodes all slots.
    pub fn new(insns: &[Insn]) -> Result<Program, DecodeError> {
        let ops = decode_all(insns)?;
        let mut index = vec![None; insns.len()];
        for (i, (slot, _)) in ops.iter().enumerate() {
            index[slot.index()] = Some(i);
        }
        Ok(Program { ops, index })
    }

    /// The decoded instructions with their slots.
    pub fn ops(&self) -> &[(Slot, Op)] {
        &self.ops
    }

    fn target(&self, from: Slot, rel: i64) -> Result<usize, InterpError> {
        let t = i64::from(from.0) + 1 + rel;
        usize::try_from(t)
            .ok()
            .and_then(|t| self.index.get(t).copied().flatten())
            .ok_or(InterpError::BadJump { slot: from, target: t })
    }
}

/// The result of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// R0 at the final `exit`.
    pub r0: u64,
    /// Instructions executed (an `ld_imm64` counts once).
    pub insns: u64,
}

struct Frame {
    ret: usize,
    saved: [u64; 4],
    stack_top: u64,
    may_goto_left: u64,
    /// The program (and its id) to return into: a tail call from a subprogram replaces the
    /// program of the frame it runs in, and its `exit` returns into the caller's program.
    caller: Option<(Rc<Program>, u32)>,
}

/// One executed instruction in a trace ([`Vm::trace`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TraceStep {
    /// Id of the program it belongs to (0 = the main program; see [`Vm::add_program`]).
    pub program: u32,
    /// Its slot in that program.
    pub slot: Slot,
    /// Registers whose value it changed, with the new values.
    pub changed: Vec<(Reg, u64)>,
}

/// The interpreter: a program, its memory, helpers and the environment for `ld_imm64`.
pub struct Vm {
    program: Rc<Program>,
    programs: Vec<Rc<Program>>,
    /// Maps of the run (handles are what `ld_imm64` map references should resolve to).
    pub maps: Maps,
    /// The XDP context, if [`Vm::setup_xdp`] built one.
    pub xdp: Option<XdpCtx>,
    /// The TC context, if [`Vm::setup_skb`] built one.
    pub skb: Option<SkbCtx>,
    /// The kernel struct layouts the contexts were built from ([`Vm::setup_xdp`] takes them
    /// from its setup; the hand-written 6.18 ones by default). The reference kfuncs and
    /// `bpf_cast_to_kern_ctx` read memory through them.
    pub layouts: Rc<Layouts>,
    /// The address space the program runs in.
    pub memory: Memory,
    /// Registered helpers and kfuncs.
    pub helpers: Helpers,
    /// Values of `ld_imm64` pseudo sources, keyed by (source, `imm`): e.g. a map fd → the map's
    /// pointer. `BPF_PSEUDO_FUNC` is resolved internally to a code address.
    pub ld_imm64_env: HashMap<(LdImm64Src, i32), u64>,
    /// The packet for `LD_ABS`/`LD_IND`: (region, offset of `data`, offset of `data_end`).
    pub packet: Option<(RegionId, usize, usize)>,
    /// Instruction budget of one run, shared with the callbacks it runs.
    pub budget: u64,
    /// When `Some`, every executed instruction is appended (see [`TraceStep`]).
    pub trace: Option<Vec<TraceStep>>,
    executed: u64,
    stacks: Vec<RegionId>,
    current: u32,
    stopped_in: u32,
    /// Regions mapped for the current context (unmapped when the next one is built).
    context_regions: Vec<RegionId>,
}

enum Flow {
    Next,
    Jump(usize),
    Exit(u64),
}

impl Vm {
    /// A VM for `program` with empty memory, no helpers and [`DEFAULT_BUDGET`].
    pub fn new(program: Program) -> Vm {
        let program = Rc::new(program);
        Vm {
            programs: vec![program.clone()],
            program,
            maps: Maps::default(),
            xdp: None,
            skb: None,
            layouts: Rc::new(Layouts::v6_18()),
            memory: Memory::new(),
            helpers: Helpers::default(),
            ld_imm64_env: HashMap::new(),
            packet: None,
            budget: DEFAULT_BUDGET,
            trace: None,
            executed: 0,
            stacks: Vec::new(),
            current: 0,
            stopped_in: 0,
            context_regions: Vec::new(),
        }
    }

    /// The program currently running (the main one unless a tail call replaced it).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Adds a program that tail calls can reach and returns its id (the main program is 0).
    /// Put the id into a [`MapKind::ProgArray`] map with [`Maps::set_prog`].
    pub fn add_program(&mut self, program: Program) -> u32 {
        self.programs.push(Rc::new(program));
        u32::try_from(self.programs.len() - 1).expect("fewer than 2^32 programs")
    }

    /// Builds an XDP context (frame, the driver's wrapper and what it points to) and returns
    /// R1's value for [`Vm::run`].
    ///
    /// # Panics
    /// When `setup.layouts` lack a field the driver needs (the default layouts have them all);
    /// use [`Vm::try_setup_xdp`] with layouts from BTF.
    pub fn setup_xdp(&mut self, setup: &XdpSetup) -> u64 {
        self.try_setup_xdp(setup).expect("the XDP setup's layouts have the fields its driver needs")
    }

    /// [`Vm::setup_xdp`], reporting layouts that lack a field.
    pub fn try_setup_xdp(&mut self, setup: &XdpSetup) -> Result<u64, LayoutError> {
        self.drop_contexts();
        self.memory.start_tracking();
        let built = XdpCtx::build(&mut self.memory, setup);
        self.context_regions = self.memory.stop_tracking();
        let (x, r1) = built?;
        self.xdp = Some(x);
        self.layouts = setup.layouts.clone();
        Ok(r1)
    }

    /// Builds a TC context (`__sk_buff` and packet, also used by `LD_ABS`/`LD_IND`) and returns
    /// R1's value for [`Vm::run`].
    pub fn setup_skb(&mut self, setup: &SkbSetup) -> Result<u64, LayoutError> {
        self.drop_contexts();
        self.memory.start_tracking();
        let built = SkbCtx::build(&mut self.memory, setup);
        self.context_regions = self.memory.stop_tracking();
        let (s, r1) = built?;
        self.skb = Some(s);
        self.packet = Some((s.packet, s.data, s.data_end));
        Ok(r1)
    }

    /// Unmaps the regions of the previous context, so that repeated runs do not grow memory.
    fn drop_contexts(&mut self) {
        self.xdp = None;
        if self.skb.take().is_some() {
            self.packet = None;
        }
        for id in std::mem::take(&mut self.context_regions) {
            self.memory.unmap(id);
        }
    }

    fn load(&self, slot: Slot, addr: u64, size: u32) -> Result<u64, InterpError> {
        if let Some(s) = &self.skb {
            if let Ok((id, off)) = self.memory.resolve(addr, size) {
                if id == s.ctx {
                    if let Some(v) = s.uapi_load(&self.memory, off, size) {
                        return Self::mem(slot, v);
                    }
                }
            }
        }
        if let Some(x) = &self.xdp {
            if let Ok((id, off)) = self.memory.resolve(addr, size) {
                if id == x.buff {
                    if let Some(v) = x.uapi_load(&self.memory, off, size) {
                        return Self::mem(slot, v);
                    }
                }
            }
        }
        Self::mem(slot, self.memory.load(addr, size))
    }

    fn store(&mut self, slot: Slot, addr: u64, size: u32, value: u64) -> Result<(), InterpError> {
        if let Some(s) = self.skb {
            if let Ok((id, off)) = self.memory.resolve(addr, size) {
                if id == s.ctx && SkbCtx::is_pointer_field(off, size) {
                    return Err(InterpError::ContextWrite { slot, offset: off });
                }
                if id == s.ctx {
                    if let Some(r) = s.uapi_store(&mut self.memory, off, size, value) {
                        return Self::mem(slot, r);
                    }
                }
            }
        }
        if let Some(x) = &self.xdp {
            if let Ok((id, off)) = self.memory.resolve(addr, size) {
                if id == x.buff && size == 4 && off < 24 {
                    return Err(InterpError::ContextWrite { slot, offset: off });
                }
            }
        }
        Self::mem(slot, self.memory.store(addr, size, value))
    }

    fn stack_for(&mut self, depth: usize) -> u64 {
        while self.stacks.len() <= depth {
            let d = self.stacks.len();
            self.stacks.push(self.memory.map(RegionKind::Stack { depth: d }, vec![0; STACK_SIZE], true));
        }
        let id = self.stacks[depth];
        if let Some(r) = self.memory.region_mut(id) {
            r.bytes.fill(0);
        }
        Memory::addr(id, STACK_SIZE as u64)
    }

    /// Runs from slot 0 with R1-R5 = `args` and returns R0 at the outermost `exit`.
    pub fn run(&mut self, args: [u64; 5]) -> Result<Outcome, InterpError> {
        let mut regs = [0u64; 11];
        regs[1..6].copy_from_slice(&args);
        self.executed = 0;
        for region in std::mem::take(&mut self.maps.retired) {
            self.memory.unmap(region);
        }
        self.program = self.programs[0].clone();
        self.current = 0;
        let r = self.run_at(0, regs, 0);
        self.stopped_in = self.current;
        self.program = self.programs[0].clone();
        self.current = 0;
        r
    }

    /// The id of the program that was running when the last [`Vm::run`] stopped: 0 after a
    /// normal exit, the faulting program's id after an error (a tail call may have switched).
    pub fn stopped_in(&self) -> u32 {
        self.stopped_in
    }

    /// The program with id `id` (0 = main).
    pub fn program_by_id(&self, id: u32) -> Option<&Program> {
        self.programs.get(id as usize).map(|p| &**p)
    }

    /// Runs the subprogram starting at op index `start` (for callbacks and calls from helpers).
    fn run_at(
        &mut self,
        start: usize,
        mut regs: [u64; 11],
        base_depth: usize,
    ) -> Result<Outcome, InterpError> {
        if base_depth >= MAX_CALL_FRAMES {
            let slot = self.program.ops.get(start).map_or(Slot(0), |o| o.0);
            return Err(InterpError::CallDepth { slot });
        }
        let top = self.stack_for(base_depth);
        regs[10] = top;
        let mut frames = vec![Frame {
            ret: usize::MAX,
            saved: [0; 4],
            stack_top: top,
            may_goto_left: BPF_MAX_LOOPS,
            caller: None,
        }];
        let mut pc = start;
        let mut tail_calls = 0u32;
        let (entry_program, entry_id) = (self.program.clone(), self.current);
        loop {
            let Some(&(slot, op)) = self.program.ops.get(pc) else {
                let slot = self.program.ops.last().map_or(Slot(0), |o| o.0);
                return Err(InterpError::FellOffEnd { slot });
            };
            if self.executed >= self.budget {
                return Err(InterpError::BudgetExceeded { slot, budget: self.budget });
            }
            self.executed += 1;
            let before = self.trace.is_some().then_some((regs, self.current));
            let flow = match op {
                Op::Call(CallTarget::Local(rel)) => {
                    let target = self.program.target(slot, i64::from(rel))?;
                    self.push_frame(&mut frames, &mut regs, slot, pc, base_depth)?;
                    Flow::Jump(target)
                }
                Op::Callx { reg } => {
                    let v = regs[usize::from(reg.num())];
                    if v & 0xffff_0000_0000_0000 == CODE_BASE {
                        let target = self.program.target(Slot(0), (v & 0xffff_ffff) as i64 - 1)?;
                        self.push_frame(&mut frames, &mut regs, slot, pc, base_depth)?;
                        Flow::Jump(target)
                    } else {
                        // uBPF convention (bpf_conformance): a plain number is a helper id.
                        let id = i32::try_from(v)
                            .map_err(|_| InterpError::UnknownHelper { slot, id: v as i64 })?;
                        self.call_helper(slot, id, &mut regs, base_depth + frames.len())?;
                        Flow::Next
                    }
                }
                Op::Call(CallTarget::Helper(maps::BPF_FUNC_TAIL_CALL)) => {
                    // bpf_tail_call(ctx, prog_array, index): on success the target program runs
                    // in this frame from its first instruction with R1 unchanged (from a
                    // subprogram, its exit returns to the subprogram's caller, as the JITs do);
                    // on failure execution continues after the call (R0 is left as it was).
                    let target = self.maps.prog_at(regs[2], regs[3] as u32);
                    match target.and_then(|id| self.programs.get(id as usize).map(|p| (id, p.clone()))) {
                        Some((id, p)) if tail_calls < MAX_TAIL_CALL_CNT => {
                            tail_calls += 1;
                            self.program = p;
                            self.current = id;
                            Flow::Jump(0)
                        }
                        _ => Flow::Next,
                    }
                }
                Op::Call(CallTarget::Helper(id)) => {
                    self.call_helper(slot, id, &mut regs, base_depth + frames.len())?;
                    Flow::Next
                }
                Op::Call(CallTarget::Kfunc { btf_id, .. }) => {
                    self.call_kfunc(slot, btf_id, &mut regs, base_depth + frames.len())?;
                    Flow::Next
                }
                Op::Exit => {
                    let frame = frames.pop().expect("the frame stack is never empty while running");
                    if frames.is_empty() {
                        self.record(before, slot, &regs);
                        self.program = entry_program;
                        self.current = entry_id;
                        return Ok(Outcome { r0: regs[0], insns: self.executed });
                    }
                    regs[6..10].copy_from_slice(&frame.saved);
                    regs[10] = frames.last().expect("checked non-empty").stack_top;
                    if let Some((program, id)) = frame.caller {
                        self.program = program;
                        self.current = id;
                    }
                    Flow::Jump(frame.ret + 1)
                }
                Op::MayGoto { off } => {
                    let frame = frames.last_mut().expect("the frame stack is never empty while running");
                    if frame.may_goto_left == 0 {
                        Flow::Jump(self.program.target(slot, i64::from(off))?)
                    } else {
                        frame.may_goto_left -= 1;
                        Flow::Next
                    }
                }
                _ => self.step(slot, op, &mut regs)?,
            };
            self.record(before, slot, &regs);
            pc = match flow {
                Flow::Next => pc + 1,
                Flow::Jump(t) => t,
                Flow::Exit(r0) => {
                    self.program = entry_program;
                    self.current = entry_id;
                    return Ok(Outcome { r0, insns: self.executed });
                }
            };
        }
    }

    /// Appends a trace step when tracing (`before` is `Some`).
    fn record(&mut self, before: Option<([u64; 11], u32)>, slot: Slot, regs: &[u64; 11]) {
        let (Some((old, program)), Some(trace)) = (before, self.trace.as_mut()) else { return };
        let changed = (0..11u8)
            .filter(|&r| old[usize::from(r)] != regs[usize::from(r)])
            .filter_map(|r| Reg::new(r).map(|reg| (reg, regs[usize::from(r)])))
            .collect();
        trace.push(TraceStep { program, slot, changed });
    }

    fn push_frame(
        &mut self,
        frames: &mut Vec<Frame>,
        regs: &mut [u64; 11],
        slot: Slot,
        pc: usize,
        base_depth: usize,
    ) -> Result<(), InterpError> {
        let depth = base_depth + frames.len();
        if depth >= MAX_CALL_FRAMES {
            return Err(InterpError::CallDepth { slot });
        }
        let mut saved = [0u64; 4];
        saved.copy_from_slice(&regs[6..10]);
        let top = self.stack_for(depth);
        let caller = Some((self.program.clone(), self.current));
        frames.push(Frame { ret: pc, saved, stack_top: top, may_goto_left: BPF_MAX_LOOPS, caller });
        regs[10] = top;
        Ok(())
    }

    fn call_helper(
        &mut self,
        slot: Slot,
        id: i32,
        regs: &mut [u64; 11],
        depth: usize,
    ) -> Result<(), InterpError> {
        let f = self.helpers.helper(id).ok_or(InterpError::UnknownHelper { slot, id: i64::from(id) })?;
        let mut args = [0u64; 5];
        args.copy_from_slice(&regs[1..6]);
        let r0 = f(&mut helpers::HelperCtx { vm: self, depth }, args)
            .map_err(|source| InterpError::Helper { slot, id, source })?;
        regs[0] = r0;
        Ok(())
    }

    fn call_kfunc(
        &mut self,
        slot: Slot,
        btf_id: i32,
        regs: &mut [u64; 11],
        depth: usize,
    ) -> Result<(), InterpError> {
        let f = self.helpers.kfunc_by_id(btf_id).ok_or(InterpError::UnknownKfunc { slot, btf_id })?;
        let mut args = [0u64; 5];
        args.copy_from_slice(&regs[1..6]);
        let r0 = f(&mut helpers::HelperCtx { vm: self, depth }, args)
            .map_err(|source| InterpError::Helper { slot, id: btf_id, source })?;
        regs[0] = r0;
        Ok(())
    }

    /// Calls the subprogram whose code address is `code` (from `BPF_PSEUDO_FUNC`) with R1-R5 =
    /// `args` in a new frame at `depth`; returns its R0. Used by callback helpers (`bpf_loop`).
    pub fn call_code(&mut self, code: u64, args: [u64; 5], depth: usize) -> Result<u64, InterpError> {
        if code & 0xffff_0000_0000_0000 != CODE_BASE {
            return Err(InterpError::BadJump { slot: Slot(0), target: code as i64 });
        }
        let start = self.program.target(Slot(0), (code & 0xffff_ffff) as i64 - 1)?;
        let mut regs = [0u64; 11];
        regs[1..6].copy_from_slice(&args);
        self.run_at(start, regs, depth).map(|o| o.r0)
    }

    fn mem<T>(slot: Slot, r: Result<T, MemError>) -> Result<T, InterpError> {
        r.map_err(|source| InterpError::Memory { slot, source })
    }

    fn step(&mut self, slot: Slot, op: Op, regs: &mut [u64; 11]) -> Result<Flow, InterpError> {
        let operand = |regs: &[u64; 11], src: Operand, width: Width| match src {
            Operand::Reg(r) => regs[usize::from(r.num())],
            Operand::Imm(i) => match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => u64::from(i as u32),
            },
        };
        let set = |regs: &mut [u64; 11], dst: Reg, v: u64| -> Result<(), InterpError> {
            if dst == Reg::R10 {
                return Err(InterpError::FramePointerWrite { slot });
            }
            regs[usize::from(dst.num())] = v;
            Ok(())
        };
        let get = |regs: &[u64; 11], r: Reg| regs[usize::from(r.num())];
        let addr = |base: u64, off: i16| base.wrapping_add(off as i64 as u64);
        match op {
            Op::Alu { width, op, dst, src } => {
                let allowed = width == Width::W64 && matches!(op, AluOp::Mov | AluOp::Add | AluOp::Sub);
                if src == Operand::Reg(Reg::R10) && !allowed {
                    return Err(InterpError::FramePointerArithmetic { slot, op, width });
                }
                let v = alu::alu(width, op, get(regs, dst), operand(regs, src, width));
                set(regs, dst, v)?;
            }
            Op::Neg { width, dst } => set(regs, dst, alu::neg(width, get(regs, dst)))?,
            Op::Endian { swap, bits, dst } => set(regs, dst, alu::endian(swap, bits, get(regs, dst)))?,
            Op::Ja { off } => return Ok(Flow::Jump(self.program.target(slot, i64::from(off))?)),
            Op::Gotol { imm } => return Ok(Flow::Jump(self.program.target(slot, i64::from(imm))?)),
            Op::Jump { width, cond, dst, src, off } => {
                // Immediates are sign-extended to 64 bits; `cond_holds` truncates for jmp32.
                let b = match src {
                    Operand::Reg(r) => get(regs, r),
                    Operand::Imm(i) => i as i64 as u64,
                };
                if alu::cond_holds(width, cond, get(regs, dst), b) {
                    return Ok(Flow::Jump(self.program.target(slot, i64::from(off))?));
                }
            }
            Op::LdImm64 { dst, src, imm, next_imm } => {
                let v = match src {
                    LdImm64Src::Imm => Op::imm64(imm, next_imm),
                    LdImm64Src::Func => {
                        let target = self.program.target(slot, i64::from(imm))?;
                        CODE_BASE | u64::from(self.program.ops[target].0 .0)
                    }
                    LdImm64Src::MapValue | LdImm64Src::MapIdxValue => {
                        let base = self.ld_imm64_env.get(&(src, imm)).copied();
                        let base = base.ok_or(InterpError::Unresolved { slot, src, imm })?;
                        base.wrapping_add(u64::from(next_imm as u32))
                    }
                    _ => self.ld_imm64_env.get(&(src, imm)).copied().ok_or(InterpError::Unresolved {
                        slot,
                        src,
                        imm,
                    })?,
                };
                set(regs, dst, v)?;
            }
            Op::LdAbs { size, imm } => return self.ld_packet(slot, size, i64::from(imm), regs),
            Op::LdInd { size, src, imm } => {
                let off = i64::from((get(regs, src) as u32).wrapping_add(imm as u32) as i32);
                return self.ld_packet(slot, size, off, regs);
            }
            Op::Load { size, signed, dst, src, off } => {
                let v = self.load(slot, addr(get(regs, src), off), size.bytes())?;
                let v = if signed { alu::sign_extend(v, (size.bytes() * 8) as u8) } else { v };
                set(regs, dst, v)?;
            }
            Op::StoreImm { size, dst, off, imm } => {
                self.store(slot, addr(get(regs, dst), off), size.bytes(), imm as i64 as u64)?;
            }
            Op::Store { size, dst, off, src } => {
                self.store(slot, addr(get(regs, dst), off), size.bytes(), get(regs, src))?;
            }
            Op::Atomic { size, op, dst, src, off } => self.atomic(slot, size, op, dst, src, off, regs)?,
            Op::Call(_) | Op::Callx { .. } | Op::Exit | Op::MayGoto { .. } => {
                unreachable!("control transfers are handled by run_at")
            }
        }
        Ok(Flow::Next)
    }

    /// Legacy packet load: big-endian; out of bounds ends the program with R0 = 0, like the
    /// kernel's `bpf_skb_load_helper` path.
    fn ld_packet(
        &mut self,
        slot: Slot,
        size: Size,
        off: i64,
        regs: &mut [u64; 11],
    ) -> Result<Flow, InterpError> {
        let (id, data, data_end) = self.packet.ok_or(InterpError::NoPacket { slot })?;
        let n = size.bytes() as i64;
        let len = data_end as i64 - data as i64;
        if off < 0 || off + n > len {
            return Ok(Flow::Exit(0));
        }
        let start = Memory::addr(id, (data as i64 + off) as u64);
        let bytes = Self::mem(slot, self.memory.read_bytes(start, size.bytes()))?;
        let v = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        regs[0] = v;
        // R1-R5 are clobbered like a call; keep them deterministic.
        regs[1..6].fill(0);
        Ok(Flow::Next)
    }

    #[allow(clippy::too_many_arguments)]
    fn atomic(
        &mut self,
        slot: Slot,
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
        regs: &mut [u64; 11],
    ) -> Result<(), InterpError> {
        let n = size.bytes();
        let mask = if n == 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
        let r = |r: Reg| usize::from(r.num());
        if op == AtomicOp::LoadAcquire {
            let a = regs[r(src)].wrapping_add(off as i64 as u64);
            let v = Self::mem(slot, self.memory.load(a, n))?;
            if dst == Reg::R10 {
                return Err(InterpError::FramePointerWrite { slot });
            }
            regs[r(dst)] = v;
            return Ok(());
        }
        let a = regs[r(dst)].wrapping_add(off as i64 as u64);
        if op == AtomicOp::StoreRelease {
            return Self::mem(slot, self.memory.store(a, n, regs[r(src)]));
        }
        let old = Self::mem(slot, self.memory.load(a, n))?;
        let v = regs[r(src)] & mask;
        let (new, fetch_into) = match op {
            AtomicOp::Add { fetch } => (old.wrapping_add(v), fetch.then_some(r(src))),
            AtomicOp::Or { fetch } => (old | v, fetch.then_some(r(src))),
            AtomicOp::And { fetch } => (old & v, fetch.then_some(r(src))),
            AtomicOp::Xor { fetch } => (old ^ v, fetch.then_some(r(src))),
            AtomicOp::Xchg => (v, Some(r(src))),
            AtomicOp::Cmpxchg => {
                let new = if old == regs[0] & mask { v } else { old };
                (new, Some(0))
            }
            AtomicOp::LoadAcquire | AtomicOp::StoreRelease => unreachable!("handled above"),
        };
        Self::mem(slot, self.memory.store(a, n, new & mask))?;
        if let Some(reg) = fetch_into {
            if reg == 10 {
                return Err(InterpError::FramePointerWrite { slot });
            }
            regs[reg] = old;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
