//! Memory accesses of the explorer: loads and stores through each pointer type (stack, context,
//! packet, map value, memory), helpers' memory arguments, and the stack's spill/fill rules.

use bpf_patch::op::Reg as R;

use super::{reject, unknown, unsupported, Explorer, Stop};
use crate::load::ProgType;
use crate::verifier::ctx::{self, Access, CtxField};
use crate::verifier::dynptr;
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Byte, Frame, Ptr, PtrKind, Reg, StackSlot, State, STACK_SLOTS};
use crate::verifier::subprog;

impl Explorer<'_> {
    /// Records a stack access `off` bytes below the frame pointer of frame `frame`
    /// (`grow_stack_state`).
    pub(super) fn touch_stack(&self, st: &State, frame: usize, off: i64) {
        let Some(f) = st.frames.get(frame) else { return };
        let k = subprog::subprog_of(&self.subprogs, f.subprog);
        let need = u32::try_from(-off).unwrap_or(0);
        if let Some(d) = self.depths.get(k) {
            d.set(d.get().max(need));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn mem_access(
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
        if let Some(v) = self.trusted_access(pc, r, p, off, size, access, value)? {
            return Ok(v);
        }
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
                self.touch_stack(st, frame, off);
                match access {
                    Access::Read => {
                        Ok(stack_read(pc, &st.frames[frame], off, size, self.env.allow_uninit_stack)?)
                    }
                    Access::Write => {
                        if matches!(st.frames[frame].slot(slot_of(off).0), StackSlot::Iter(_)) {
                            return unsupported(pc, "a store over an iterator");
                        }
                        // check_stack_write_fixed_off: a write into a dynptr destroys it.
                        if let Err(m) = dynptr::destroy(st, frame, slot_of(off).0) {
                            return reject(pc, m);
                        }
                        stack_write(&mut st.frames[frame], off, size, value.unwrap_or_else(unknown));
                        Ok(Reg::NotInit)
                    }
                }
            }
            PtrKind::Ctx => {
                // check_ptr_off_reg: the context pointer itself must be unmodified.
                if p.off < 0 {
                    return reject(pc, format!("negative offset ctx ptr R{r} off={} disallowed", p.off));
                }
                if p.off > 0 {
                    return reject(
                        pc,
                        format!("dereference of modified ctx ptr R{r} off={} disallowed", p.off),
                    );
                }
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
                    Some(CtxField::SocketOrNull) => unsupported(pc, "bpf_sock_ops.sk"),
                }
            }
            PtrKind::Packet | PtrKind::PacketMeta => {
                if self.env.prog_type == ProgType::SockOps {
                    return unsupported(pc, "sock_ops packet access");
                }
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
            PtrKind::MapKey { map } => {
                let Some(def) = self.map(map as i32) else { return unsupported(pc, "unknown map") };
                if access == Access::Write {
                    return reject(pc, format!("write to change key R{r} not allowed"));
                }
                let ks = i64::from(def.key_size);
                let (lo, hi) = (off + p.var.smin.max(i64::MIN / 4), off + p.var.umax.min(1 << 40) as i64);
                if lo < 0 || hi + i64::from(size) > ks {
                    return reject(
                        pc,
                        format!("invalid access to map key, key_size={ks} off={off} size={size}"),
                    );
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
                        // The kernel logs `invalid access to map value, value_size=.. off=..
                        // size=..`, then check_mem_region_access's reason, the last line.
                        return reject(pc, format!("R{r} min value is outside of the allowed memory range"));
                    }
                } else if lo < 0 {
                    return reject(pc, format!("R{r} min value is outside of the allowed memory range"));
                } else if hi + i64::from(size) > vs {
                    return reject(pc, format!("R{r} max value is outside of the allowed memory range"));
                }
                Ok(unknown())
            }
            PtrKind::Mem { size: ms, rdonly, .. } => {
                if access == Access::Write && rdonly {
                    return reject(pc, format!("R{r} cannot write into rdonly_mem"));
                }
                // check_mem_region_access: the last line the kernel prints names the bound.
                let fits = |at: i64| at >= 0 && at + i64::from(size) <= i64::from(ms);
                if p.var.smin < 0 && off + p.var.smin.max(i64::MIN / 4) < 0 {
                    return reject(
                        pc,
                        format!("R{r} min value is negative, either use unsigned index or do a if (index >=0) check."),
                    );
                }
                if !fits(off + p.var.smin.max(i64::MIN / 4)) {
                    return reject(pc, format!("R{r} min value is outside of the allowed memory range"));
                }
                if p.var.umax >= 1 << 29 {
                    return reject(
                        pc,
                        format!("R{r} unbounded memory access, make sure to bounds check any such access"),
                    );
                }
                if !fits(off + p.var.umax as i64) {
                    return reject(pc, format!("R{r} max value is outside of the allowed memory range"));
                }
                Ok(unknown())
            }
            PtrKind::BtfId { type_id, .. } => {
                // check_ptr_to_btf_access: read only, a constant non-negative offset.
                let Some(table) = self.env.kfunc_table else {
                    return unsupported(pc, "kernel pointer without BTF");
                };
                if access == Access::Write {
                    return unsupported(pc, "write through a kernel pointer");
                }
                let tname = crate::verifier::btf_ptr::struct_name(table, type_id);
                if p.var.as_const() != Some(0) {
                    return unsupported(pc, "variable offset into a kernel struct");
                }
                if off < 0 {
                    return reject(pc, format!("R{r} is ptr_{tname} invalid negative access: off={off}"));
                }
                match crate::verifier::btf_ptr::read(table, type_id, off as u64, u64::from(size)) {
                    Ok(crate::verifier::btf_ptr::Field::Scalar) => Ok(unknown()),
                    Ok(crate::verifier::btf_ptr::Field::Ptr(id)) => {
                        Ok(Reg::Ptr(Ptr::new(PtrKind::BtfId { type_id: id, trusted: false }, 0)))
                    }
                    Err(m) => reject(pc, m),
                }
            }
            PtrKind::PacketEnd
            | PtrKind::Map { .. }
            | PtrKind::Func { .. }
            | PtrKind::Trusted { .. }
            | PtrKind::TrustedMem => reject(pc, format!("R{r} invalid mem access '{}'", p.kind.name())),
        }
    }

    /// A helper's memory argument of `size` bytes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn helper_mem(
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
                self.touch_stack(st, usize::from(frame), off);
                let f = &mut st.frames[usize::from(frame)];
                if access == Access::Write {
                    // check_stack_range_initialized in raw mode: no helper writes into a dynptr.
                    for k in 0..i64::from(size) {
                        let (s, b) = slot_of(off + k);
                        if matches!(f.slot(s), StackSlot::Iter(_)) {
                            return unsupported(pc, "a helper writing over an iterator");
                        }
                        if f.slot(s).bytes()[b] == Byte::Dynptr {
                            return reject(pc, format!("potential write to dynptr at off={} disallowed", off + k));
                        }
                    }
                    stack_write(f, off, size, unknown());
                } else {
                    for k in 0..i64::from(size) {
                        let b = off + k;
                        let slot = ((-b - 1) / 8) as usize;
                        let byte = (b.rem_euclid(8)) as usize;
                        let b = f.slot(slot).bytes()[byte];
                        if b == Byte::Dynptr || (b == Byte::Invalid && !self.env.allow_uninit_stack) {
                            return reject(pc, format!("invalid indirect read from stack R{regno} off {}+{} size {size}", off, k));
                        }
                    }
                }
                Ok(())
            }
            Reg::Ptr(p) if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) && !pkt_access => {
                reject(pc, "helper access to the packet is not allowed")
            }
            Reg::Ptr(p) if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta | PtrKind::MapKey { .. } | PtrKind::MapValue { .. } | PtrKind::Mem { .. }) => {
                let mut tmp = st.clone();
                self.mem_access(pc, &mut tmp, r, v, 0, size, access, Some(unknown())).map(|_| ())
            }
            _ => reject(pc, format!("R{regno} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_", v.type_name())),
        }
    }
}

/// Slot index and byte of stack offset `off` (negative).
fn slot_of(off: i64) -> (usize, usize) {
    (((-off - 1) / 8) as usize, off.rem_euclid(8) as usize)
}

pub(super) fn stack_read(pc: usize, f: &Frame, off: i64, size: u32, allow_uninit: bool) -> Result<Reg, Stop> {
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
            Some(Byte::Invalid | Byte::Dynptr) | None => {
                return reject(pc, format!("invalid read from stack off {off}+{k} size {size}"));
            }
            Some(Byte::Misc) => all_zero = false,
            Some(Byte::Zero) => {}
        }
    }
    Ok(Reg::Scalar(if all_zero { Scalar::constant(0) } else { Scalar::UNKNOWN }))
}

pub(super) fn stack_write(f: &mut Frame, off: i64, size: u32, value: Reg) {
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
