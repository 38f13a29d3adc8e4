//! Instruction-level diff of two programs: an alignment of their instructions into
//! [`Row`]s (same, changed, removed, inserted) that sees through the offsets a rewrite shifts.
//!
//! How two instructions are compared:
//!
//! 1. Every instruction gets a key: its encoding with the position-holding field (the one
//!    [`crate::edit::position_field`] names: jump `off`, `gotol` `imm`, bpf-to-bpf call `imm`,
//!    `ld_imm64` pseudo-func `imm`) set to zero. A longest common subsequence of the keys
//!    (Myers' O(ND) algorithm, in `myers`) gives the *anchors*: pairs that are the same up to
//!    their targets.
//! 2. An anchor that holds a position becomes [`Row::Same`] when both targets land on the same
//!    place of the alignment, else [`Row::Changed`] (a re-targeted jump). The places are the
//!    anchors: a target lands on an anchor when it is that anchor or any instruction of the gap
//!    of removed (old side) or inserted (new side) instructions just before it. Two programs
//!    alone cannot say which part of a gap was "inserted after" its predecessor and which
//!    "inserted before" its successor, so a gap counts as one place; this is exactly where the
//!    batched edit engine ([`crate::edit::apply`]) sends a jump to an instruction that had code
//!    inserted before it, or that was deleted or replaced, so those jumps stay [`Row::Same`].
//!    The price: a jump moved from one point of a gap to another reads as the same. A target
//!    past the end of the sequence (a call into a later function of the section) lands on its
//!    distance from the end, one before the start on its distance from the start, so edits
//!    inside the program do not disturb them; a target inside an `ld_imm64` lands nowhere
//!    (always [`Row::Changed`]).
//! 3. Between two anchors, removed and inserted instructions of the same kind (the same
//!    operation for ALU and jump classes, whatever the width and source; else the same opcode)
//!    are paired in order into [`Row::Changed`] rows; the
//!    rest are [`Row::Removed`] and [`Row::Inserted`]. The search for a partner looks at most
//!    [`PAIR_WINDOW`] inserted instructions ahead.
//!
//! Cost: linear space; time near `O(N + D²)` for `D` differences, with a cap on each
//! middle-point search and a total work budget (see `myers`), past which the alignment is no
//! longer minimal but stays valid. 1M slots with 5,000 edits take about 0.2-0.4 s, two unrelated
//! 1M-slot programs under a second (`benches/diff.rs`).
//!
//! Rows are in program order on both sides: every old instruction appears in exactly one row,
//! and so does every new one.

mod myers;

#[doc(hidden)]
pub use myers::matches;

use crate::edit::field_of;
use crate::insn::Slot;
use crate::op::Op;
use crate::opcode::{bpf_class, bpf_op, BPF_ALU, BPF_ALU64, BPF_JMP, BPF_JMP32};

/// How far ahead among the inserted instructions of a gap a removed instruction looks for a
/// partner of its kind.
pub const PAIR_WINDOW: usize = 64;

/// One row of an alignment: slots of the old and the new program.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Row {
    /// The same instruction on both sides (jumps: to corresponding places).
    Same(Slot, Slot),
    /// The same kind of instruction with different operands, or a re-targeted jump.
    Changed(Slot, Slot),
    /// Only in the old program.
    Removed(Slot),
    /// Only in the new program.
    Inserted(Slot),
}

impl Row {
    /// The old program's slot, if the row has one.
    pub const fn old_slot(&self) -> Option<Slot> {
        match *self {
            Row::Same(a, _) | Row::Changed(a, _) | Row::Removed(a) => Some(a),
            Row::Inserted(_) => None,
        }
    }

    /// The new program's slot, if the row has one.
    pub const fn new_slot(&self) -> Option<Slot> {
        match *self {
            Row::Same(_, b) | Row::Changed(_, b) | Row::Inserted(b) => Some(b),
            Row::Removed(_) => None,
        }
    }
}

/// Row counts of a [`Diff`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Summary {
    /// [`Row::Same`] rows.
    pub same: usize,
    /// [`Row::Changed`] rows.
    pub changed: usize,
    /// [`Row::Removed`] rows.
    pub removed: usize,
    /// [`Row::Inserted`] rows.
    pub inserted: usize,
}

