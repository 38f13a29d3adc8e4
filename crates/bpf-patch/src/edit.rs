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

mod field;
#[doc(hidden)]
pub mod reference;

pub(crate) use field::field_of;
use field::holds_position;
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

/// Whether `slot` is the second slot of an `ld_imm64` (a second slot has opcode 0, so the slot
/// before it cannot itself be a second slot).
fn is_second_slot(insns: &[Insn], slot: usize) -> bool {
    slot > 0 && insns[slot - 1].code == LD_IMM64
}

/// Width in slots of the instruction at `slot`.
fn width(insns: &[Insn], slot: usize) -> u32 {
    if insns[slot].code == LD_IMM64 && slot + 1 < insns.len() {
        2
    } else {
        1
    }
}

fn len_u32(len: u64) -> Result<u32, EditError> {
    u32::try_from(len).map_err(|_| EditError::TooLarge { len })
}

/// Validates the edits and lays out the groups.
fn plan(insns: &[Insn], edits: &Edits, order: &[usize]) -> Result<(Vec<Group>, u32), EditError> {
    let n = len_u32(insns.len() as u64)?;
    let mut groups: Vec<Group> = Vec::new();
    let mut delta: i64 = 0;
    let mut i = 0;
    while i < order.len() {
        let at = edits.edits[order[i]].at;
        if at.0 >= n {
            return Err(EditError::SlotOutOfRange { at, len: n });
        }
        if is_second_slot(insns, at.index()) {
            return Err(EditError::EditInsideLdImm64 { at });
        }
        let w = width(insns, at.index());
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

/// Membership in the sorted `fixed_imm` list for increasing queries, in amortised O(1).
struct FixedCursor<'a> {
    fixed: &'a [Slot],
    next: usize,
}

impl FixedCursor<'_> {
    fn contains(&mut self, old: u32) -> bool {
        while self.next < self.fixed.len() && self.fixed[self.next].0 < old {
            self.next += 1;
        }
        self.next < self.fixed.len() && self.fixed[self.next].0 == old
    }
}

/// Output positions of the original slots near the copy cursor: where a jump to slot `t` lands
/// (the start of its group, or of the next one if the group is empty), kept in a ring of
/// [`WINDOW`] entries that is filled ahead of the cursor. Short jumps, the vast majority, cost one
/// load from L1; others fall back to [`Remap::start`].
struct Window {
    ring: Box<[u32; WINDOW]>,
    /// Slots `[filled - WINDOW, filled)` are valid.
    filled: u32,
    /// Next group to fill.
    group: usize,
    /// New minus old position of unedited slots, modulo 2^32.
    shift: u32,
}

/// Entries in the ring (a power of two; 16 KiB).
const WINDOW: usize = 4096;

impl Window {
    fn new() -> Self {
        Window { ring: Box::new([0; WINDOW]), filled: 0, group: 0, shift: 0 }
    }

    /// Fills the ring up to slot `upto` (inclusive bound `remap.old_len`).
    fn fill_to(&mut self, remap: &Remap, upto: u32) {
        const MASK: u32 = WINDOW as u32 - 1;
        while self.filled < upto {
            let j = self.filled;
            match remap.groups.get(self.group) {
                Some(g) if g.old == j => {
                    self.ring[(j & MASK) as usize] = g.new_start;
                    if g.width == 2 {
                        let second = if g.kept { g.new_start + g.before + 1 } else { g.new_start + g.len() };
                        self.ring[((j + 1) & MASK) as usize] = second;
                    }
                    self.filled = j + g.width;
                    self.shift = (g.new_start + g.len()).wrapping_sub(self.filled);
                    self.group += 1;
                }
                next => {
                    let end = upto.min(next.map_or(u32::MAX, |g| g.old));
                    for k in j..end {
                        self.ring[(k & MASK) as usize] = k.wrapping_add(self.shift);
                    }
                    self.filled = end;
                }
            }
        }
    }

    /// Output position for original slot `t <= old_len`.
    fn start(&self, remap: &Remap, t: u32) -> u32 {
        if t < self.filled && self.filled - t <= WINDOW as u32 {
            self.ring[t as usize & (WINDOW - 1)]
        } else {
            remap.start(t)
        }
    }
}

/// The output under construction and what retargeting needs.
struct Emitter<'a> {
    insns: &'a [Insn],
    remap: &'a Remap,
    window: Window,
    fixed: FixedCursor<'a>,
    out: Vec<Insn>,
}

/// Slots copied and scanned at a time (stays in L1).
const CHUNK: usize = 512;

