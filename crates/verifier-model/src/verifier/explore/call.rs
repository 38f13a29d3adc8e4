//! Calls and exits in the explorer: helper calls checked against the prototype table, the
//! callbacks of `bpf_loop` and `bpf_for_each_map_elem`, and `exit` from a subprogram, a
//! callback or the program.

use bpf_patch::op::Reg as R;

use super::kcall::{changes_packet, DynArg};
use super::{
    reject, unknown, unsupported, widen, Explorer, Step, Stop, FOR_EACH_MAP_ELEM, LOOP, TAIL_CALL,
    WIDEN_AFTER,
};
use crate::load::ProgType;
use crate::verifier::availability;
use crate::verifier::ctx::Access;
use crate::verifier::dynptr::{self, DynptrSlot, DynptrType};
use crate::verifier::helpers::{proto, Arg, Ret, Version};
use crate::verifier::map_compat::{self, map_type};
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Frame, Ptr, PtrKind, Reg, State};
use crate::verifier::subprog::{FuncArg, FuncInfo, MAX_CALL_FRAMES};

/// `BPF_FUNC_dynptr_from_mem`.
const DYNPTR_FROM_MEM: i32 = 197;
/// `BPF_FUNC_ringbuf_reserve_dynptr`.
const RINGBUF_RESERVE_DYNPTR: i32 = 198;
/// `BPF_FUNC_dynptr_write`.
const DYNPTR_WRITE: i32 = 202;

