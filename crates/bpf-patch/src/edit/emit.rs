//! The emit phase of [`super::apply`]: once the plan ([`Remap`]) is known, copy the program
//! into a pre-sized output in chunks and retarget the position-holding fields of kept original
//! instructions. The plan fixes where every original slot and every group lands, so the output
//! can be written in independent parts: from [`PARALLEL_MIN`] output slots (and with a second
//! CPU) it is cut into up to [`MAX_PARTS`] parts, disjoint pieces of the buffer, that this thread
//! and one helper take in turn.
//!
//! What does not live here: validation of the edits and the layout of groups (`plan` in the
//! parent module), the position-field enumeration ([`super::field`]).

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::field::{field_of, holds_position};
use super::{EditError, Edits, PositionField, Remap};
use crate::insn::{Insn, Slot};
use crate::opcode::LD_IMM64;

/// Output length (slots) from which a second thread helps write the output. Measured on a
/// shared 2-CPU machine (bench workload, medians of 400-1000 runs, threaded against the same
/// binary pinned to one CPU): at 140k and 280k slots the helper made the median worse (0.43 vs
/// 0.33 ms, 3.6 vs 0.7-1.0 ms: the scope must join a helper that a busy CPU may not run for
/// milliseconds), at 560k it was even (1.9-3.2 vs 1.7-2.7 ms), at 1M even or better (1.9-3.4 vs
/// 3.2-3.3 ms; about 1.7x faster when the second CPU is idle).
pub(super) const PARALLEL_MIN: u32 = 1 << 19;

/// Output slots per part when the output is shared between threads (at most [`MAX_PARTS`]).
const PART_MIN: u32 = 1 << 16;

/// Most parts the output is cut into: the last part a late thread takes is what the other may
/// wait for, and each part costs a window start.
const MAX_PARTS: u32 = 16;

/// Entries in the window ring (a power of two; 16 KiB).
const WINDOW: usize = 4096;

/// Slots copied and scanned at a time (stays in L1).
const CHUNK: usize = 512;

/// What every emitting part reads.
#[derive(Clone, Copy)]
pub(super) struct Plan<'a> {
    /// The original program.
    pub insns: &'a [Insn],
    /// The edits.
    pub edits: &'a Edits,
    /// Indices into `edits` in application order.
    pub order: &'a [usize],
    /// The layout of the output.
    pub remap: &'a Remap,
    /// Sorted slots left untouched (`ApplyOptions::fixed_imm`).
    pub fixed: &'a [Slot],
}

/// Writes the output of `plan`; from `parallel_min` output slots, and with a second CPU, cut
/// into parts that this thread and one helper take in turn.
pub(super) fn emit(plan: Plan<'_>, parallel_min: u32) -> Result<Vec<Insn>, EditError> {
    let new_len = plan.remap.new_len;
    if new_len < parallel_min || !two_cpus() {
        return emit_parts(plan, &[], false);
    }
    let parts = (new_len / PART_MIN).clamp(2, MAX_PARTS);
    let splits: Vec<u32> = (1..parts)
        .map(|i| split_point(plan.remap, (u64::from(new_len) * u64::from(i) / u64::from(parts)) as u32))
        .collect();
    emit_parts(plan, &splits, true)
}

/// Whether the machine lets this process run two threads at once (asked once: the query reads
/// cgroup files).
fn two_cpus() -> bool {
    static TWO: OnceLock<bool> = OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// An original slot that no edited group straddles and whose output position is `new` or, if
/// `new` falls inside a group, the end of that group: the output before it and from it can be
/// written independently. Monotonic in `new`.
fn split_point(remap: &Remap, new: u32) -> u32 {
    let k = remap.groups.partition_point(|g| g.new_start <= new);
    match k.checked_sub(1).map(|k| &remap.groups[k]) {
        // Before the first group old and new positions agree.
        None => new,
        Some(g) => {
            let (end_old, end_new) = (g.old + g.width, g.new_start + g.len());
            // Inside the plain run after `g` (the next group starts past `new`), or right
            // after `g` if `new` falls inside it.
            end_old + new.saturating_sub(end_new)
        }
    }
}

/// One part of the output: original slots `old` and where their output goes.
type Part<'o> = (Range<u32>, u32, &'o mut [MaybeUninit<Insn>]);