/// The alignment of two programs, computed by [`diff`].
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Diff {
    /// The rows, in program order on both sides.
    pub rows: Vec<Row>,
}

impl Diff {
    /// How many rows of each kind.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for row in &self.rows {
            match row {
                Row::Same(..) => s.same += 1,
                Row::Changed(..) => s.changed += 1,
                Row::Removed(_) => s.removed += 1,
                Row::Inserted(_) => s.inserted += 1,
            }
        }
        s
    }

    /// Whether every row is [`Row::Same`].
    pub fn is_identical(&self) -> bool {
        self.rows.iter().all(|r| matches!(r, Row::Same(..)))
    }
}

/// Where a position-holding field points, relative to its program.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Land {
    /// The anchor row it lands on.
    Row(usize),
    /// Outside the program: slots before its start (negative) or from its end (`>= 0`).
    Outside(i64),
    /// An instruction of no anchor / paired row, or the middle of an `ld_imm64`.
    Nowhere,
}

/// No target (`Side::targets`) / no instruction starts here (`Side::land`).
const NONE: i64 = i64::MIN;

/// One side's instructions with what the diff needs of each.
struct Side<'a> {
    ops: &'a [(Slot, Op)],
    keys: Vec<u128>,
    /// Absolute target slot of each instruction's position field, [`NONE`] if it has none.
    targets: Vec<i64>,
    /// First and one-past-last slot.
    start: i64,
    end: i64,
    /// By slot from `start`: the anchor row an instruction starting there lands on as a jump
    /// target, [`NONE`] for the second slot of an `ld_imm64`.
    land: Vec<i64>,
}

impl<'a> Side<'a> {
    fn new(ops: &'a [(Slot, Op)]) -> Self {
        let mut keys = Vec::with_capacity(ops.len());
        let mut targets = Vec::with_capacity(ops.len());
        for (slot, op) in ops {
            let (mut first, second) = op.encode();
            let field = field_of(&first);
            targets.push(field.map_or(NONE, |f| i64::from(slot.0) + f.get(&first) + 1));
            if let Some(f) = field {
                f.set(&mut first, 0);
            }
            let next = second.map_or(0, |s| s.imm as u32);
            keys.push(
                u128::from(first.code)
                    | u128::from(first.dst_reg()) << 8
                    | u128::from(first.src_reg()) << 12
                    | u128::from(first.off as u16) << 16
                    | u128::from(first.imm as u32) << 32
                    | u128::from(next) << 64,
            );
        }
        let (start, end) = match (ops.first(), ops.last()) {
            (Some((first, _)), Some((last, op))) => (i64::from(first.0), i64::from(last.0 + op.slots())),
            _ => (0, 0),
        };
        let land = vec![NONE; usize::try_from(end - start).expect("slot counts fit usize")];
        Side { ops, keys, targets, start, end, land }
    }

    /// Records that instructions `range` land on anchor row `row`.
    fn set_land(&mut self, range: std::ops::Range<usize>, row: usize) {
        let row = i64::try_from(row).expect("row counts fit i64");
        for (slot, _) in &self.ops[range] {
            self.land[(i64::from(slot.0) - self.start) as usize] = row;
        }
    }

    /// Where instruction `i`'s position field lands, if it has one.
    fn landing(&self, i: usize, end_row: usize) -> Option<Land> {
        let target = self.targets[i];
        if target == NONE {
            return None;
        }
        Some(if target < self.start {
            Land::Outside(target - self.start)
        } else if target == self.end {
            Land::Row(end_row)
        } else if target > self.end {
            Land::Outside(target - self.end)
        } else {
            match self.land[(target - self.start) as usize] {
                NONE => Land::Nowhere,
                row => Land::Row(row as usize),
            }
        })
    }
}

