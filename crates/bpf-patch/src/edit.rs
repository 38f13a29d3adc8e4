//! The batched edit engine: insert before / after, replace and delete instructions of a slot
//! stream, any number at once, in one pass, with the semantics of the kernel's
//! `bpf_patch_insn_single` / `bpf_adj_branches` (kernel-notes §A.3) generalised to a batch.
//!
//! Build an [`Edits`] over *original* slot positions, then [`apply`] it. Per original instruction
//! the output holds the group `[inserted-before..., replacement | original | nothing,
//! inserted-after...]`; a jump to an original instruction lands on the first instruction of its
//! group. Position-holding fields of kept original instructions (enumerated by
//! [`position_field`]) are retargeted; code inside inserted sequences is left alone (internally
//! relative, as in the kernel: a [`crate::patch::Target::End`] lands on whatever follows that
//! sequence). Every new offset is computed and checked before the result exists, and the input is
//! never modified: an edit set either applies completely or returns an error naming the original
//! slot. The returned [`Remap`] lets callers fix side tables (line info, relocations, symbols).
//!
//! Also here: [`position_field`], the one enumeration of instruction-level position fields, and
//! `reference` (hidden), the sequential kernel-style baseline used by tests and benchmarks.

mod emit;
mod field;
#[doc(hidden)]
pub mod reference;

pub(crate) use field::field_of;
pub use field::{position_field, PositionField};

use crate::insn::{Insn, Slot};
use crate::opcode::LD_IMM64;

/// What an edit does at its slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Before,
    Replace,
    Delete,
    After,
}

impl Kind {
    /// Order inside a group: before, then the middle (replace / delete), then after.
    const fn rank(self) -> u8 {
        match self {
            Kind::Before => 0,
            Kind::Replace | Kind::Delete => 1,
            Kind::After => 2,
        }
    }
}

#[derive(Clone, Debug)]
struct Edit {
    at: Slot,
    kind: Kind,
    code: Vec<Insn>,
}

/// A set of edits addressed by *original* slot positions, applied at once by [`apply`].
///
/// Several edits of one kind at one slot keep the order in which they were added. Replace and
/// delete of an `ld_imm64` cover both of its slots.
#[derive(Clone, Debug, Default)]
pub struct Edits {
    edits: Vec<Edit>,
}

impl Edits {
    /// No edits.
    pub fn new() -> Self {
        Edits::default()
    }

    fn add(&mut self, at: Slot, kind: Kind, code: Vec<Insn>) -> &mut Self {
        self.edits.push(Edit { at, kind, code });
        self
    }

    /// Inserts `code` before the instruction at `at`; jumps to `at` land on its first instruction.
    pub fn insert_before(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.add(at, Kind::Before, code)
    }

    /// Inserts `code` after the instruction at `at` (and after its replacement, if any); jumps to
    /// the next original instruction land after it.
    pub fn insert_after(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.add(at, Kind::After, code)
    }

    /// Replaces the instruction at `at` (both slots of an `ld_imm64`) by `code`; jumps to `at`
    /// land on the first instruction of its group. An empty `code` acts as [`Edits::delete`].
    pub fn replace(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.add(at, Kind::Replace, code)
    }

    /// Deletes the instruction at `at` (both slots of an `ld_imm64`); jumps to it land on the
    /// next surviving instruction.
    pub fn delete(&mut self, at: Slot) -> &mut Self {
        self.add(at, Kind::Delete, Vec::new())
    }

    /// Whether there are no edits.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Number of edits.
    pub fn len(&self) -> usize {
        self.edits.len()
    }

    /// Indices of the edits in application order: by slot, then before / middle / after, then
    /// the order in which they were added.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.edits.len()).collect();
        order.sort_by_key(|&i| (self.edits[i].at, self.edits[i].kind.rank()));
        order
    }
}

/// Options of [`apply`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions<'a> {
    /// Sorted slots of instructions left untouched although they hold a position: calls and
    /// `ld_imm64` whose `imm` an ELF relocation resolves later (so it is not pc-relative yet).
    pub fixed_imm: &'a [Slot],
}

