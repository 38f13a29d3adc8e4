//! Dynptrs on the stack, as the kernel's verifier tracks them (kernel-notes §D.4): a
//! `struct bpf_dynptr` occupies two adjacent 8-byte stack slots (`STACK_DYNPTR`) at a
//! constant, 8-aligned offset of at least 16 bytes below the frame pointer; the slot at the
//! lower address is the first. Both slots carry the dynptr's type, its `id` (shared with the
//! slices made from it) and, for the referenced type (ringbuf), its `ref_obj_id` (shared with
//! its clones).
//!
//! What lives here: the slot representation ([`DynptrSlot`]), locating a dynptr argument
//! (`dynptr_get_spi`), the initialised / uninitialised tests, marking, destroying (a write over
//! an unreferenced dynptr) and invalidating (a release) dynptr slots, and the slice
//! invalidations (`clear_all_pkt_pointers`). The argument checks that use these live with the
//! calls ([`super::explore`]).

use super::scalar::Scalar;
use super::state::{Frame, Ptr, PtrKind, Reg, StackSlot, State, UNWRITTEN};

/// `enum bpf_dynptr_type` (without `INVALID`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DynptrType {
    /// `BPF_DYNPTR_TYPE_LOCAL` (`bpf_dynptr_from_mem`).
    Local,
    /// `BPF_DYNPTR_TYPE_RINGBUF` (`bpf_ringbuf_reserve_dynptr`): referenced.
    Ringbuf,
    /// `BPF_DYNPTR_TYPE_SKB` (`bpf_dynptr_from_skb`).
    Skb,
    /// `BPF_DYNPTR_TYPE_XDP` (`bpf_dynptr_from_xdp`).
    Xdp,
    /// `BPF_DYNPTR_TYPE_SKB_META` (`bpf_dynptr_from_skb_meta`).
    SkbMeta,
}

impl DynptrType {
    /// `dynptr_type_str`.
    pub fn name(self) -> &'static str {
        match self {
            DynptrType::Local => "local",
            DynptrType::Ringbuf => "ringbuf",
            DynptrType::Skb => "skb",
            DynptrType::Xdp => "xdp",
            DynptrType::SkbMeta => "skb_meta",
        }
    }

    /// `dynptr_type_refcounted`: only ringbuf dynptrs hold a reference on 6.18.
    pub fn refcounted(self) -> bool {
        self == DynptrType::Ringbuf
    }

    /// Its slices are packet slices (`reg_is_dynptr_slice_pkt`): a packet change kills them.
    pub fn packet(self) -> bool {
        matches!(self, DynptrType::Skb | DynptrType::Xdp | DynptrType::SkbMeta)
    }
}

/// One of the two stack slots of a dynptr.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DynptrSlot {
    /// Its type.
    pub ty: DynptrType,
    /// The slot at the lower address (`dynptr.first_slot`).
    pub first: bool,
    /// Identity shared with the slices made from it.
    pub id: u32,
    /// The reference it holds (ringbuf; shared by clones), 0 for none.
    pub ref_obj_id: u32,
}

/// Why a stack location cannot hold a dynptr argument (`stack_slot_obj_get_spi`); each
/// variant's message is the kernel's first line, which the caller's own message follows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SpiError {
    /// A variable offset: "dynptr has to be at a constant offset".
    Variable,
    /// Misaligned or too close to the frame pointer: "cannot pass in dynptr at an offset=N".
    Offset(i64),
    /// The slots are outside the stack written so far (`-ERANGE`): fine for a constructor.
    Range,
}

/// The first slot index (`spi`) of the dynptr that stack pointer `p` points to.
pub fn spi(p: &Ptr, frame: &Frame) -> Result<usize, SpiError> {
    let Some(var) = p.var.as_const() else { return Err(SpiError::Variable) };
    let off = i64::from(p.off) + var as i64;
    if off % 8 != 0 {
        return Err(SpiError::Offset(off));
    }
    // __get_spi: C division truncates toward zero.
    let spi = (-off - 1) / 8;
    if spi + 1 < 2 {
        return Err(SpiError::Offset(off));
    }
    let spi = spi as usize;
    // The model's stack is as long as the deepest slot written: past it there is no dynptr.
    if spi >= frame.stack.len() {
        return Err(SpiError::Range);
    }
    Ok(spi)
}

/// The dynptr slot at `spi`, if it is one.
pub fn slot(frame: &Frame, spi: usize) -> Option<DynptrSlot> {
    match frame.slot(spi) {
        StackSlot::Dynptr(d) => Some(d),
        _ => None,
    }
}

/// `is_dynptr_reg_valid_init`: both slots hold a dynptr and `spi` is its first.
pub fn initialised(frame: &Frame, spi: usize) -> Option<DynptrSlot> {
    let d = slot(frame, spi).filter(|d| d.first)?;
    slot(frame, spi - 1)?;
    Some(d)
}