impl<'a> Explorer<'a> {
    pub(super) fn call_helper(&mut self, pc: usize, mut st: State, next: usize, id: i32) -> Step {
        if self.env.helpers == Version::Current {
            if let Some(message) = availability::refusal(self.env.prog_type, id) {
                return reject(pc, message);
            }
        }
        let Some(p) = proto(self.env.helpers, id) else { return unsupported(pc, format!("helper {id}")) };
        if p.gpl_only && !self.env.gpl {
            return reject(pc, "cannot call GPL-restricted function from non-GPL compatible program");
        }
        let mut map = None;
        let mut callback = None;
        let mut release = None;
        let mut dyn_release = None;
        let mut dynptr_seen: Option<DynptrSlot> = None;
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
                    Reg::Ptr(Ptr { kind: PtrKind::Map { map: m }, maybe_null: false, .. }) => {
                        map = self.map(m as i32).copied()
                    }
                    _ => expect("map_ptr")?,
                },
                Arg::Ctx => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off: 0, .. }) => {}
                    // check_func_arg_reg_off: a moved context pointer.
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off, .. }) if off < 0 => {
                        return reject(pc, format!("negative offset ctx ptr R{regno} off={off} disallowed"))
                    }
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off, .. }) => {
                        return reject(
                            pc,
                            format!("dereference of modified ctx ptr R{regno} off={off} disallowed"),
                        )
                    }
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
                // ARG_CONST_ALLOC_SIZE_OR_ZERO: the record's (slice's) size must be known.
                Arg::ConstSize | Arg::ConstSizeOrZero
                    if matches!(p.ret, Ret::AllocMemOrNull | Ret::DynptrMemOrNull) =>
                {
                    match v {
                        Reg::Scalar(s) if s.as_const().is_some() => {}
                        _ => return reject(pc, format!("R{regno} is not a known constant'")),
                    }
                }
                Arg::ConstSize if p.ret == Ret::AllocMemOrNull => match v {
                    Reg::Scalar(s) if s.as_const().is_some() => {}
                    _ => return reject(pc, format!("R{regno} is not a known constant'")),
                },
                Arg::ConstSize | Arg::ConstSizeOrZero => {}
                // ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE: the record itself, NULL-checked.
                Arg::AllocMem => match v {
                    Reg::Ptr(q @ Ptr { kind: PtrKind::Mem { ringbuf: true, .. }, maybe_null: false, .. }) => {
                        if q.off != 0 || q.var.as_const() != Some(0) {
                            return reject(
                                pc,
                                format!("R{regno} must have zero offset when passed to release func or trusted arg to kfunc"),
                            );
                        }
                        release = Some(q.ref_obj_id);
                    }
                    _ => expect("ringbuf_mem")?,
                },
                Arg::Func => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Func { subprog }, .. }) => {
                        callback = Some(subprog as usize)
                    }
                    _ => expect("func")?,
                },
                Arg::StackOrNull => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Stack { .. }, .. }) => {}
                    Reg::Scalar(s) if s.as_const() == Some(0) => {}
                    _ => expect("fp")?,
                },
                Arg::Dynptr | Arg::UninitDynptr | Arg::ReleaseDynptr => {
                    let Reg::Ptr(q @ Ptr { kind: PtrKind::Stack { frame }, .. }) = v else {
                        return reject(
                            pc,
                            format!("R{regno} type={} expected=fp, dynptr_ptr", v.type_name()),
                        );
                    };
                    let what = match p.args[i] {
                        Arg::UninitDynptr if id == RINGBUF_RESERVE_DYNPTR => {
                            DynArg::Uninit(DynptrType::Ringbuf, None)
                        }
                        Arg::UninitDynptr => DynArg::Uninit(DynptrType::Local, None),
                        Arg::ReleaseDynptr => {
                            // check_func_arg, OBJ_RELEASE: the dynptr must hold a reference.
                            let f = st.frames.get(usize::from(frame));
                            let held = f
                                .and_then(|f| dynptr::spi(&q, f).ok().and_then(|s| dynptr::slot(f, s)))
                                .map(|d| d.ref_obj_id)
                                .filter(|r| *r != 0);
                            let Some(r) = held else {
                                return reject(pc, format!("arg {regno} is an unacquired reference"));
                            };
                            dyn_release = Some((usize::from(frame), r));
                            DynArg::Init(Some(DynptrType::Ringbuf))
                        }
                        _ => DynArg::Init(None),
                    };
                    let d = self.dynptr_arg(pc, &mut st, regno, v, what)?;
                    dynptr_seen = Some(d);
                }
            }
            i += 1;
        }
        if let Some(def) = map {
            if matches!(def.map_type, map_type::SOCKMAP | map_type::SOCKHASH) {
                return unsupported(pc, format!("helper {} on a socket map", p.name));
            }
            if let Some(message) = map_compat::refusal(def.map_type, id) {
                return reject(pc, message);
            }
        }
        if let Some(id) = release {
            release_reference(&mut st, id);
        }
        if let Some((frame, r)) = dyn_release {
            dynptr::release(&mut st, frame, r);
        }
        if id == DYNPTR_FROM_MEM
            && !matches!(st.cur().regs[1], Reg::Ptr(Ptr { kind: PtrKind::MapValue { .. }, .. }))
        {
            let t = st.cur().regs[1].type_name();
            return reject(pc, format!("Unsupported reg type {t} for bpf_dynptr_from_mem data"));
        }
        // A packet change (bpf_dynptr_write to an skb or skb_meta dynptr counts as one) kills
        // packet pointers and packet slices.
        let skb_write = id == DYNPTR_WRITE
            && dynptr_seen.is_some_and(|d| matches!(d.ty, DynptrType::Skb | DynptrType::SkbMeta));
        if changes_packet(id) || skb_write {
            dynptr::clear_packet_pointers(&mut st);
        }
        if id == TAIL_CALL && !st.refs.is_empty() {
            return reject(pc, "tail_call would lead to reference leak");
        }
        let mut out = Vec::new();
        if let (Some(cb), LOOP | FOR_EACH_MAP_ELEM) = (callback, id) {
            let mut cb_state = st.clone();
            st.cur_mut().callback_depth = 0;
            if let Some(s) = self.callback_state(pc, &mut cb_state, id, cb, map.map(|m| m.map_type))? {
                out.push((cb, s));
            }
        }
        let r0 = match p.ret {
            Ret::Integer => unknown(),
            Ret::Void => Reg::NotInit,
            Ret::MapValueOrNull | Ret::MapValue => {
                let Some(Reg::Ptr(Ptr { kind: PtrKind::Map { map: m }, .. })) = Some(st.cur().regs[1]) else {
                    return unsupported(pc, "map value return without a map");
                };
                let Some(def) = map else { return unsupported(pc, "map value return without a map") };
                let kind = if def.is_map_of_maps() {
                    // The kernel's map_ptr becomes the inner map template once NULL-checked.
                    let Some(inner) = def.inner else {
                        return unsupported(pc, "map of maps without an inner map template");
                    };
                    PtrKind::Map { map: inner }
                } else if map_compat::lookup_gives_value(def.map_type) || p.ret == Ret::MapValue {
                    PtrKind::MapValue { map: m }
                } else {
                    return unsupported(pc, format!("{} in map type {}", p.name, def.map_type));
                };
                let mut ptr = Ptr::new(kind, 0);
                if p.ret == Ret::MapValueOrNull {
                    ptr.maybe_null = true;
                    ptr.id = self.fresh_id();
                }
                Reg::Ptr(ptr)
            }
            Ret::AllocMemOrNull => {
                let Reg::Scalar(size) = st.cur().regs[2] else { return unsupported(pc, "record size") };
                let size = u32::try_from(size.as_const().unwrap_or(u64::MAX)).unwrap_or(u32::MAX);
                let mut ptr = Ptr::new(PtrKind::Mem { size, rdonly: false, ringbuf: true }, 0);
                ptr.maybe_null = true;
                ptr.id = self.fresh_id();
                ptr.ref_obj_id = ptr.id;
                st.refs.push((ptr.id, pc));
                Reg::Ptr(ptr)
            }
            Ret::DynptrMemOrNull => {
                let d = dynptr_seen.expect("bpf_dynptr_data's first argument is an initialised dynptr");
                let Reg::Scalar(size) = st.cur().regs[3] else { return unsupported(pc, "slice size") };
                let size = u32::try_from(size.as_const().unwrap_or(u64::MAX)).unwrap_or(u32::MAX);
                let mut ptr = Ptr::new(PtrKind::Mem { size, rdonly: false, ringbuf: false }, 0);
                ptr.maybe_null = true;
                ptr.id = self.fresh_id();
                ptr.dynptr_id = d.id;
                ptr.ref_obj_id = d.ref_obj_id;
                Reg::Ptr(ptr)
            }
            other => return unsupported(pc, format!("helper return {other:?}")),
        };
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = r0;
        // The caller goes on first; the callback is explored after (`push_callback_call`).
        out.insert(0, (next, st));
        Ok(out)
    }

    /// The global function starting at slot `start`, if it is one.
    pub(super) fn global(&self, start: usize) -> Option<&'a FuncInfo> {
        self.env.funcs?.iter().find(|f| f.global && f.start.index() == start)
    }

    /// A call of global function `f` (`check_func_call`): the arguments must match its
    /// prototype; it is verified on its own later and returns an unknown scalar.
    pub(super) fn call_global(&mut self, pc: usize, mut st: State, next: usize, f: &FuncInfo) -> Step {
        let start = f.start.index();
        let subprog = self.subprogs.iter().position(|&s| s == start).unwrap_or(0);
        let invalid = || format!("Caller passes invalid args into func#{subprog} ('{}')", f.name);
        for (i, arg) in f.args.iter().enumerate() {
            let Some(r) = u8::try_from(i + 1).ok().and_then(R::new).filter(|_| i < 5) else {
                return unsupported(pc, format!("global function {} with more than 5 arguments", f.name));
            };
            let v = st.cur().regs[i + 1];
            let ok = match arg {
                FuncArg::Scalar => matches!(v, Reg::Scalar(_)),
                FuncArg::Ctx => matches!(v, Reg::Ptr(Ptr { kind: PtrKind::Ctx, off: 0, .. })),
                FuncArg::Mem { size, nullable } => match v {
                    Reg::Scalar(s) if s.as_const() == Some(0) => true,
                    Reg::Ptr(p) if p.maybe_null && !nullable => false,
                    Reg::Ptr(p) => {
                        let mut tmp = st.clone();
                        let mut q = p;
                        q.maybe_null = false;
                        let q = Reg::Ptr(q);
                        self.helper_mem(pc, &mut tmp, r, q, *size, Access::Read, true).is_ok()
                            && self.helper_mem(pc, &mut tmp, r, q, *size, Access::Write, true).is_ok()
                    }
                    _ => false,
                },
                FuncArg::Other(what) => {
                    return unsupported(pc, format!("global function {} argument: {what}", f.name))
                }
            };
            if !ok {
                return reject(pc, invalid());
            }
        }
        if !self.called.contains(&start) {
            self.called.push(start);
        }
        let fr = st.cur_mut();
        for r in 1..=5 {
            fr.regs[r] = Reg::NotInit;
        }
        fr.regs[0] = unknown();
        Ok(vec![(next, st)])
    }

    /// The state a global function starting at `start` is verified from: its arguments as
    /// its prototype describes them (`btf_prepare_func_args`).
    pub(super) fn global_entry(&mut self, start: usize) -> Result<State, String> {
        let f = self.global(start).expect("only global functions are called this way");
        let mut regs = [Reg::NotInit; 11];
        if f.args.len() > 5 {
            return Err(format!("global function {} with more than 5 arguments", f.name));
        }
        for (i, arg) in f.args.iter().enumerate() {
            regs[i + 1] = match arg {
                FuncArg::Scalar => unknown(),
                FuncArg::Ctx => Reg::Ptr(Ptr::new(PtrKind::Ctx, 0)),
                FuncArg::Mem { size, nullable } => {
                    let mut p = Ptr::new(PtrKind::Mem { size: *size, rdonly: false, ringbuf: false }, 0);
                    if *nullable {
                        p.maybe_null = true;
                        p.id = self.fresh_id();
                    }
                    Reg::Ptr(p)
                }
                FuncArg::Other(what) => return Err(format!("global function {} argument: {what}", f.name)),
            };
        }
        regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: 0 }, 0));
        let mut frame = Frame::new(regs, 0);
        frame.subprog = start;
        Ok(State { frames: vec![frame], may_goto_depth: 0, refs: Vec::new() })
    }

    /// A frame for subprogram `subprog` called at `callsite` with `regs` (R10 is set here).
    pub(super) fn callee_frame(
        &self,
        st: &State,
        mut regs: [Reg; 11],
        callsite: usize,
        subprog: usize,
    ) -> Frame {
        regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: st.frames.len() as u8 }, 0));
        let mut f = Frame::new(regs, callsite);
        f.subprog = subprog;
        f
    }

    /// `push_callback_call`: `st` (the caller at the helper call, arguments intact) entering
    /// callback `cb` once more, or `None` when `bpf_loop` has run it as often as its count
    /// allows on this path.
    fn callback_state(
        &self,
        pc: usize,
        st: &mut State,
        id: i32,
        cb: usize,
        map_type: Option<u32>,
    ) -> Result<Option<State>, Stop> {
        let caller = st.cur().regs;
        let mut regs = [Reg::NotInit; 11];
        if id == LOOP {
            // A pointer count passes ARG_ANYTHING, but this kernel then fails with
            // "verifier bug: backtracking misuse" (EFAULT): no verdict to model.
            let Reg::Scalar(count) = caller[1] else { return unsupported(pc, "bpf_loop count is a pointer") };
            let count = count.umax;
            if st.cur().callback_depth >= count {
                return Ok(None);
            }
            // callback_fn(u64 index, void *ctx)
            regs[1] = unknown();
            regs[2] = caller[3];
        } else {
            // The map types with a `map_for_each_callback`.
            use map_type::{ARRAY, HASH, LRU_HASH, LRU_PERCPU_HASH, PERCPU_ARRAY, PERCPU_HASH};
            if !matches!(
                map_type,
                Some(ARRAY | PERCPU_ARRAY | HASH | PERCPU_HASH | LRU_HASH | LRU_PERCPU_HASH)
            ) {
                return reject(pc, "callback function not allowed for map");
            }
            let Reg::Ptr(Ptr { kind: PtrKind::Map { map }, .. }) = caller[1] else {
                return unsupported(pc, "for_each_map_elem without a map");
            };
            // callback_fn(map, key, value, ctx)
            regs[1] = caller[1];
            regs[2] = Reg::Ptr(Ptr::new(PtrKind::MapKey { map }, 0));
            regs[3] = Reg::Ptr(Ptr::new(PtrKind::MapValue { map }, 0));
            regs[4] = caller[3];
        }
        if st.frames.len() >= MAX_CALL_FRAMES {
            return reject(pc, format!("the call stack of {} frames is too deep", st.frames.len() + 1));
        }
        st.cur_mut().callback_depth += 1;
        let mut f = self.callee_frame(st, regs, pc, cb);
        f.callback = true;
        st.frames.push(f);
        Ok(Some(st.clone()))
    }

    pub(super) fn exit(&mut self, pc: usize, mut st: State) -> Step {
        if st.frames.len() > 1 {
            // prepare_func_exit
            let r0 = st.cur().regs[0];
            if let Reg::Ptr(Ptr { kind: PtrKind::Stack { .. }, .. }) = r0 {
                return reject(pc, "cannot return stack pointer to the caller");
            }
            let callee = st.frames.pop().expect("more than one frame");
            if callee.callback {
                let Reg::Scalar(v) = r0 else { return reject(pc, "R0 not a scalar value") };
                if v.smin < 0 || v.smax > 1 {
                    return reject(pc, invalid_scalar("At callback return", "R0", &v, (0, 1)));
                }
                // Back to the helper call, which may call the callback again; after many runs
                // the scalars that changed since the previous iteration are widened.
                if st.cur().callback_depth > WIDEN_AFTER {
                    if let Some(prev) = self.prev_entry(callee.callsite, &st) {
                        widen(&prev, &mut st);
                    }
                }
                return Ok(vec![(callee.callsite, st)]);
            }
            let f = st.cur_mut();
            f.regs[0] = r0;
            for r in 1..=5 {
                f.regs[r] = Reg::NotInit;
            }
            return Ok(vec![(callee.callsite + 1, st)]);
        }
        if matches!(st.cur().regs[0], Reg::NotInit) {
            return reject(pc, "R0 !read_ok");
        }
        if st.cur().subprog != 0 {
            // The end of a global function: any scalar.
            return match st.cur().regs[0] {
                Reg::Scalar(_) => Ok(Vec::new()),
                r0 => reject(
                    pc,
                    format!("At subprogram exit the register R0 is not a scalar value ({})", r0.type_name()),
                ),
            };
        }
        if !st.refs.is_empty() {
            return reject(pc, "BPF_EXIT instruction in main prog would lead to reference leak");
        }
        // check_return_code: these types return a value in [0, 1] (cgroup_skb egress programs,
        // whose attach type the model does not know, [0, 3]).
        if matches!(self.env.prog_type, ProgType::CgroupSkb | ProgType::SockOps | ProgType::CgroupSock) {
            match st.cur().regs[0] {
                Reg::Scalar(s) if s.smin >= 0 && s.smax <= 1 => {}
                Reg::Scalar(s) if self.env.prog_type != ProgType::CgroupSkb => {
                    let mut has = String::new();
                    if s.smin > i64::MIN {
                        has += &format!(" smin={}", s.smin);
                    }
                    if s.smax < i64::MAX {
                        has += &format!(" smax={}", s.smax);
                    }
                    if has.is_empty() {
                        has = " unknown scalar value".into();
                    }
                    return reject(
                        pc,
                        format!("At program exit the register R0 has{has} should have been in [0, 1]"),
                    );
                }
                Reg::Ptr(p) => {
                    return reject(
                        pc,
                        format!("At program exit the register R0 is not a known value ({})", p.type_name()),
                    )
                }
                _ => return unsupported(pc, format!("{} return value range", self.env.prog_type)),
            }
        }
        Ok(Vec::new())
    }
}

/// `verbose_invalid_scalar`: a scalar outside the range a return must have.
fn invalid_scalar(ctx: &str, reg: &str, v: &Scalar, (lo, hi): (i64, i64)) -> String {
    let mut m = format!("{ctx} the register {reg} has");
    if v.smin > i64::MIN {
        m += &format!(" smin={}", v.smin);
    }
    if v.smax < i64::MAX {
        m += &format!(" smax={}", v.smax);
    }
    if v.smin == i64::MIN && v.smax == i64::MAX {
        m += " unknown scalar value";
    }
    m + &format!(" should have been in [{lo}, {hi}]")
}

/// `release_reference`: the reference goes, and every register or spill holding a pointer of
/// it becomes an unknown scalar (`mark_reg_invalid` for a privileged loader).
pub(crate) fn release_reference(st: &mut State, id: u32) {
    st.refs.retain(|(r, _)| *r != id);
    st.for_each_reg_mut(|r| {
        if matches!(r, Reg::Ptr(p) if p.ref_obj_id == id) {
            *r = unknown();
        }
    });
}