/// Why an edit set cannot be applied. Slots are original positions.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EditError {
    /// An edit addresses a slot past the end.
    #[error("edit at slot {at}: past the end of the {len}-slot program")]
    SlotOutOfRange {
        /// The addressed slot.
        at: Slot,
        /// Program length in slots.
        len: u32,
    },
    /// An edit addresses the second slot of an `ld_imm64`.
    #[error("edit at slot {at}: the second slot of an ld_imm64 cannot be edited")]
    EditInsideLdImm64 {
        /// The addressed slot.
        at: Slot,
    },
    /// More than one replace / delete at one slot.
    #[error("edit at slot {at}: more than one replace or delete")]
    ConflictingEdits {
        /// The addressed slot.
        at: Slot,
    },
    /// A kept jump or call targets a slot outside the program.
    #[error("slot {at}: {field} targets slot {target}, outside the {len}-slot program")]
    TargetOutOfRange {
        /// The jumping instruction.
        at: Slot,
        /// The field.
        field: PositionField,
        /// The absolute target.
        target: i64,
        /// Program length in slots.
        len: u32,
    },
    /// A kept jump or call targets the second slot of an `ld_imm64`.
    #[error("slot {at}: {field} targets slot {target}, the second slot of an ld_imm64")]
    TargetInsideLdImm64 {
        /// The jumping instruction.
        at: Slot,
        /// The field.
        field: PositionField,
        /// The target.
        target: Slot,
    },
    /// A kept jump or call targets deleted code with nothing after it.
    #[error("slot {at}: {field} targets slot {target}, which is deleted and has no successor")]
    TargetDeletedAtEnd {
        /// The jumping instruction.
        at: Slot,
        /// The field.
        field: PositionField,
        /// The target.
        target: Slot,
    },
    /// A new offset does not fit its field (the kernel's `-ERANGE`).
    #[error("slot {at}: new {field} offset {value} does not fit {bits} bits")]
    OffsetOverflow {
        /// The jumping instruction.
        at: Slot,
        /// The field.
        field: PositionField,
        /// Width of the field.
        bits: u32,
        /// The offset that does not fit.
        value: i64,
    },
    /// `fixed_imm` is not strictly increasing.
    #[error("fixed_imm is not sorted at slot {at}")]
    FixedImmNotSorted {
        /// The first slot out of order.
        at: Slot,
    },
    /// The input or the result exceeds `u32::MAX` slots.
    #[error("program of {len} slots exceeds u32::MAX slots")]
    TooLarge {
        /// The length.
        len: u64,
    },
}

/// The result of [`apply`].
#[derive(Clone, Debug)]
pub struct Applied {
    /// The edited slot stream.
    pub insns: Vec<Insn>,
    /// Where original slots went.
    pub remap: Remap,
}

/// One edited original instruction and its output group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    old: u32,
    width: u32,
    new_start: u32,
    before: u32,
    middle: u32,
    after: u32,
    kept: bool,
}

impl Group {
    const fn len(&self) -> u32 {
        self.before + self.middle + self.after
    }
}

/// The old → new slot map of an applied edit set. Only edited instructions are stored (sorted),
/// so a query costs `O(log e)`.
///
/// Side tables follow the kernel: a record that names where control arrives (line info, func
/// info, subprogram starts, symbols) moves with [`Remap::target`]; a record that names the
/// instruction itself (an ELF relocation on a kept `call` or `ld_imm64`) moves with
/// [`Remap::position`] and disappears with it.
#[derive(Clone, Debug)]
pub struct Remap {
    old_len: u32,
    new_len: u32,
    groups: Vec<Group>,
}

impl Remap {
    /// Start of the output for original slot `old` (`old <= old_len`); `new_len` if nothing
    /// follows.
    fn start(&self, old: u32) -> u32 {
        let k = self.groups.partition_point(|g| g.old <= old);
        let Some(g) = k.checked_sub(1).map(|k| &self.groups[k]) else {
            return old;
        };
        if old == g.old {
            return g.new_start;
        }
        let end_old = g.old + g.width;
        let end_new = g.new_start + g.len();
        if old < end_old {
            // Second slot of an edited ld_imm64.
            return if g.kept { g.new_start + g.before + 1 } else { end_new };
        }
        end_new + (old - end_old)
    }

    /// Where a jump to original slot `old` lands now: the first instruction of its group
    /// (inserted-before code, else the replacement, else the original); for a deleted
    /// instruction the next surviving position. `None` if that is past the end of the new
    /// program.
    pub fn target(&self, old: Slot) -> Option<Slot> {
        if old.0 >= self.old_len {
            return None;
        }
        let s = self.start(old.0);
        (s < self.new_len).then_some(Slot(s))
    }

    /// Where the original instruction at `old` itself is now; `None` if it was deleted or
    /// replaced (or `old` is past the end).
    pub fn position(&self, old: Slot) -> Option<Slot> {
        if old.0 >= self.old_len {
            return None;
        }
        let k = self.groups.partition_point(|g| g.old <= old.0);
        if let Some(g) = k.checked_sub(1).map(|k| &self.groups[k]) {
            if old.0 < g.old + g.width {
                return g.kept.then_some(Slot(g.new_start + g.before + (old.0 - g.old)));
            }
        }
        Some(Slot(self.start(old.0)))
    }

    /// Length of the original program in slots.
    pub fn old_len(&self) -> u32 {
        self.old_len
    }

    /// Length of the edited program in slots.
    pub fn new_len(&self) -> u32 {
        self.new_len
    }
}

