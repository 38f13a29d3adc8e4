//! Baseline for tests and benchmarks: the kernel's way of patching, one edited instruction at a
//! time. Not for production use.
//!
//! Each edited original instruction is spliced as one kernel patch, highest slot first (so the
//! lower original positions have not moved yet): its group `[before..., replacement | original |
//! nothing, after...]` replaces its one or two slots exactly as `bpf_patch_insn_single` does
//! (probe every adjusted offset, then reallocate and shift the tail, then `bpf_adj_branches`
//! over the whole program). A kept original inside the group is written in post-splice
//! coordinates, which is the kernel's contract for code inside a patch. Inserted code is marked
//! frozen and never adjusted by later steps (the kernel adjusts whatever it finds; our batch
//! semantics says inserted code is internally relative), and so are the `fixed_imm` slots.
//!
//! The instruction classification is deliberately written out again here, in the kernel's
//! words, instead of calling [`super::position_field`], so that tests cross-check the two.

use super::{ApplyOptions, Edits, Kind, PositionField};
use crate::insn::Insn;
use crate::opcode::{
    bpf_class, bpf_op, BPF_CALL, BPF_EXIT, BPF_JA, BPF_JMP, BPF_JMP32, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
    LD_IMM64,
};

/// A step of the sequential baseline failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReferenceError {
    /// An adjusted offset does not fit (the kernel's `-ERANGE`); `at` is the index in the image of
    /// that step.
    #[error("insn {at} cannot be patched due to 16-bit range")]
    Range {
        /// Index in the image being patched.
        at: usize,
    },
    /// The edit set is not valid (use [`super::apply`] to learn why).
    #[error("invalid edit at slot {at}")]
    BadEdit {
        /// Original slot.
        at: u32,
    },
}

/// `bpf_adj_branches`' view of an instruction: which field it adjusts.
fn kernel_field(insn: &Insn) -> Option<PositionField> {
    // bpf_pseudo_func(insn)
    if insn.code == LD_IMM64 && insn.src_reg() == BPF_PSEUDO_FUNC {
        return Some(PositionField::PseudoFuncImm);
    }
    let code = insn.code;
    if (bpf_class(code) != BPF_JMP && bpf_class(code) != BPF_JMP32) || bpf_op(code) == BPF_EXIT {
        return None;
    }
    if bpf_op(code) == BPF_CALL {
        if insn.src_reg() != BPF_PSEUDO_CALL {
            return None;
        }
        return Some(PositionField::CallImm);
    }
    if code == BPF_JMP32 | BPF_JA {
        Some(PositionField::GotolImm)
    } else {
        Some(PositionField::JumpOff)
    }
}

/// `bpf_patch_insn_single` generalised to a patched range `[pos, pos + old_cnt)`: probe, splice,
/// adjust. Frozen instructions are skipped.
fn patch_range(
    prog: &mut Vec<Insn>,
    frozen: &mut Vec<bool>,
    pos: usize,
    old_cnt: usize,
    patch: Vec<Insn>,
    patch_frozen: Vec<bool>,
) -> Result<(), ReferenceError> {
    let end_old = pos + old_cnt;
    let delta = patch.len() as i64 - old_cnt as i64;
    let mut fixes = Vec::new();
    // Probe pass on the unpatched image: nothing changes if any offset overflows.
    for (k, insn) in prog.iter().enumerate() {
        if (pos..end_old).contains(&k) || frozen[k] {
            continue;
        }
        let Some(field) = kernel_field(insn) else { continue };
        let x = field.get(insn);
        let t = k as i64 + x + 1;
        let nx = if k < pos && t >= end_old as i64 {
            x + delta
        } else if k >= end_old && t < end_old as i64 {
            x - delta
        } else {
            continue;
        };
        if !field.fits(nx) {
            return Err(ReferenceError::Range { at: k });
        }
        fixes.push((k, field, nx));
    }
    // Reallocate and shift the tail, copy the patch in.
    prog.splice(pos..end_old, patch);
    frozen.splice(pos..end_old, patch_frozen);
    for (k, field, nx) in fixes {
        let nk = if k < pos { k } else { (k as i64 + delta) as usize };
        let ok = field.set(&mut prog[nk], nx);
        debug_assert!(ok, "probed");
    }
    Ok(())
}

/// Applies `edits` one edited instruction at a time, kernel style (see the module docs).
pub fn apply(insns: &[Insn], edits: &Edits, opts: &ApplyOptions<'_>) -> Result<Vec<Insn>, ReferenceError> {
    let mut prog = insns.to_vec();
    let mut frozen = vec![false; prog.len()];
    for s in opts.fixed_imm {
        if let Some(f) = frozen.get_mut(s.index()) {
            *f = true;
        }
    }
    let order = edits.order();
    let mut end = order.len();
    while end > 0 {
        let at = edits.edits[order[end - 1]].at;
        let mut start = end;
        while start > 0 && edits.edits[order[start - 1]].at == at {
            start -= 1;
        }
        let group = &order[start..end];
        end = start;

        let pos = at.index();
        if pos >= prog.len() {
            return Err(ReferenceError::BadEdit { at: at.0 });
        }
        let w = if prog[pos].code == LD_IMM64 && pos + 1 < prog.len() { 2 } else { 1 };
        let kept = !group.iter().any(|&i| matches!(edits.edits[i].kind, Kind::Replace | Kind::Delete));
        let total: usize =
            group.iter().map(|&i| edits.edits[i].code.len()).sum::<usize>() + if kept { w } else { 0 };
        let delta = total as i64 - w as i64;
        let mut patch = Vec::with_capacity(total);
        let mut patch_frozen = Vec::with_capacity(total);
        let mut middle_done = false;
        let emit_original =
            |patch: &mut Vec<Insn>, patch_frozen: &mut Vec<bool>| -> Result<(), ReferenceError> {
                let here = patch.len();
                let mut orig = prog[pos];
                if let Some(field) = kernel_field(&orig).filter(|_| !frozen[pos]) {
                    // Post-splice coordinates, as the kernel expects of code inside a patch.
                    let t = pos as i64 + field.get(&orig) + 1;
                    let new_t = if t >= (pos + w) as i64 {
                        t + delta
                    } else if t < pos as i64 {
                        t
                    } else {
                        pos as i64
                    };
                    if !field.set(&mut orig, new_t - (pos + here) as i64 - 1) {
                        return Err(ReferenceError::Range { at: pos });
                    }
                }
                patch.push(orig);
                patch_frozen.push(frozen[pos]);
                if w == 2 {
                    patch.push(prog[pos + 1]);
                    patch_frozen.push(frozen[pos]);
                }
                Ok(())
            };
        for &i in group {
            let e = &edits.edits[i];
            if e.kind == Kind::After && kept && !middle_done {
                middle_done = true;
                emit_original(&mut patch, &mut patch_frozen)?;
            }
            patch.extend_from_slice(&e.code);
            patch_frozen.extend(std::iter::repeat_n(true, e.code.len()));
        }
        if kept && !middle_done {
            emit_original(&mut patch, &mut patch_frozen)?;
        }
        patch_range(&mut prog, &mut frozen, pos, w, patch, patch_frozen)?;
    }
    Ok(prog)
}
