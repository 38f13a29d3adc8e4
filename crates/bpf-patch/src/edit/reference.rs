//! The kernel's one-edit-at-a-time algorithm (`bpf_patch_insn_single`, `bpf_adj_branches`,
//! `bpf_remove_insns` of `kernel/bpf/core.c`, re-expressed): the baseline that [`super::apply`]
//! is property-tested and benchmarked against. Each call reallocates and shifts the tail and
//! scans the whole program, so `e` edits on `n` instructions cost O(e·n).

use super::{position_field, EditError};
use crate::insn::{Insn, Slot};

/// Replaces the single slot at `off` with `patch`, adjusting every jump and call outside the patch
/// like the kernel; the patch's own offsets are left alone. Checks every new offset before
/// changing anything (the kernel's probe pass).
pub fn patch_insn_single(prog: &mut Vec<Insn>, off: usize, patch: &[Insn]) -> Result<(), EditError> {
    assert!(off < prog.len() && !patch.is_empty(), "patch_insn_single needs a slot and a non-empty patch");
    if patch.len() == 1 {
        prog[off] = patch[0];
        return Ok(());
    }
    let (end_old, end_new) = (off + 1, off + patch.len());
    adj_branches(prog, off, end_old, end_new, true)?;
    prog.splice(off..end_old, patch.iter().copied());
    adj_branches(prog, off, end_old, end_new, false)
}

/// Removes `cnt` slots at `off`, adjusting jumps across the hole.
pub fn remove_insns(prog: &mut Vec<Insn>, off: usize, cnt: usize) -> Result<(), EditError> {
    prog.drain(off..off + cnt);
    adj_branches(prog, off, off + cnt, off, false)
}

/// `bpf_adj_branches`: in the probe pass the unpatched image is read with positions already in
/// post-patch coordinates (the patch region skipped).
fn adj_branches(
    prog: &mut [Insn],
    pos: usize,
    end_old: usize,
    end_new: usize,
    probe: bool,
) -> Result<(), EditError> {
    let delta = end_new as i64 - end_old as i64;
    let count = if probe { prog.len() as i64 + delta } else { prog.len() as i64 };
    let mut i = 0i64;
    let mut src = 0usize;
    while i < count {
        if probe && i == pos as i64 {
            i = end_new as i64;
            src = end_old;
            if i >= count {
                break;
            }
        }
        let insn = &mut prog[src];
        // Second slots of `ld_imm64` have code 0 and no position field, as in the kernel.
        if let Some(field) = position_field(insn) {
            let target = i + field.get(insn) + 1;
            let mut value = field.get(insn);
            if i < pos as i64 && target >= end_old as i64 {
                value += delta;
            } else if i >= end_new as i64 && target < end_new as i64 {
                value -= delta;
            }
            let mut probe_copy = *insn;
            let dest = if probe { &mut probe_copy } else { insn };
            if field.set(dest, value).is_none() {
                return Err(EditError::Overflow { at: Slot(src as u32), field, value });
            }
        }
        i += 1;
        src += 1;
    }
    Ok(())
}
