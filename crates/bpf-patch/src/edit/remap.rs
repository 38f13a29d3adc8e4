//! [`Remap`]: where each original slot went after [`super::apply`]. Stored as the list of edited
//! instructions only (unedited runs move as blocks), so lookups are a binary search and the map
//! costs O(edits) memory whatever the program size.

use std::ops::Range;

use crate::insn::Slot;

/// One edited original instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    /// Original slot.
    old: u32,
    /// 1, or 2 for `ld_imm64`.
    width: u32,
    /// New slot of the first instruction of its group.
    start: u32,
    /// New slot of the original instruction, `NONE` if replaced or deleted.
    kept: u32,
    /// New slot one past the group.
    end: u32,
}

const NONE: u32 = u32::MAX;

/// Old → new slot positions after a batch of edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    points: Vec<Point>,
    /// `old + width` of each point: the search key, kept compact for the scan's look-ups.
    ends: Vec<u32>,
    old_len: u32,
    new_len: u32,
}

pub(super) struct Builder {
    points: Vec<Point>,
}

impl Builder {
    pub(super) fn with_capacity(n: usize) -> Self {
        Builder { points: Vec::with_capacity(n) }
    }

    pub(super) fn push(&mut self, old: u32, width: u32, start: u32, kept: Option<u32>, end: u32) {
        self.points.push(Point { old, width, start, kept: kept.unwrap_or(NONE), end });
    }

    pub(super) fn finish(self, old_len: u32, new_len: u32) -> Remap {
        let ends = self.points.iter().map(|p| p.old + p.width).collect();
        Remap { points: self.points, ends, old_len, new_len }
    }
}

/// Where an original slot lies relative to the edited instructions.
enum Found<'a> {
    /// Inside the edited instruction `p`; `second` for the second slot of an `ld_imm64`.
    Edited { p: &'a Point, second: bool },
    /// Not edited; moved by this many slots.
    Moved(i64),
}

impl Remap {
    /// The identity map of a program of `len` slots (no edits).
    pub fn identity(len: u32) -> Remap {
        Remap { points: Vec::new(), ends: Vec::new(), old_len: len, new_len: len }
    }

    /// The index of the first edited instruction that ends after `old`, searched from `hint`:
    /// a short linear probe over the compact `ends` array (most jumps are short), then a binary
    /// search. Exact for any hint.
    fn locate(&self, old: u32, hint: usize) -> usize {
        const PROBE: usize = 16;
        let ends = &self.ends;
        let n = ends.len();
        let mut i = hint.min(n);
        if i < n && ends[i] <= old {
            let limit = (i + PROBE).min(n);
            i += 1;
            while i < limit && ends[i] <= old {
                i += 1;
            }
            if i < limit || i == n {
                return i;
            }
            i + ends[i..].partition_point(|&e| e <= old)
        } else {
            let limit = i.saturating_sub(PROBE);
            while i > limit && ends[i - 1] > old {
                i -= 1;
            }
            if i > limit || i == 0 {
                return i;
            }
            ends[..i].partition_point(|&e| e <= old)
        }
    }

    /// New slot of the first instruction of the unedited run that follows edited instruction
    /// `k - 1` (or starts the program, for `k == 0`).
    pub(super) fn run_base(&self, k: usize) -> u32 {
        k.checked_sub(1).map_or(0, |i| self.points[i].end)
    }

    /// New slot of the kept original of edited instruction `k`.
    pub(super) fn kept(&self, k: usize) -> Option<u32> {
        let kept = self.points[k].kept;
        (kept != NONE).then_some(kept)
    }

    /// [`Remap::target`] of an in-range slot that is an instruction start, searching from `hint`.
    pub(super) fn target_hinted(&self, old: u32, hint: usize) -> u32 {
        match self.found(old, self.locate(old, hint)) {
            Found::Edited { p, .. } => p.start,
            Found::Moved(shift) => Self::moved(old, shift).0,
        }
    }

    fn find(&self, old: u32) -> Found<'_> {
        self.found(old, self.ends.partition_point(|&e| e <= old))
    }

    fn found(&self, old: u32, k: usize) -> Found<'_> {
        if let Some(p) = self.points.get(k) {
            if p.old <= old {
                return Found::Edited { p, second: old != p.old };
            }
        }
        let shift = match k.checked_sub(1).map(|i| &self.points[i]) {
            Some(p) => i64::from(p.end) - i64::from(p.old + p.width),
            None => 0,
        };
        Found::Moved(shift)
    }

    fn moved(old: u32, shift: i64) -> Slot {
        Slot(u32::try_from(i64::from(old) + shift).expect("new positions fit the new length"))
    }

    /// Where a jump to `old` lands now: the first instruction of its group (code inserted before
    /// it, else its replacement, else the instruction itself; for a deleted instruction, what
    /// follows). `old == old_len()` maps to `new_len()`. `None` past the end, and for the second
    /// slot of an `ld_imm64` that was replaced or deleted.
    pub fn target(&self, old: Slot) -> Option<Slot> {
        if old.0 >= self.old_len {
            return (old.0 == self.old_len).then_some(Slot(self.new_len));
        }
        match self.find(old.0) {
            Found::Edited { p, second: false } => Some(Slot(p.start)),
            Found::Edited { p, second: true } => (p.kept != NONE).then(|| Slot(p.kept + 1)),
            Found::Moved(shift) => Some(Self::moved(old.0, shift)),
        }
    }

    /// Where the original instruction at `old` is now; `None` if it was replaced or deleted
    /// (or `old` is out of range). The second slot of a kept `ld_imm64` follows its first.
    pub fn position(&self, old: Slot) -> Option<Slot> {
        if old.0 >= self.old_len {
            return None;
        }
        match self.find(old.0) {
            Found::Edited { p, second } => (p.kept != NONE).then(|| Slot(p.kept + u32::from(second))),
            Found::Moved(shift) => Some(Self::moved(old.0, shift)),
        }
    }

    /// The new slots of the group of an edited instruction at `old` (inserted code, replacement
    /// and the kept original), `None` if `old` was not edited.
    pub fn group(&self, old: Slot) -> Option<Range<Slot>> {
        match self.find(old.0) {
            Found::Edited { p, second: false } if old.0 < self.old_len => Some(Slot(p.start)..Slot(p.end)),
            _ => None,
        }
    }

    /// Length of the original program in slots.
    pub fn old_len(&self) -> u32 {
        self.old_len
    }

    /// Length of the edited program in slots.
    pub fn new_len(&self) -> u32 {
        self.new_len
    }

    /// True when no instruction was edited.
    pub fn is_identity(&self) -> bool {
        self.points.is_empty()
    }
}