fn len_u32(len: u64) -> Result<u32, EditError> {
    u32::try_from(len).map_err(|_| EditError::TooLarge { len })
}

/// Validates the edits and lays out the groups.
fn plan(insns: &[Insn], edits: &Edits, order: &[usize]) -> Result<(Vec<Group>, u32), EditError> {
    let n = len_u32(insns.len() as u64)?;
    // The opcodes before and at each edited slot (0 where there is none), read first in a loop
    // of independent loads: below, each would be a cache miss waited for in turn.
    let code = |slot: Option<usize>| slot.and_then(|s| insns.get(s)).map_or(0, |insn| insn.code);
    let codes: Vec<[u8; 2]> = order
        .iter()
        .map(|&i| {
            let at = edits.edits[i].at.index();
            [code(at.checked_sub(1)), code(Some(at))]
        })
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut delta: i64 = 0;
    let mut i = 0;
    while i < order.len() {
        let at = edits.edits[order[i]].at;
        if at.0 >= n {
            return Err(EditError::SlotOutOfRange { at, len: n });
        }
        // A slot after an `ld_imm64` is its second slot (which has opcode 0, so the slot before
        // it cannot itself be a second slot); an `ld_imm64` in the last slot is one slot wide.
        let [prev, this] = codes[i];
        if prev == LD_IMM64 {
            return Err(EditError::EditInsideLdImm64 { at });
        }
        let w = if this == LD_IMM64 && at.0 + 1 < n { 2 } else { 1 };
        let (mut before, mut middle, mut after) = (0u64, u64::from(w), 0u64);
        let mut kept = true;
        while i < order.len() && edits.edits[order[i]].at == at {
            let e = &edits.edits[order[i]];
            let len = e.code.len() as u64;
            match e.kind {
                Kind::Before => before += len,
                Kind::After => after += len,
                Kind::Replace | Kind::Delete => {
                    if !kept {
                        return Err(EditError::ConflictingEdits { at });
                    }
                    kept = false;
                    middle = len;
                }
            }
            i += 1;
        }
        let new_start = len_u32(u64::try_from(i64::from(at.0) + delta).expect("starts are not negative"))?;
        let total = before + middle + after;
        delta += i64::try_from(total).map_err(|_| EditError::TooLarge { len: total })? - i64::from(w);
        groups.push(Group {
            old: at.0,
            width: w,
            new_start,
            before: len_u32(before)?,
            middle: len_u32(middle)?,
            after: len_u32(after)?,
            kept,
        });
    }
    let new_len = len_u32(u64::try_from(i64::from(n) + delta).expect("lengths are not negative"))?;
    Ok((groups, new_len))
}

/// Applies `edits` to `insns` in one pass and returns the new stream with its [`Remap`].
///
/// ```
/// use bpf_patch::edit::{apply, ApplyOptions, Edits};
/// use bpf_patch::filter::{call_helper, exit, jmp_a, mov64_imm};
/// use bpf_patch::op::{encode_all, Reg};
/// use bpf_patch::Slot;
///
/// // 0: goto +1   1: call 5   2: exit
/// let prog = encode_all(&[jmp_a(1), call_helper(5), exit()]);
/// let mut edits = Edits::new();
/// edits.replace(Slot(1), encode_all(&[mov64_imm(Reg::R0, 0), mov64_imm(Reg::R1, 1)]));
/// let out = apply(&prog, &edits, &ApplyOptions::default())?;
/// assert_eq!(out.insns[0].off, 2); // still reaches `exit`
/// assert_eq!(out.remap.target(Slot(2)), Some(Slot(3)));
/// # Ok::<(), bpf_patch::edit::EditError>(())
/// ```
///
/// Cost: `O(n + e log e)`: the edits are sorted, then the program is copied in chunks and each
/// position-holding slot is retargeted with one load from a window of output positions filled
/// ahead of the cursor (bisection over the edits for far targets). From 2^19 output slots, with
/// a second CPU, a scoped helper thread writes parts of the output (see `emit`). Pure: `insns`
/// is not touched, and on error no partial result exists.
pub fn apply(insns: &[Insn], edits: &Edits, opts: &ApplyOptions<'_>) -> Result<Applied, EditError> {
    if let Some(w) = opts.fixed_imm.windows(2).find(|w| w[0] >= w[1]) {
        return Err(EditError::FixedImmNotSorted { at: w[1] });
    }
    let order = edits.order();
    let (groups, new_len) = plan(insns, edits, &order)?;
    let old_len = len_u32(insns.len() as u64)?;
    let remap = Remap { old_len, new_len, groups };
    let plan = emit::Plan { insns, edits, order: &order, remap: &remap, fixed: opts.fixed_imm };
    let out = emit::emit(plan, emit::PARALLEL_MIN)?;
    Ok(Applied { insns: out, remap })
}

#[cfg(test)]
mod tests;
