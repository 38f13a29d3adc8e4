//! Open-coded iterators on the stack (`STACK_ITER`), as the kernel's verifier tracks the
//! numbers iterator `struct bpf_iter_num` (8 bytes, one slot): `bpf_iter_num_new` makes an
//! active iterator holding a reference, `bpf_iter_num_next` forks an iteration one level deeper
//! (active, the returned pointer non-NULL) from the exit (drained, NULL), and
//! `bpf_iter_num_destroy` releases it. Iteration depth is not part of state inclusion, which is
//! what lets an iterator loop converge (`stacksafe` ignores `iter.depth`).

use super::state::{Frame, Ptr, StackSlot};

/// The slot of an iterator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IterSlot {
    /// `BPF_ITER_STATE_ACTIVE` (else drained).
    pub active: bool,
    /// Iterations followed to reach this state (`iter.depth`).
    pub depth: u32,
    /// The reference it holds.
    pub ref_obj_id: u32,
}

impl IterSlot {
    /// Inclusion for pruning: the same state and reference, any depth.
    pub fn includes(&self, other: &IterSlot) -> bool {
        self.active == other.active && self.ref_obj_id == other.ref_obj_id
    }
}

/// Why a stack pointer cannot locate an iterator (`stack_slot_obj_get_spi` with one slot).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IterSpi {
    /// Variable offset, misaligned or not below the frame pointer.
    Bad,
    /// Past the stack written so far (fine for `_new`).
    Range,
}

/// The slot index of the iterator that stack pointer `p` points to.
pub fn spi(p: &Ptr, frame: &Frame) -> Result<usize, IterSpi> {
    let off = p.var.as_const().map(|v| i64::from(p.off) + v as i64).ok_or(IterSpi::Bad)?;
    if off % 8 != 0 || off >= 0 {
        return Err(IterSpi::Bad);
    }
    let spi = ((-off - 1) / 8) as usize;
    if spi >= frame.stack.len() {
        return Err(IterSpi::Range);
    }
    Ok(spi)
}

/// The iterator at slot `spi`, if any.
pub fn slot(frame: &Frame, spi: usize) -> Option<IterSlot> {
    match frame.slot(spi) {
        StackSlot::Iter(i) => Some(i),
        _ => None,
    }
}