/// Writes the output cut at the original slots `splits` (non-decreasing; no group straddles
/// one). `threaded`: this thread and one helper take the parts in turn, so a helper that runs
/// late on a busy machine takes fewer parts; the scope still joins it, which is why
/// [`PARALLEL_MIN`] is high. On error the error of the first failing part wins: it is the one a
/// single pass would have met first.
fn emit_parts(plan: Plan<'_>, splits: &[u32], threaded: bool) -> Result<Vec<Insn>, EditError> {
    let new_len = plan.remap.new_len as usize;
    let old_len = plan.remap.old_len;
    let mut out: Vec<Insn> = Vec::with_capacity(new_len);
    let mut rest = &mut out.spare_capacity_mut()[..new_len];
    let mut parts: Vec<Mutex<Option<Part<'_>>>> = Vec::with_capacity(splits.len() + 1);
    let (mut old_at, mut new_at) = (0u32, 0u32);
    for &s in splits.iter().chain(std::iter::once(&old_len)) {
        let new_s = plan.remap.start(s);
        let (this, tail) = rest.split_at_mut((new_s - new_at) as usize);
        parts.push(Mutex::new(Some((old_at..s, new_at, this))));
        (rest, old_at, new_at) = (tail, s, new_s);
    }
    let results: Vec<Mutex<Option<Result<(), EditError>>>> = parts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(part) = parts.get(i) else { break };
        let (old, base, slice) =
            part.lock().unwrap_or_else(PoisonError::into_inner).take().expect("each part is taken once");
        let result = Emitter::new(plan, old, base, slice).run();
        *results[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    };
    if threaded {
        std::thread::scope(|scope| {
            scope.spawn(work);
            work();
        });
    } else {
        work();
    }
    for result in results {
        result.into_inner().unwrap_or_else(PoisonError::into_inner).expect("every part was run")?;
    }
    // SAFETY: `new_len <= capacity`, and every one of the first `new_len` elements was written:
    // the parts cover `spare_capacity_mut()[..new_len]` without gap (`split_at_mut` up to
    // `start(old_len) == new_len`), every part was run (checked just above), and
    // `Emitter::run` only returns `Ok` after asserting that it wrote its whole part.
    unsafe { out.set_len(new_len) };
    Ok(out)
}

/// Membership in the sorted `fixed_imm` list for increasing queries, in amortised O(1).
struct FixedCursor<'a> {
    fixed: &'a [Slot],
    next: usize,
}

impl FixedCursor<'_> {
    #[inline]
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
    /// Slots `[lo, filled)` are valid; `filled - lo <= WINDOW`.
    lo: u32,
    filled: u32,
    /// Next group to fill.
    group: usize,
    /// New minus old position of unedited slots, modulo 2^32.
    shift: u32,
}

impl Window {
    /// An empty window that starts filling at original slot `from` (moved back to the start of
    /// an edited `ld_imm64` it would split).
    fn new_at(remap: &Remap, from: u32) -> Self {
        let mut group = remap.groups.partition_point(|g| g.old < from);
        let mut from = from;
        if let Some(g) = group.checked_sub(1).map(|k| &remap.groups[k]) {
            if from < g.old + g.width {
                from = g.old;
                group -= 1;
            }
        }
        let shift = remap.start(from).wrapping_sub(from);
        Window { ring: Box::new([0; WINDOW]), lo: from, filled: from, group, shift }
    }

    /// Fills the ring up to slot `upto`.
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
        self.lo = self.lo.max(self.filled.saturating_sub(WINDOW as u32));
    }

    /// Output position for original slot `t`, if the ring holds it.
    #[inline]
    fn get(&self, t: u32) -> Option<u32> {
        (t.wrapping_sub(self.lo) < self.filled - self.lo).then(|| self.ring[t as usize & (WINDOW - 1)])
    }
}