impl Emitter<'_> {
    /// Copies original slots `[a, b)` and retargets the position-holding ones. `plain`: no
    /// edit touches `[a, b)`, so a target inside it keeps its relative offset.
    fn copy_run(&mut self, a: u32, b: u32, plain: bool) -> Result<(), EditError> {
        let run = if plain { a..b } else { 0..0 };
        let mut lo = a as usize;
        while lo < b as usize {
            let hi = (lo + CHUNK).min(b as usize);
            // The window then covers [hi - WINDOW / 2, hi + WINDOW / 2).
            let ahead = (hi + WINDOW / 2).min(self.insns.len() + 1);
            self.window.fill_to(self.remap, ahead as u32);
            let src = &self.insns[lo..hi];
            let base = self.out.len();
            self.out.extend_from_slice(src);
            // One bit per slot of 64-slot blocks, built without a data-dependent branch; then
            // only the set bits are retargeted.
            for (block, slots) in src.chunks(64).enumerate() {
                let mut bits = 0u64;
                for (k, insn) in slots.iter().enumerate() {
                    bits |= u64::from(holds_position(insn)) << k;
                }
                while bits != 0 {
                    let k = block * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    // Both fit u32: the lengths were checked by plan().
                    self.retarget((lo + k) as u32, (base + k) as u32, &run)?;
                }
            }
            lo = hi;
        }
        Ok(())
    }

    /// Retargets the kept original instruction now at `out[new]`, originally at `old`.
    /// `run`: the unedited run being copied; a target inside it moved with the instruction.
    fn retarget(&mut self, old: u32, new: u32, run: &std::ops::Range<u32>) -> Result<(), EditError> {
        let insn = &mut self.out[new as usize];
        let field = field_of(insn).expect("holds_position agrees with field_of");
        let at = Slot(old);
        let target = i64::from(old) + field.get(insn) + 1;
        let n = self.insns.len() as u32;
        let t = match u32::try_from(target) {
            Ok(t) if t < n => t,
            _ if self.fixed.contains(old) => return Ok(()),
            _ => return Err(EditError::TargetOutOfRange { at, field, target, len: n }),
        };
        if is_second_slot(self.insns, t as usize) && !self.fixed.contains(old) {
            return Err(EditError::TargetInsideLdImm64 { at, field, target: Slot(t) });
        }
        if run.contains(&t) || self.fixed.contains(old) {
            return Ok(());
        }
        let new_t = self.window.start(self.remap, t);
        if new_t >= self.remap.new_len {
            return Err(EditError::TargetDeletedAtEnd { at, field, target: Slot(t) });
        }
        let value = i64::from(new_t) - i64::from(new) - 1;
        if !field.set(insn, value) {
            return Err(EditError::OffsetOverflow { at, field, bits: field.bits(), value });
        }
        Ok(())
    }
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
/// ahead of the cursor (bisection over the edits for far targets). Pure: `insns` is not touched, and on error no partial result exists.
pub fn apply(insns: &[Insn], edits: &Edits, opts: &ApplyOptions<'_>) -> Result<Applied, EditError> {
    if let Some(w) = opts.fixed_imm.windows(2).find(|w| w[0] >= w[1]) {
        return Err(EditError::FixedImmNotSorted { at: w[1] });
    }
    let order = edits.order();
    let (groups, new_len) = plan(insns, edits, &order)?;
    let old_len = len_u32(insns.len() as u64)?;
    let remap = Remap { old_len, new_len, groups };
    let mut em = Emitter {
        insns,
        remap: &remap,
        window: Window::new(),
        fixed: FixedCursor { fixed: opts.fixed_imm, next: 0 },
        out: Vec::with_capacity(new_len as usize),
    };
    let mut cursor = 0u32;
    let mut next_edit = 0usize;
    for g in &remap.groups {
        em.copy_run(cursor, g.old, true)?;
        debug_assert_eq!(em.out.len(), g.new_start as usize);
        let mut middle_done = false;
        while next_edit < order.len() && edits.edits[order[next_edit]].at.0 == g.old {
            let e = &edits.edits[order[next_edit]];
            if e.kind.rank() == 2 && !middle_done && g.kept {
                middle_done = true;
                em.copy_run(g.old, g.old + g.width, false)?;
            }
            em.out.extend_from_slice(&e.code);
            next_edit += 1;
        }
        if !middle_done && g.kept {
            em.copy_run(g.old, g.old + g.width, false)?;
        }
        cursor = g.old + g.width;
    }
    em.copy_run(cursor, old_len, true)?;
    let out = em.out;
    debug_assert_eq!(out.len(), new_len as usize);
    Ok(Applied { insns: out, remap })
}

#[cfg(test)]
mod tests;
