//! Calls and exits in the explorer: helper calls checked against the prototype table, and
//! `exit` from a subprogram or the program.

use bpf_patch::op::Reg as R;

use super::{reject, unknown, unsupported, Explorer, Step, Stop};
use crate::load::ProgType;
use crate::verifier::availability;
use crate::verifier::ctx::Access;
use crate::verifier::helpers::{proto, Arg, Ret, Version};
use crate::verifier::map_compat::{self, map_type};
use crate::verifier::state::{Ptr, PtrKind, Reg, State};

impl Explorer<'_> {
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
                Arg::ConstSize | Arg::ConstSizeOrZero => {}
                Arg::Func | Arg::StackOrNull | Arg::Dynptr | Arg::UninitDynptr | Arg::AllocMem => {
                    return unsupported(pc, format!("helper {} argument {:?}", p.name, p.args[i]))
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
            other => return unsupported(pc, format!("helper return {other:?}")),
        };
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = r0;
        Ok(vec![(next, st)])
    }

    pub(super) fn exit(&mut self, pc: usize, mut st: State) -> Step {
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