/// One bit per slot (bit `k` for `slots[k]`, at most 64 slots): whether it holds a position.
/// Built without a data-dependent branch and with constant shifts.
#[inline]
fn position_mask(slots: &[Insn]) -> u64 {
    slots.iter().rev().fold(0u64, |bits, insn| bits << 1 | u64::from(holds_position(insn)))
}

/// Copies `src` into `dst` of the same length (a memcpy; `write_copy_of_slice` needs Rust 1.93).
#[inline]
fn write_slice(dst: &mut [MaybeUninit<Insn>], src: &[Insn]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        d.write(*s);
    }
}

/// What retargeting reads and the cursors it advances.
struct Retargeter<'a> {
    insns: &'a [Insn],
    remap: &'a Remap,
    window: Window,
    fixed: FixedCursor<'a>,
}

impl Retargeter<'_> {
    /// [`Retargeter::retarget`] for the common case, with few live values so that the hot loop
    /// stays in registers: a jump `off` whose slot is not in `fixed_imm` and whose target is a
    /// valid slot held by the window, with a new offset that fits. `None`: take the general path
    /// (which then also reports any error).
    #[inline(always)]
    fn retarget_jump(&self, mut insn: Insn, old: u32, new: u32) -> Option<Insn> {
        if field_of(&insn) != Some(PositionField::JumpOff) {
            return None;
        }
        // The general path advances the cursor; a stale cursor only sends us there.
        if self.fixed.fixed.get(self.fixed.next).is_some_and(|f| f.0 <= old) {
            return None;
        }
        let t = u32::try_from(i64::from(old) + i64::from(insn.off) + 1)
            .ok()
            .filter(|&t| t < self.remap.old_len)?;
        if self.insns.get(t.wrapping_sub(1) as usize).is_some_and(|p| p.code == LD_IMM64) {
            return None;
        }
        let new_t = self.window.get(t).filter(|&p| p < self.remap.new_len)?;
        insn.off = i16::try_from(i64::from(new_t) - i64::from(new) - 1).ok()?;
        Some(insn)
    }

    /// `insn`, the kept original instruction at `old` now at `new`, with its position field
    /// retargeted. `run`: the unedited run being copied; a target inside it moved with the
    /// instruction.
    #[inline(never)]
    fn retarget(&mut self, mut insn: Insn, old: u32, new: u32, run: &Range<u32>) -> Result<Insn, EditError> {
        if self.fixed.contains(old) {
            return Ok(insn);
        }
        let field = field_of(&insn).expect("the position mask agrees with field_of");
        let at = Slot(old);
        let target = i64::from(old) + field.get(&insn) + 1;
        let n = self.remap.old_len;
        let t = match u32::try_from(target) {
            Ok(t) if t < n => t,
            _ => return Err(EditError::TargetOutOfRange { at, field, target, len: n }),
        };
        // The slot before `t` (none for `t == 0`: the index wraps past the end).
        if self.insns.get(t.wrapping_sub(1) as usize).is_some_and(|p| p.code == LD_IMM64) {
            return Err(EditError::TargetInsideLdImm64 { at, field, target: Slot(t) });
        }
        let new_t = match self.window.get(t) {
            Some(p) => p,
            None if run.contains(&t) => return Ok(insn),
            None => self.remap.start(t),
        };
        if new_t >= self.remap.new_len {
            return Err(EditError::TargetDeletedAtEnd { at, field, target: Slot(t) });
        }
        let value = i64::from(new_t) - i64::from(new) - 1;
        if !field.set(&mut insn, value) {
            return Err(overflow(at, field, value));
        }
        Ok(insn)
    }
}

#[cold]
fn overflow(at: Slot, field: PositionField, value: i64) -> EditError {
    EditError::OffsetOverflow { at, field, bits: field.bits(), value }
}