/// The kind of an instruction for pairing removed with inserted ones: for ALU and jump
/// classes the operation alone (32- or 64-bit, register or immediate source alike: `w0 = 0x1`
/// and `r0 = r1` are one kind, `be16` and `bswap16` too), otherwise the whole first opcode byte.
fn kind(op: &Op) -> u16 {
    let code = op.encode().0.code;
    match bpf_class(code) {
        BPF_ALU | BPF_ALU64 => 0x100 | u16::from(bpf_op(code)),
        BPF_JMP | BPF_JMP32 => 0x200 | u16::from(bpf_op(code)),
        _ => u16::from(code),
    }
}

/// Aligns the instructions of `old` and `new` (each `(slot, op)` in slot order, as
/// [`crate::op::decode_all`] returns them).
///
/// ```
/// use bpf_patch::diff::{diff, Row};
/// use bpf_patch::op::decode_all;
/// use bpf_patch::text::assemble;
/// use bpf_patch::Slot;
///
/// let old = decode_all(&assemble("if r1 > 0x5 goto +0x1\nr0 = 0x1\nexit").expect("valid")).expect("decodes");
/// let new = decode_all(&assemble("if r1 > 0x5 goto +0x2\nr0 = 0x1\nr0 += 0x1\nexit").expect("valid")).expect("decodes");
/// let d = diff(&old, &new);
/// assert_eq!(d.rows, [
///     Row::Same(Slot(0), Slot(0)), // the jump still lands on `exit`
///     Row::Same(Slot(1), Slot(1)),
///     Row::Inserted(Slot(2)),
///     Row::Same(Slot(2), Slot(3)),
/// ]);
/// ```
pub fn diff(old: &[(Slot, Op)], new: &[(Slot, Op)]) -> Diff {
    let mut a = Side::new(old);
    let mut b = Side::new(new);
    let anchors = matches(&a.keys, &b.keys);
    let mut rows = Vec::with_capacity(old.len().max(new.len()) + 16);
    let (mut i, mut j) = (0usize, 0usize);
    let ends = anchors.iter().map(|&(x, y)| (x as usize, y as usize)).chain([(old.len(), new.len())]);
    for (x, y) in ends {
        gap(&mut rows, &a, &b, i..x, j..y);
        let here = rows.len();
        if x < old.len() {
            a.set_land(i..x + 1, here);
            b.set_land(j..y + 1, here);
            rows.push(Row::Same(old[x].0, new[y].0));
        } else {
            a.set_land(i..x, here);
            b.set_land(j..y, here);
        }
        (i, j) = (x + 1, y + 1);
    }
    // The anchors are the `Same` rows so far, in order; check their targets now that every
    // landing place is known.
    let end_row = rows.len();
    let anchor_rows = rows.iter_mut().filter(|r| matches!(r, Row::Same(..)));
    for (row, &(x, y)) in anchor_rows.zip(&anchors) {
        let (la, lb) = (a.landing(x as usize, end_row), b.landing(y as usize, end_row));
        if la != lb || la == Some(Land::Nowhere) {
            *row = Row::Changed(old[x as usize].0, new[y as usize].0);
        }
    }
    Diff { rows }
}

/// Rows for the unmatched old instructions `ra` and new instructions `rb` between two anchors:
/// same-kind pairs in order become [`Row::Changed`], the rest removed / inserted.
fn gap(
    rows: &mut Vec<Row>,
    a: &Side<'_>,
    b: &Side<'_>,
    ra: std::ops::Range<usize>,
    rb: std::ops::Range<usize>,
) {
    let kinds_b: Vec<u16> = b.ops[rb.clone()].iter().map(|(_, op)| kind(op)).collect();
    let mut next_b = rb.start;
    for x in ra {
        let k = kind(&a.ops[x].1);
        let from = next_b - rb.start;
        let to = (from + PAIR_WINDOW).min(kinds_b.len());
        let Some(found) = kinds_b[from..to].iter().position(|&kb| kb == k) else {
            rows.push(Row::Removed(a.ops[x].0));
            continue;
        };
        let y = next_b + found;
        rows.extend(b.ops[next_b..y].iter().map(|(s, _)| Row::Inserted(*s)));
        rows.push(Row::Changed(a.ops[x].0, b.ops[y].0));
        next_b = y + 1;
    }
    rows.extend(b.ops[next_b..rb.end].iter().map(|(s, _)| Row::Inserted(*s)));
}

#[cfg(test)]
mod tests;