/// `destroy_if_dynptr_stack_slot`: a write touching slot `spi` of frame `frame` destroys the
/// dynptr there (both slots become unwritten, the `bpf_dynptr_data` slices of it unknown
/// scalars); a referenced one may not be overwritten.
pub fn destroy(st: &mut State, frame: usize, spi: usize) -> Result<(), String> {
    let Some(d) = slot(&st.frames[frame], spi) else { return Ok(()) };
    let first = if d.first { spi } else { spi + 1 };
    let Some(d) = slot(&st.frames[frame], first) else { return Ok(()) };
    if d.ty.refcounted() {
        return Err("cannot overwrite referenced dynptr".into());
    }
    let f = &mut st.frames[frame];
    *f.slot_mut(first) = UNWRITTEN;
    *f.slot_mut(first - 1) = UNWRITTEN;
    // Only untyped PTR_TO_MEM[_OR_NULL] registers (bpf_dynptr_data's) are matched.
    st.for_each_reg_mut(|r| {
        if let Reg::Ptr(p) = r {
            if matches!(p.kind, PtrKind::Mem { rdonly: false, ringbuf: false, .. })
                && p.slice_of.is_none()
                && p.dynptr_id == d.id
            {
                *r = Reg::Scalar(Scalar::UNKNOWN);
            }
        }
    });
    Ok(())
}

/// `mark_stack_slots_dynptr`: a new dynptr of type `ty` at `spi` (after the 16-byte write).
pub fn mark(frame: &mut Frame, spi: usize, ty: DynptrType, id: u32, ref_obj_id: u32) {
    *frame.slot_mut(spi) = StackSlot::Dynptr(DynptrSlot { ty, first: true, id, ref_obj_id });
    *frame.slot_mut(spi - 1) = StackSlot::Dynptr(DynptrSlot { ty, first: false, id, ref_obj_id });
}

/// `unmark_stack_slots_dynptr` for a referenced dynptr: the reference goes, with every
/// register holding it, and every dynptr of the frame sharing it (clones) is invalidated.
pub fn release(st: &mut State, frame: usize, ref_obj_id: u32) {
    super::explore::release_reference(st, ref_obj_id);
    let f = &mut st.frames[frame];
    for i in 0..f.stack.len() {
        if matches!(f.slot(i), StackSlot::Dynptr(d) if d.first && d.ref_obj_id == ref_obj_id) {
            *f.slot_mut(i) = UNWRITTEN;
            *f.slot_mut(i - 1) = UNWRITTEN;
        }
    }
}

/// `clear_all_pkt_pointers`: after a packet change every packet pointer and every slice of an
/// skb, xdp or skb_meta dynptr becomes an unknown scalar (`mark_reg_invalid`, privileged).
pub fn clear_packet_pointers(st: &mut State) {
    st.for_each_reg_mut(|r| {
        if let Reg::Ptr(p) = r {
            let pkt = matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta | PtrKind::PacketEnd);
            if pkt || p.slice_of.is_some_and(DynptrType::packet) {
                *r = Reg::Scalar(Scalar::UNKNOWN);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(off: i32) -> Ptr {
        Ptr::new(PtrKind::Stack { frame: 0 }, off)
    }

    #[test]
    fn dynptr_locations_follow_stack_slot_obj_get_spi() {
        let mut f = Frame::new([Reg::NotInit; 11], 0);
        assert_eq!(spi(&fp(-16), &f), Err(SpiError::Range));
        *f.slot_mut(3) = UNWRITTEN;
        assert_eq!(spi(&fp(-16), &f), Ok(1));
        assert_eq!(spi(&fp(-20), &f), Err(SpiError::Offset(-20)));
        assert_eq!(spi(&fp(-8), &f), Err(SpiError::Offset(-8)));
        assert_eq!(spi(&fp(0), &f), Err(SpiError::Offset(0)));
        let mut p = fp(-16);
        p.var = Scalar::UNKNOWN;
        assert_eq!(spi(&p, &f), Err(SpiError::Variable));
    }

    #[test]
    fn overwriting_destroys_unreferenced_and_refuses_referenced() {
        let mut st =
            State { frames: vec![Frame::new([Reg::NotInit; 11], 0)], may_goto_depth: 0, refs: vec![] };
        mark(&mut st.frames[0], 1, DynptrType::Skb, 1, 0);
        assert!(initialised(&st.frames[0], 1).is_some());
        assert_eq!(destroy(&mut st, 0, 0), Ok(()));
        assert!(initialised(&st.frames[0], 1).is_none());
        mark(&mut st.frames[0], 1, DynptrType::Ringbuf, 2, 2);
        assert_eq!(destroy(&mut st, 0, 1), Err("cannot overwrite referenced dynptr".into()));
    }
}
