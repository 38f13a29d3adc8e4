//! Kfunc calls (`check_kfunc_call`, `check_kfunc_args`) and dynptr arguments of helpers and
//! kfuncs (`process_dynptr_func`).
//!
//! A kfunc call names its target by the loader's numbering (`imm = i + 1` calls
//! [`Env::kfuncs`]`[i]`, what the object loader and the test cases' `; kfunc:` lines produce)
//! or, failing that, by its BTF id in [`Env::kfunc_table`]. [`resolve`] does the kernel's
//! `add_kfunc_call` checks before exploration (GPL, device-bound metadata kfuncs); each call
//! is then checked against the prototype read from BTF ([`crate::verifier::kfunc`]): program
//! type gating, scalar, constant, memory / size, context and dynptr arguments, and the
//! returns the model knows (scalars, `void`, dynptr slices). The packet-trait kfuncs, absent
//! from every kernel's BTF, are checked by their bundled rules (`kcall_traits`).

use std::collections::HashMap;

use bpf_patch::op::{CallTarget, Op, Reg as R};
use bpf_patch::Slot;

use super::loops::widen;
use super::{reject, unknown, unsupported, Env, Explorer, Step, Stop, WIDEN_AFTER};
use crate::load::ProgType;
use crate::verifier::btf_ptr;
use crate::verifier::ctx::Access;
use crate::verifier::dynptr::{self, DynptrSlot, DynptrType, SpiError};
use crate::verifier::iter::{self, IterSlot, IterSpi};
use crate::verifier::kfunc::{flags, KArg, KRet, KfuncProto};
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Ptr, PtrKind, Reg, StackSlot, State, UNWRITTEN};

/// A kfunc a program calls: its name and prototype (or why there is none).
#[derive(Clone, Debug)]
pub(super) struct Resolved {
    name: String,
    proto: Result<KfuncProto, String>,
    /// A packet-trait kfunc the kernel's table lacks, checked by its bundled rules.
    traits: Option<&'static crate::traits::args::TraitKfunc>,
}

/// The name of the kfunc call with `imm`: the loader's numbering first, then a BTF id.
pub(super) fn name_of(env: &Env<'_>, imm: i32) -> Option<String> {
    if let Some(n) = usize::try_from(imm).ok().and_then(|i| i.checked_sub(1)).and_then(|i| env.kfuncs.get(i))
    {
        return Some(n.clone());
    }
    env.kfunc_table.and_then(|t| t.name_of(u32::try_from(imm).ok()?))
}

/// `add_kfunc_call` for every kfunc call of the program: the prototypes by `imm`, or the
/// kernel's message for a load refused before verification.
pub(super) fn resolve(ops: &[(Slot, Op)], env: &Env<'_>) -> Result<HashMap<i32, Resolved>, String> {
    let mut out = HashMap::new();
    for (_, op) in ops {
        let Op::Call(CallTarget::Kfunc { btf_id: imm, off: 0 }) = *op else { continue };
        if !env.gpl {
            return Err("cannot call kernel function from non-GPL compatible program".into());
        }
        let Some(name) = name_of(env, imm) else { continue };
        if name.starts_with("bpf_xdp_metadata_") && !env.dev_bound {
            return Err("metadata kfuncs require device-bound program".into());
        }
        let proto = match env.kfunc_table {
            Some(t) => t.proto(&name).map_err(|e| e.to_string()),
            None => Err("no kernel BTF to read its prototype from".into()),
        };
        let traits = proto.as_ref().err().and_then(|_| crate::traits::args::trait_kfunc(&name));
        out.insert(imm, Resolved { name, proto, traits });
    }
    Ok(out)
}

/// What a dynptr argument is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum DynArg {
    /// Initialised, of any type or of the one named.
    Init(Option<DynptrType>),
    /// A constructor's out-parameter: the new dynptr's type and the reference it shares (a
    /// clone of a referenced dynptr) or `None` (a new reference for a referenced type).
    Uninit(DynptrType, Option<u32>),
}

/// `may_access_direct_pkt_data(env, NULL, BPF_WRITE)`.
fn may_write_packet(t: ProgType) -> bool {
    matches!(t, ProgType::SchedCls | ProgType::SchedAct | ProgType::Xdp)
}

/// The context struct a program type's kfunc arguments name.
fn ctx_struct(t: ProgType) -> &'static str {
    match t {
        ProgType::Xdp => "xdp_md",
        _ => "__sk_buff",
    }
}

