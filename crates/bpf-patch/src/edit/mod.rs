//! The batched edit engine: insert before / after, replace and delete any number of instructions
//! of a slot stream in one pass, keeping every jump and call pointing where it pointed.
//!
//! Semantics are the kernel's `bpf_patch_insn_single` / `bpf_adj_branches` / `bpf_remove_insns`
//! (kernel-notes §A.3) generalised to a batch. Each original instruction becomes a *group*
//! `[inserted before..., replacement | original | nothing, inserted after...]`:
//!
//! - a jump or call to an original instruction lands on the first instruction of its group, so a
//!   branch to a replaced instruction lands on the first instruction of its replacement and a
//!   branch to a deleted one on whatever follows it;
//! - jumps (`off`), `gotol` (`imm`), bpf-to-bpf calls (`imm`) and `ld_imm64` `BPF_PSEUDO_FUNC`
//!   (`imm`) of kept original instructions are retargeted; helper and kfunc calls are not, nor are
//!   instructions listed in [`ApplyOptions::fixed_imm`] (calls resolved by ELF relocations);
//! - inserted code is copied verbatim: its jumps are relative to itself, and a jump one past its
//!   end (a [`crate::patch::Target::End`]) lands on the instruction that follows it.
//!
//! [`apply`] is pure: it returns a new stream or an error naming the original slot, so an edit
//! set that would overflow a 16-bit `off` (or 32-bit `imm`) changes nothing. The returned
//! [`Remap`] answers where every original slot went, for the side tables (line info, func info,
//! CO-RE and ELF relocations, symbols) that the object layer keeps consistent.
//!
//! The instruction fields that hold positions are enumerated in one place, [`position_field`];
//! the object layer enumerates the side-table fields the same way.

pub mod reference;
mod remap;

use crate::insn::{Insn, Slot};
use crate::opcode::*;

pub use remap::Remap;

/// A field of an instruction that holds a position relative to the next instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PositionField {
    /// `off` of a conditional jump, `ja` or `may_goto` (16 bits).
    JumpOff,
    /// `imm` of `gotol` (`BPF_JMP32 | BPF_JA`, 32 bits).
    GotolImm,
    /// `imm` of a bpf-to-bpf call (`src_reg = BPF_PSEUDO_CALL`, 32 bits).
    CallImm,
    /// `imm` of `ld_imm64` with `src_reg = BPF_PSEUDO_FUNC` (32 bits).
    PseudoFuncImm,
}

impl PositionField {
    /// The field's name as the kernel headers spell it.
    pub const fn field_name(self) -> &'static str {
        match self {
            PositionField::JumpOff => "off",
            PositionField::GotolImm | PositionField::CallImm | PositionField::PseudoFuncImm => "imm",
        }
    }

    /// Reads the relative position.
    pub const fn get(self, insn: &Insn) -> i64 {
        match self {
            PositionField::JumpOff => insn.off as i64,
            _ => insn.imm as i64,
        }
    }

    /// Writes a relative position; `None` if it does not fit the field.
    fn set(self, insn: &mut Insn, value: i64) -> Option<()> {
        match self {
            PositionField::JumpOff => insn.off = i16::try_from(value).ok()?,
            _ => insn.imm = i32::try_from(value).ok()?,
        }
        Some(())
    }
}

/// The position-holding field of an instruction slot, if it has one. This is the one function
/// that says which instruction fields count positions (STYLE.md rule 1); helper calls, kfunc
/// calls, `callx`, `exit` and every non-jump instruction have none.
pub const fn position_field(insn: &Insn) -> Option<PositionField> {
    let code = insn.code;
    match bpf_class(code) {
        BPF_JMP => match bpf_op(code) {
            BPF_CALL if bpf_src(code) == BPF_K && insn.src_reg() == BPF_PSEUDO_CALL => {
                Some(PositionField::CallImm)
            }
            BPF_CALL | BPF_EXIT => None,
            _ => Some(PositionField::JumpOff),
        },
        BPF_JMP32 => match bpf_op(code) {
            BPF_JA => Some(PositionField::GotolImm),
            BPF_CALL | BPF_EXIT | BPF_JCOND => None,
            _ => Some(PositionField::JumpOff),
        },
        BPF_LD if code == LD_IMM64 && insn.src_reg() == BPF_PSEUDO_FUNC => Some(PositionField::PseudoFuncImm),
        _ => None,
    }
}

/// What to do at one original instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    InsertBefore(Vec<Insn>),
    Replace(Vec<Insn>),
    Delete,
    InsertAfter(Vec<Insn>),
}