/// Writes the output of the original slots `old` (no group straddles either end) into `out`,
/// which starts at output position `base`.
struct Emitter<'a, 'o> {
    plan: Plan<'a>,
    old: Range<u32>,
    re: Retargeter<'a>,
    out: &'o mut [MaybeUninit<Insn>],
    /// Output position of `out[0]`.
    base: u32,
    /// Elements of `out` written.
    pos: usize,
}

impl<'a, 'o> Emitter<'a, 'o> {
    fn new(plan: Plan<'a>, old: Range<u32>, base: u32, out: &'o mut [MaybeUninit<Insn>]) -> Self {
        let from = old.start.saturating_sub(WINDOW as u32 / 2);
        let fixed_next = plan.fixed.partition_point(|s| s.0 < old.start);
        let re = Retargeter {
            insns: plan.insns,
            remap: plan.remap,
            window: Window::new_at(plan.remap, from),
            fixed: FixedCursor { fixed: plan.fixed, next: fixed_next },
        };
        Emitter { plan, old, re, out, base, pos: 0 }
    }

    /// Writes the whole part; on `Ok` every element of `out` is initialised.
    fn run(mut self) -> Result<(), EditError> {
        let Plan { edits, order, remap, .. } = self.plan;
        let groups = &remap.groups;
        let first = groups.partition_point(|g| g.old < self.old.start);
        let last = groups.partition_point(|g| g.old < self.old.end);
        let mut next_edit = order.partition_point(|&i| edits.edits[i].at.0 < self.old.start);
        let mut cursor = self.old.start;
        for g in &groups[first..last] {
            self.copy_run(cursor, g.old, true)?;
            debug_assert_eq!(self.base as usize + self.pos, g.new_start as usize);
            let mut middle_done = false;
            while next_edit < order.len() && edits.edits[order[next_edit]].at.0 == g.old {
                let e = &edits.edits[order[next_edit]];
                if e.kind.rank() == 2 && !middle_done && g.kept {
                    middle_done = true;
                    self.copy_run(g.old, g.old + g.width, false)?;
                }
                write_slice(&mut self.out[self.pos..self.pos + e.code.len()], &e.code);
                self.pos += e.code.len();
                next_edit += 1;
            }
            if !middle_done && g.kept {
                self.copy_run(g.old, g.old + g.width, false)?;
            }
            cursor = g.old + g.width;
        }
        self.copy_run(cursor, self.old.end, true)?;
        assert_eq!(self.pos, self.out.len(), "the plan sized this part of the output");
        Ok(())
    }

    /// Copies original slots `[a, b)` and retargets the position-holding ones. `plain`: no
    /// edit touches `[a, b)`, so a target inside it keeps its relative offset.
    fn copy_run(&mut self, a: u32, b: u32, plain: bool) -> Result<(), EditError> {
        let run = if plain { a..b } else { 0..0 };
        let Emitter { plan, re, out, base, pos, .. } = self;
        let insns = plan.insns;
        let mut lo = a as usize;
        while lo < b as usize {
            let hi = (lo + CHUNK).min(b as usize);
            // The window then covers [hi - WINDOW / 2, hi + WINDOW / 2).
            let ahead = (hi + WINDOW / 2).min(insns.len() + 1);
            re.window.fill_to(plan.remap, ahead as u32);
            let src = &insns[lo..hi];
            let dst = &mut out[*pos..*pos + src.len()];
            write_slice(dst, src);
            // Both fit u32: the lengths were checked by plan().
            let (old0, new0) = (lo as u32, *base + *pos as u32);
            for (block, (s, d)) in src.chunks(64).zip(dst.chunks_mut(64)).enumerate() {
                let mut bits = position_mask(s);
                while bits != 0 {
                    let k = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let off = (block * 64 + k) as u32;
                    let (old, new) = (old0 + off, new0 + off);
                    d[k].write(match re.retarget_jump(s[k], old, new) {
                        Some(insn) => insn,
                        None => re.retarget(s[k], old, new, &run)?,
                    });
                }
            }
            *pos += src.len();
            lo = hi;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