impl Explorer<'_> {
    /// `process_dynptr_func` for argument register `regno` holding `v`: the dynptr there (an
    /// initialised argument) or the new one (an out-parameter).
    pub(super) fn dynptr_arg(
        &mut self,
        pc: usize,
        st: &mut State,
        regno: u8,
        v: Reg,
        what: DynArg,
    ) -> Result<DynptrSlot, Stop> {
        let arg = regno - 1;
        let p = match v {
            Reg::Ptr(p @ Ptr { kind: PtrKind::Stack { .. }, .. }) => p,
            _ => {
                return reject(pc, format!("arg#{arg} expected pointer to stack or const struct bpf_dynptr"))
            }
        };
        let PtrKind::Stack { frame } = p.kind else { unreachable!("matched above") };
        let frame = usize::from(frame);
        if frame >= st.frames.len() {
            return unsupported(pc, "dynptr in a returned frame's stack");
        }
        match what {
            DynArg::Init(ty) => {
                let d = dynptr::spi(&p, &st.frames[frame])
                    .ok()
                    .and_then(|spi| dynptr::initialised(&st.frames[frame], spi));
                let Some(d) = d else {
                    return reject(pc, format!("Expected an initialized dynptr as arg #{arg}"));
                };
                if let Some(t) = ty.filter(|t| *t != d.ty) {
                    return reject(pc, format!("Expected a dynptr of type {} as arg #{arg}", t.name()));
                }
                Ok(d)
            }
            DynArg::Uninit(ty, shared_ref) => {
                if matches!(dynptr::spi(&p, &st.frames[frame]), Err(SpiError::Variable | SpiError::Offset(_)))
                {
                    return reject(pc, "Dynptr has to be an uninitialized dynptr");
                }
                let r = R::new(regno).expect("argument registers");
                for k in [0, 8] {
                    self.mem_access(pc, st, r, v, k, 8, Access::Write, Some(unknown()))?;
                }
                let spi = dynptr::spi(&p, &st.frames[frame]).expect("both slots were just written");
                let id = self.fresh_id();
                let ref_obj_id = match (ty.refcounted(), shared_ref) {
                    (false, _) => 0,
                    (true, Some(r)) => r,
                    (true, None) => {
                        let r = self.fresh_id();
                        st.refs.push((r, pc));
                        r
                    }
                };
                dynptr::mark(&mut st.frames[frame], spi, ty, id, ref_obj_id);
                Ok(DynptrSlot { ty, first: true, id, ref_obj_id })
            }
        }
    }

    /// A kfunc call with `imm`.
    pub(super) fn call_kfunc(&mut self, pc: usize, mut st: State, next: usize, imm: i32) -> Step {
        let Some(k) = self.kfuncs.get(&imm).cloned() else {
            return unsupported(pc, format!("kfunc call {imm} whose name is unknown"));
        };
        if let Some(t) = k.traits {
            return self.call_trait_kfunc(pc, st, next, t);
        }
        let p = match k.proto {
            Ok(p) => p,
            Err(e) => return unsupported(pc, format!("kfunc {}: {e}", k.name)),
        };
        if !p.allowed(self.env.prog_type) {
            return reject(pc, format!("calling kernel function {} is not allowed", p.name));
        }
        if p.args.len() > 5 {
            return unsupported(pc, format!("kfunc {} with more than 5 arguments", p.name));
        }
        let mut parent: Option<DynptrSlot> = None;
        let mut release = None;
        let mut iter = None;
        let mut konst = None;
        let mut i = 0;
        while i < p.args.len() {
            let regno = (i + 1) as u8;
            let r = R::new(regno).expect("R1-R5");
            let v = st.cur().regs[i + 1];
            let arg = &p.args[i].1;
            let null = matches!(v, Reg::Scalar(s) if s.as_const() == Some(0));
            let maybe_null = matches!(v, Reg::Ptr(q) if q.maybe_null);
            let nullable = matches!(arg, KArg::MemSize { nullable: true } | KArg::Mem { nullable: true, .. });
            let pointer = !matches!(arg, KArg::Scalar { .. } | KArg::Size { .. } | KArg::Ignored);
            if pointer && (null || maybe_null) && !nullable {
                return reject(pc, format!("Possibly NULL pointer passed to trusted arg{i}"));
            }
            match arg {
                KArg::Ignored => {}
                KArg::Scalar { konst: must } | KArg::Size { konst: must } => {
                    let Reg::Scalar(s) = v else { return reject(pc, format!("R{regno} is not a scalar")) };
                    if *must && s.as_const().is_none() {
                        return reject(pc, format!("R{regno} must be a known constant"));
                    }
                    konst = konst.or(s.as_const().filter(|_| *must));
                }
                KArg::Ctx(name) => {
                    if name != ctx_struct(self.env.prog_type) {
                        return unsupported(
                            pc,
                            format!("kfunc {} context {name} in {}", p.name, self.env.prog_type),
                        );
                    }
                    match v {
                        Reg::Ptr(Ptr { kind: PtrKind::Ctx, off: 0, .. }) => {}
                        Reg::Ptr(Ptr { kind: PtrKind::Ctx, off, .. }) => {
                            return reject(
                                pc,
                                format!("dereference of modified ctx ptr R{regno} off={off} disallowed"),
                            )
                        }
                        _ => {
                            return reject(
                                pc,
                                format!("arg#{i} expected pointer to ctx, but got {}", v.type_name()),
                            )
                        }
                    }
                }
                KArg::Dynptr { uninit } => {
                    let what = if *uninit {
                        let ty = match p.name.as_str() {
                            "bpf_dynptr_from_skb" => DynptrType::Skb,
                            "bpf_dynptr_from_xdp" => DynptrType::Xdp,
                            "bpf_dynptr_from_skb_meta" => DynptrType::SkbMeta,
                            "bpf_dynptr_clone" => match parent {
                                Some(d) => d.ty,
                                None => return unsupported(pc, "bpf_dynptr_clone without a parent"),
                            },
                            other => return unsupported(pc, format!("dynptr constructor {other}")),
                        };
                        DynArg::Uninit(ty, parent.map(|d| d.ref_obj_id).filter(|r| *r != 0))
                    } else {
                        DynArg::Init(None)
                    };
                    let d = self.dynptr_arg(pc, &mut st, regno, v, what)?;
                    if !uninit {
                        parent = Some(d);
                    }
                }
                KArg::MemSize { .. } => {
                    let size_reg = i + 2;
                    let KArg::Size { konst: must } =
                        p.args.get(i + 1).map(|a| &a.1).unwrap_or(&KArg::Ignored)
                    else {
                        return unsupported(pc, format!("kfunc {} memory argument without a size", p.name));
                    };
                    let s = match st.cur().regs[size_reg] {
                        Reg::Scalar(s) => s,
                        _ => return reject(pc, format!("R{size_reg} is not a scalar")),
                    };
                    if !null {
                        let Some(n) = s.as_const() else {
                            return unsupported(pc, "variable kfunc memory size");
                        };
                        let mut q = v;
                        if let Reg::Ptr(x) = &mut q {
                            x.maybe_null = false;
                        }
                        let mut tmp = st.clone();
                        let ok = n == 0
                            || (self.helper_mem(pc, &mut tmp, r, q, n as u32, Access::Read, true).is_ok()
                                && self
                                    .helper_mem(pc, &mut tmp, r, q, n as u32, Access::Write, true)
                                    .is_ok());
                        if !ok {
                            return reject(
                                pc,
                                format!(
                                    "arg#{i} arg#{} memory, len pair leads to invalid memory access",
                                    i + 1
                                ),
                            );
                        }
                    }
                    if *must {
                        let Some(c) = s.as_const() else {
                            return reject(pc, format!("R{size_reg} must be a known constant"));
                        };
                        konst = Some(c);
                    }
                    i += 1;
                }
                KArg::Mem { size, .. } => {
                    if !null {
                        self.helper_mem(pc, &mut st, r, v, *size, Access::Read, true)?;
                        self.helper_mem(pc, &mut st, r, v, *size, Access::Write, true)?;
                    }
                }
                KArg::AnyPtr if p.name == "bpf_cast_to_kern_ctx" => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, .. }) => {}
                    _ => {
                        return reject(
                            pc,
                            format!("arg#{i} expected pointer to ctx, but got {}", v.type_name()),
                        )
                    }
                },
                // A referenced kernel object handed back (KF_RELEASE): the very pointer acquired.
                KArg::BtfPtr(name) if p.has(flags::RELEASE) && i == 0 => {
                    let table = self.env.kfunc_table.expect("prototypes come from the table");
                    let want = btf_ptr::struct_id(table, name);
                    match v {
                        Reg::Ptr(Ptr {
                            kind: PtrKind::BtfId { type_id, trusted: true },
                            off: 0,
                            ref_obj_id,
                            var,
                            ..
                        }) if Some(type_id) == want && ref_obj_id != 0 && var.as_const() == Some(0) => {
                            release = Some(ref_obj_id)
                        }
                        _ => return unsupported(pc, format!("kfunc {} releasing {}", p.name, v.type_name())),
                    }
                }
                KArg::Iter(name) if name == "bpf_iter_num" => {
                    iter = self.iter_arg(pc, &mut st, regno, v, &p.name)?;
                }
                KArg::Str | KArg::BtfPtr(_) | KArg::AnyPtr | KArg::Iter(_) => {
                    return unsupported(pc, format!("kfunc {} argument {}", p.name, p.args[i].0))
                }
            }
            i += 1;
        }
        let r0 = match (&p.ret, p.name.as_str()) {
            (KRet::Void, _) => Reg::NotInit,
            (_, "bpf_iter_num_next") => Reg::Scalar(Scalar::constant(0)),
            (KRet::Scalar, _) => unknown(),
            (KRet::VoidPtr, "bpf_dynptr_slice" | "bpf_dynptr_slice_rdwr") => {
                let Some(d) = parent else {
                    return unsupported(pc, format!("{} without a dynptr argument", p.name));
                };
                let rdonly = p.name == "bpf_dynptr_slice";
                if !rdonly && !may_write_packet(self.env.prog_type) {
                    return reject(pc, "the prog does not allow writes to packet data");
                }
                let Some(size) = konst else { return reject(pc, "mem_size must be a constant") };
                let size = u32::try_from(size).unwrap_or(u32::MAX);
                let mut q = Ptr::new(PtrKind::Mem { size, rdonly, ringbuf: false }, 0);
                q.slice_of = Some(d.ty);
                q.dynptr_id = d.id;
                if p.has(flags::RET_NULL) {
                    q.maybe_null = true;
                    q.id = self.fresh_id();
                }
                Reg::Ptr(q)
            }
            (KRet::VoidPtr, "bpf_cast_to_kern_ctx") => {
                let kern = if self.env.prog_type == ProgType::Xdp { "xdp_buff" } else { "sk_buff" };
                let table = self.env.kfunc_table.expect("prototypes come from the table");
                let Some(type_id) = btf_ptr::struct_id(table, kern) else {
                    return unsupported(pc, format!("no struct {kern} in {}", table.origin()));
                };
                Reg::Ptr(Ptr::new(PtrKind::BtfId { type_id, trusted: true }, 0))
            }
            (KRet::VoidPtr, "bpf_rdonly_cast") => {
                let table = self.env.kfunc_table.expect("prototypes come from the table");
                let id = konst.and_then(|k| u32::try_from(k).ok()).unwrap_or(0);
                let Some(btf) = table.btf() else {
                    return unsupported(pc, format!("bpf_rdonly_cast with {}", table.origin()));
                };
                if !matches!(btf.resolve_type_by_id(id), Ok(btf_rs::Type::Struct(_))) {
                    return unsupported(pc, format!("bpf_rdonly_cast to BTF type {id}, not a struct"));
                }
                Reg::Ptr(Ptr::new(PtrKind::BtfId { type_id: id, trusted: false }, 0))
            }
            // An acquired kernel object (KF_ACQUIRE): a trusted typed pointer holding a reference.
            (KRet::BtfPtr(name), _) if p.has(flags::ACQUIRE) => {
                let table = self.env.kfunc_table.expect("prototypes come from the table");
                let Some(type_id) = btf_ptr::struct_id(table, name) else {
                    return unsupported(
                        pc,
                        format!("kfunc {} returning struct {name}, not in {}", p.name, table.origin()),
                    );
                };
                let mut q = Ptr::new(PtrKind::BtfId { type_id, trusted: true }, 0);
                q.id = self.fresh_id();
                q.ref_obj_id = q.id;
                q.maybe_null = p.has(flags::RET_NULL);
                st.refs.push((q.id, pc));
                Reg::Ptr(q)
            }
            (ret, _) => return unsupported(pc, format!("kfunc {} returning {ret:?}", p.name)),
        };
        if let Some(r) = release {
            super::release_reference(&mut st, r);
        }
        if p.name == "bpf_xdp_pull_data" {
            dynptr::clear_packet_pointers(&mut st);
        }
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = r0;
        match iter {
            Some((frame, spi)) if p.name == "bpf_iter_num_next" => {
                Ok(self.iter_next(pc, st, next, frame, spi))
            }
            _ => Ok(vec![(next, st)]),
        }
    }

    /// `process_iter_arg` for `bpf_iter_num_*` kfunc `name`: the iterator's frame and slot,
    /// after `_new` made it or `_destroy` released it.
    fn iter_arg(
        &mut self,
        pc: usize,
        st: &mut State,
        regno: u8,
        v: Reg,
        name: &str,
    ) -> Result<Option<(usize, usize)>, Stop> {
        let arg = regno - 1;
        let Reg::Ptr(q @ Ptr { kind: PtrKind::Stack { frame }, .. }) = v else {
            return reject(pc, format!("arg#{arg} expected pointer to an iterator on stack"));
        };
        let frame = usize::from(frame);
        if frame >= st.frames.len() {
            return unsupported(pc, "iterator in a returned frame's stack");
        }
        let found = iter::spi(&q, &st.frames[frame]);
        if name == "bpf_iter_num_new" {
            let taken = found.as_ref().is_ok_and(|&s| iter::slot(&st.frames[frame], s).is_some());
            if found == Err(IterSpi::Bad) || taken {
                return reject(pc, format!("expected uninitialized iter_num as arg #{arg}"));
            }
            let r = R::new(regno).expect("argument registers");
            self.mem_access(pc, st, r, v, 0, 8, Access::Write, Some(unknown()))?;
            let spi = iter::spi(&q, &st.frames[frame]).expect("the slot was just written");
            let ref_obj_id = self.fresh_id();
            st.refs.push((ref_obj_id, pc));
            *st.frames[frame].slot_mut(spi) =
                StackSlot::Iter(IterSlot { active: true, depth: 0, ref_obj_id });
            return Ok(None);
        }
        let Some((spi, it)) = found.ok().and_then(|s| Some((s, iter::slot(&st.frames[frame], s)?))) else {
            return reject(pc, format!("expected an initialized iter_num as arg #{arg}"));
        };
        if name == "bpf_iter_num_destroy" {
            super::release_reference(st, it.ref_obj_id);
            *st.frames[frame].slot_mut(spi) = UNWRITTEN;
        }
        Ok(Some((frame, spi)))
    }

    /// `process_iter_next_call`: the drained exit (R0 NULL) first, then, for an active
    /// iterator, one more iteration (R0 a read-only 4-byte pointer, depth + 1), widened against the
    /// previous iteration once [`WIDEN_AFTER`] were followed exactly.
    fn iter_next(
        &self,
        pc: usize,
        mut st: State,
        next: usize,
        frame: usize,
        spi: usize,
    ) -> Vec<(usize, State)> {
        let Some(it) = iter::slot(&st.frames[frame], spi) else { return vec![(next, st)] };
        let mut out = Vec::new();
        if it.active {
            let mut more = st.clone();
            let depth = it.depth + 1;
            *more.frames[frame].slot_mut(spi) = StackSlot::Iter(IterSlot { depth, ..it });
            more.cur_mut().regs[0] =
                Reg::Ptr(Ptr::new(PtrKind::Mem { size: 4, rdonly: true, ringbuf: false }, 0));
            if u64::from(depth) > WIDEN_AFTER {
                if let Some(prev) = self.prev_entry(pc, &more) {
                    widen(&prev, &mut more);
                }
            }
            out.push((next, more));
        }
        *st.frames[frame].slot_mut(spi) = StackSlot::Iter(IterSlot { active: false, ..it });
        out.insert(0, (next, st));
        out
    }

    /// Whether the kfunc call with `imm` is `bpf_iter_num_next` (a loop head).
    pub(super) fn is_iter_next(&self, imm: i32) -> bool {
        self.kfuncs.get(&imm).is_some_and(|r| r.name == "bpf_iter_num_next")
    }
}

/// Instructions the kernel makes checkpoints at (`is_force_checkpoint`): `bpf_iter_num_next`
/// calls are loop heads.
pub(super) fn iter_next_call(op: &Op, kfuncs: &HashMap<i32, Resolved>) -> bool {
    matches!(op, Op::Call(CallTarget::Kfunc { btf_id, off: 0 }) if kfuncs.get(btf_id).is_some_and(|r| r.name == "bpf_iter_num_next"))
}

/// The helpers that change packet data (`bpf_helper_changes_pkt_data`, 6.18).
pub(super) fn changes_packet(id: i32) -> bool {
    matches!(
        id,
        9 | 10 | 11 | 13 | 18 | 19 | 31 | 38 | 39 | 43 | 44 | 50 | 54 | 63 | 65 | 73..=76 | 90 | 91 | 147
    )
}