/// A batch of edits, addressed by ORIGINAL slot positions. Several edits of one kind at one slot
/// keep the order they were added in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edits {
    entries: Vec<(Slot, Kind)>,
}

impl Edits {
    /// An empty batch.
    pub fn new() -> Self {
        Edits::default()
    }

    /// Inserts `code` before the instruction at `at`; jumps to `at` land on `code`.
    pub fn insert_before(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((at, Kind::InsertBefore(code)));
        self
    }

    /// Inserts `code` after the instruction at `at`.
    pub fn insert_after(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((at, Kind::InsertAfter(code)));
        self
    }

    /// Replaces the instruction at `at` (both slots of an `ld_imm64`) with `code`; jumps to `at`
    /// land on its first instruction.
    pub fn replace(&mut self, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((at, Kind::Replace(code)));
        self
    }

    /// Deletes the instruction at `at` (both slots of an `ld_imm64`); jumps to it land on what
    /// follows.
    pub fn delete(&mut self, at: Slot) -> &mut Self {
        self.entries.push((at, Kind::Delete));
        self
    }

    /// True if there are no edits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of edits.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Options of [`apply`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions<'a> {
    /// Sorted slots of calls and `ld_imm64`s whose `imm` is resolved by an ELF relocation rather
    /// than relative to the next instruction (clang's `call -1` with `R_BPF_64_32`): left alone.
    pub fixed_imm: &'a [Slot],
}

/// The edited stream and where everything went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The new instruction stream.
    pub insns: Vec<Insn>,
    /// Old → new positions.
    pub remap: Remap,
}

/// Why an edit set cannot be applied. Slots are ORIGINAL positions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// An edit addresses a slot past the end.
    #[error("edit at slot {at} is past the end of the {len}-slot program")]
    OutOfBounds {
        /// The slot.
        at: Slot,
        /// Program length in slots.
        len: u32,
    },
    /// An edit addresses the second slot of an `ld_imm64`.
    #[error("edit at slot {at} addresses the second slot of an ld_imm64")]
    NotAnInstruction {
        /// The slot.
        at: Slot,
    },
    /// Two of replace / delete at one slot.
    #[error("slot {at} is both replaced or deleted twice (at most one replace or delete per instruction)")]
    Conflict {
        /// The slot.
        at: Slot,
    },
    /// The program ends in the middle of an `ld_imm64`.
    #[error("slot {at}: ld_imm64 is truncated (its second slot is missing)")]
    TruncatedLdImm64 {
        /// The slot.
        at: Slot,
    },
    /// The second slot of an `ld_imm64` is not `code = 0, regs = 0, off = 0`.
    #[error("slot {at}: second slot of ld_imm64 is malformed (code, registers and off must be 0)")]
    BadLdImm64Tail {
        /// The second slot.
        at: Slot,
    },
    /// An original jump or call points outside the program.
    #[error("slot {at}: {field:?} target {target} is outside the {len}-slot program")]
    TargetOutOfRange {
        /// The jump.
        at: Slot,
        /// Its field.
        field: PositionField,
        /// The absolute target.
        target: i64,
        /// Program length in slots.
        len: u32,
    },
    /// An original jump or call points at the second slot of an `ld_imm64`.
    #[error("slot {at}: {field:?} target {target} is the second slot of an ld_imm64")]
    TargetInsideLdImm64 {
        /// The jump.
        at: Slot,
        /// Its field.
        field: PositionField,
        /// The absolute target.
        target: u32,
    },
    /// An original jump points at an instruction that is deleted with nothing after it.
    #[error("slot {at}: target {target} is deleted and nothing follows it")]
    TargetDeleted {
        /// The jump.
        at: Slot,
        /// The original target.
        target: u32,
    },
    /// A retargeted offset does not fit its field (the kernel's "cannot be patched due to 16-bit
    /// range").
    #[error("insn {at} cannot be patched: new {} {value} does not fit ({field:?})", field.field_name())]
    Overflow {
        /// The instruction whose field overflows.
        at: Slot,
        /// The field.
        field: PositionField,
        /// The value it would need.
        value: i64,
    },
    /// The result would have more than `u32::MAX` slots.
    #[error("the edited program would exceed 2^32 slots")]
    TooLarge,
}

/// One edited original instruction, in slot order.
struct Group<'e> {
    at: u32,
    /// 1, or 2 for `ld_imm64`.
    width: u32,
    before: Vec<&'e [Insn]>,
    middle: Middle<'e>,
    after: Vec<&'e [Insn]>,
}

enum Middle<'e> {
    Keep,
    Replace(&'e [Insn]),
    Delete,
}

/// True if `slot` is the second slot of an `ld_imm64`, for the few edit positions. Exact for
/// well-formed streams; in a stream where it could be wrong (a second slot whose code is not 0),
/// [`apply`]'s scan reports the malformed `ld_imm64` anyway.
fn is_second(insns: &[Insn], slot: u32) -> bool {
    slot > 0 && insns.get(slot as usize - 1).is_some_and(|i| i.code == LD_IMM64)
}

/// Opcodes that may hold a position (whether they do can depend on `src_reg`), and `ld_imm64`
/// (whose second slot the scan must skip): a table so the scan costs one lookup per slot.
const CANDIDATE: [bool; 256] = {
    let mut t = [false; 256];
    let mut code = 0;
    while code < 256 {
        let c = code as u8;
        let probe = Insn::new(c, 0, BPF_PSEUDO_CALL, 0, 0);
        let func = Insn::new(c, 0, BPF_PSEUDO_FUNC, 0, 0);
        t[code] = c == LD_IMM64 || position_field(&probe).is_some() || position_field(&func).is_some();
        code += 1;
    }
    t
};

fn group_edits<'e>(edits: &'e Edits, insns: &[Insn]) -> Result<Vec<Group<'e>>, EditError> {
    let len = u32::try_from(insns.len()).map_err(|_| EditError::TooLarge)?;
    let mut order: Vec<usize> = (0..edits.entries.len()).collect();
    // Stable: equal slots keep insertion order.
    order.sort_by_key(|&i| edits.entries[i].0);
    let mut groups: Vec<Group<'e>> = Vec::new();
    for i in order {
        let (at, kind) = &edits.entries[i];
        if at.0 >= len {
            return Err(EditError::OutOfBounds { at: *at, len });
        }
        if is_second(insns, at.0) {
            return Err(EditError::NotAnInstruction { at: *at });
        }
        if groups.last().is_none_or(|g| g.at != at.0) {
            let width = if insns[at.index()].code == LD_IMM64 { 2 } else { 1 };
            groups.push(Group {
                at: at.0,
                width,
                before: Vec::new(),
                middle: Middle::Keep,
                after: Vec::new(),
            });
        }
        let g = groups.last_mut().expect("a group for this slot was just ensured");
        match kind {
            Kind::InsertBefore(code) => g.before.push(code),
            Kind::InsertAfter(code) => g.after.push(code),
            Kind::Replace(_) | Kind::Delete if !matches!(g.middle, Middle::Keep) => {
                return Err(EditError::Conflict { at: *at });
            }
            Kind::Replace(code) => g.middle = Middle::Replace(code),
            Kind::Delete => g.middle = Middle::Delete,
        }
    }
    Ok(groups)
}

/// Applies a batch of edits. See the module docs for the semantics.
pub fn apply(insns: &[Insn], edits: &Edits, opts: &ApplyOptions<'_>) -> Result<Applied, EditError> {
    let old_len = u32::try_from(insns.len()).map_err(|_| EditError::TooLarge)?;
    let groups = group_edits(edits, insns)?;

    // Pass 1: lay out the output, copying unedited runs wholesale.
    let added: usize = groups
        .iter()
        .map(|g| g.before.iter().chain(&g.after).map(|c| c.len()).sum::<usize>() + middle_len(g))
        .sum();
    let mut out: Vec<Insn> = Vec::with_capacity(insns.len() + added);
    let mut builder = remap::Builder::with_capacity(groups.len());
    let mut next = 0u32;
    for g in &groups {
        out.extend_from_slice(&insns[next as usize..g.at as usize]);
        let start = new_index(out.len())?;
        for code in &g.before {
            out.extend_from_slice(code);
        }
        let kept = match g.middle {
            Middle::Keep => {
                let at = new_index(out.len())?;
                out.extend_from_slice(&insns[g.at as usize..(g.at + g.width) as usize]);
                Some(at)
            }
            Middle::Replace(code) => {
                out.extend_from_slice(code);
                None
            }
            Middle::Delete => None,
        };
        for code in &g.after {
            out.extend_from_slice(code);
        }
        builder.push(g.at, g.width, start, kept, new_index(out.len())?);
        next = g.at + g.width;
    }
    out.extend_from_slice(&insns[next as usize..]);
    let remap = builder.finish(old_len, new_index(out.len())?);

    // Pass 2: retarget the position fields of kept original instructions, run by run. `k` is the
    // index of the edited instruction after the run: the starting point for target look-ups,
    // since most jumps are short.
    let mut fix = Retarget {
        insns,
        remap: &remap,
        fixed: opts.fixed_imm,
        fixed_next: 0,
        old_len,
        seconds: vec![0; insns.len().div_ceil(64)],
        pending: Vec::new(),
    };
    let mut run_start = 0u32;
    for k in 0..=groups.len() {
        let run_end = groups.get(k).map_or(old_len, |g| g.at);
        if run_start < run_end {
            let base = remap.run_base(k);
            let mut old = run_start;
            while old < run_end {
                let insn = &insns[old as usize];
                if CANDIDATE[insn.code as usize] {
                    if insn.code == LD_IMM64 {
                        check_tail(insns, old)?;
                        fix.mark_second(old + 1);
                    }
                    fix.at(old, base + (old - run_start), k, &mut out)?;
                    if insn.code == LD_IMM64 {
                        old += 1;
                    }
                }
                old += 1;
            }
        }
        if let Some(g) = groups.get(k) {
            if g.width == 2 {
                check_tail(insns, g.at)?;
                fix.mark_second(g.at + 1);
            }
            if let Some(new) = remap.kept(k) {
                fix.at(g.at, new, k, &mut out)?;
            }
            run_start = g.at + g.width;
        }
    }
    fix.check_pending()?;
    Ok(Applied { insns: out, remap })
}

/// Fails unless the `ld_imm64` at `at` has a well-formed second slot.
fn check_tail(insns: &[Insn], at: u32) -> Result<(), EditError> {
    match insns.get(at as usize + 1) {
        None => Err(EditError::TruncatedLdImm64 { at: Slot(at) }),
        Some(t) if t.code != 0 || t.dst_reg() != 0 || t.src_reg() != 0 || t.off != 0 => {
            Err(EditError::BadLdImm64Tail { at: Slot(at + 1) })
        }
        Some(_) => Ok(()),
    }
}

/// Pass 2's state: retargets one kept original instruction.
struct Retarget<'a> {
    insns: &'a [Insn],
    remap: &'a Remap,
    fixed: &'a [Slot],
    /// Index into `fixed` of the first entry not before the current instruction.
    fixed_next: usize,
    old_len: u32,
    /// Second slots of `ld_imm64` seen so far by the in-order scan, as a bitmap.
    seconds: Vec<u64>,
    /// Forward targets, checked against `seconds` once the scan is complete (reading the
    /// target's neighbour instead would miss the cache on every forward jump).
    pending: Vec<(u32, u32, PositionField)>,
}

impl Retarget<'_> {
    fn mark_second(&mut self, slot: u32) {
        self.seconds[slot as usize / 64] |= 1 << (slot % 64);
    }

    fn is_second(&self, slot: u32) -> bool {
        self.seconds[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    /// Fails if any forward target turned out to be the second slot of an `ld_imm64`.
    fn check_pending(&self) -> Result<(), EditError> {
        match self.pending.iter().find(|&&(_, target, _)| self.is_second(target)) {
            Some(&(at, target, field)) => Err(EditError::TargetInsideLdImm64 { at: Slot(at), field, target }),
            None => Ok(()),
        }
    }

    fn at(&mut self, old: u32, new: u32, hint: usize, out: &mut [Insn]) -> Result<(), EditError> {
        let insn = &self.insns[old as usize];
        let Some(field) = position_field(insn) else { return Ok(()) };
        while self.fixed.get(self.fixed_next).is_some_and(|s| s.0 < old) {
            self.fixed_next += 1;
        }
        if self.fixed.get(self.fixed_next).is_some_and(|s| s.0 == old) {
            return Ok(());
        }
        let at = Slot(old);
        let target = i64::from(old) + field.get(insn) + 1;
        if target < 0 || target >= i64::from(self.old_len) {
            return Err(EditError::TargetOutOfRange { at, field, target, len: self.old_len });
        }
        let target = target as u32;
        if target <= old {
            if self.is_second(target) {
                return Err(EditError::TargetInsideLdImm64 { at, field, target });
            }
        } else {
            self.pending.push((old, target, field));
        }
        let landed = self.remap.target_hinted(target, hint);
        if landed >= self.remap.new_len() {
            return Err(EditError::TargetDeleted { at, target });
        }
        let value = i64::from(landed) - i64::from(new) - 1;
        field.set(&mut out[new as usize], value).ok_or(EditError::Overflow { at, field, value })
    }
}

fn middle_len(g: &Group<'_>) -> usize {
    match g.middle {
        Middle::Keep => g.width as usize,
        Middle::Replace(c) => c.len(),
        Middle::Delete => 0,
    }
}

fn new_index(len: usize) -> Result<u32, EditError> {
    u32::try_from(len).map_err(|_| EditError::TooLarge)
}

#[cfg(test)]
mod tests;
