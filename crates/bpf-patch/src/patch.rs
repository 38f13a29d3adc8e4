//! [`Patch`]: a growable buffer of instructions with labels, the RFC's `struct bpf_patch`
//! (kernel-notes §A.1) done right (§A.5).
//!
//! - Backed by a `Vec` of logical entries: an `ld_imm64` is one entry spanning two slots, so no
//!   label or jump can land on its second slot.
//! - Appends are atomic: [`Patch::push_insns`] decodes the whole sequence before appending any of
//!   it; there is no sticky error field.
//! - Jump targets are explicit ([`Target`]): a label, the end of the patch (the RFC's `S16_MAX`
//!   sentinel made explicit), or a raw relative offset. They are resolved by [`Patch::resolve`] with
//!   checked conversion (16 bits for `off`, 32 bits for `imm`); nothing is ever truncated.
//! - [`Patch::regs_written`] / [`Patch::regs_read`] are true definitions and uses (via
//!   [`Op::regs_written`] / [`Op::regs_read`]), not the RFC's OR of `dst_reg`.
//!
//! Splicing a finished patch into a program is the job of [`crate::edit`].

use crate::edit::{position_field, PositionField};
use crate::insn::{Insn, Slot};
use crate::op::{CallTarget, Cond, DecodeError, LdImm64Src, Op, Operand, Reg, Width};
use crate::opcode::{bpf_class, BPF_JMP};

/// A label of one [`Patch`], made by [`Patch::new_label`] and placed by [`Patch::bind`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Label(u32);

impl Label {
    /// The label's number within its patch (for messages).
    pub const fn id(self) -> u32 {
        self.0
    }
}

/// Where a jump, call or function-address load of a [`Patch`] goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    /// The instruction at which the label is bound.
    Label(Label),
    /// One past the last instruction of the patch: once spliced, the instruction that follows the
    /// patch (the RFC's `off = S16_MAX` "jump to end", made explicit).
    End,
    /// A raw offset in slots relative to the next slot, as encoded. A target outside the patch is
    /// the caller's business (it must already be in post-splice coordinates).
    Rel(i32),
}

/// Why a patch cannot be built or resolved.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PatchError {
    /// A label was bound a second time.
    #[error("label {label} bound twice (at slot {first} and at slot {second})")]
    LabelBoundTwice {
        /// The label.
        label: u32,
        /// Where it was bound first.
        first: Slot,
        /// The second attempt.
        second: Slot,
    },
    /// A label that belongs to another patch.
    #[error("label {label} does not belong to this patch")]
    ForeignLabel {
        /// The label.
        label: u32,
    },
    /// A jump to a label that was never bound.
    #[error("slot {at}: jump to label {label}, which is never bound")]
    UnboundLabel {
        /// The jumping instruction.
        at: Slot,
        /// The label.
        label: u32,
    },
    /// A target lands on the second slot of an `ld_imm64` of the patch.
    #[error("slot {at}: target slot {target} is the second slot of an ld_imm64")]
    TargetInsideLdImm64 {
        /// The jumping instruction.
        at: Slot,
        /// The target.
        target: Slot,
    },
    /// A resolved offset does not fit its field.
    #[error("slot {at}: offset {value} does not fit the {bits}-bit {field}")]
    OffsetOverflow {
        /// The jumping instruction.
        at: Slot,
        /// The field.
        field: PositionField,
        /// Its width.
        bits: u32,
        /// The offset that does not fit.
        value: i64,
    },
    /// [`Patch::branch`] was given an instruction that holds no position.
    #[error("{op:?} holds no jump or call target")]
    NotABranch {
        /// The instruction.
        op: Op,
    },
    /// A raw sequence does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The patch would exceed `u32::MAX` slots.
    #[error("patch exceeds {max} slots", max = u32::MAX)]
    TooLong,
}

#[derive(Clone, Debug)]
struct Entry {
    op: Op,
    target: Option<Target>,
}

/// A growable instruction buffer with labels (see the module documentation).
///
/// ```
/// use bpf_patch::filter::{mov64_imm, exit};
/// use bpf_patch::op::{Cond, Operand, Reg, Width};
/// use bpf_patch::patch::{Patch, Target};
///
/// let mut p = Patch::new();
/// let done = p.new_label();
/// p.jump(Width::W64, Cond::Eq, Reg::R1, Operand::Imm(0), Target::Label(done));
/// p.push(mov64_imm(Reg::R0, 1));
/// p.bind(done)?;
/// p.jump(Width::W64, Cond::Ne, Reg::R2, Operand::Imm(0), Target::End);
/// p.push(exit());
/// let slots = p.finish()?;
/// assert_eq!((slots[0].off, slots[2].off), (1, 1));
/// # Ok::<(), bpf_patch::patch::PatchError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Patch {
    entries: Vec<Entry>,
    slots: u32,
    /// Slot at which each label is bound, if it is.
    labels: Vec<Option<u32>>,
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Self {
        Patch::default()
    }

    /// Length in 8-byte slots (an `ld_imm64` counts two).
    pub fn len_slots(&self) -> u32 {
        self.slots
    }

    /// Whether nothing has been appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The slot the next appended instruction will occupy.
    pub fn position(&self) -> Slot {
        Slot(self.slots)
    }

    fn append(&mut self, op: Op, target: Option<Target>) {
        self.slots = self.slots.checked_add(op.slots()).expect("a patch never exceeds u32::MAX slots");
        self.entries.push(Entry { op, target });
    }

    /// Appends one instruction. A jump or call appended this way keeps its encoded offset, like
    /// [`Target::Rel`].
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.append(op, None);
        self
    }

    /// Appends several instructions.
    pub fn extend(&mut self, ops: impl IntoIterator<Item = Op>) -> &mut Self {
        for op in ops {
            self.append(op, None);
        }
        self
    }

    /// Decodes raw slots and appends them, all or nothing: a malformed slot appends nothing.
    pub fn push_insns(&mut self, insns: &[Insn]) -> Result<&mut Self, PatchError> {
        let ops = crate::op::decode_all(insns)?;
        self.extend(ops.into_iter().map(|(_, op)| op));
        Ok(self)
    }

    /// Appends an instruction that holds a position (jump, `gotol`, `may_goto`, bpf-to-bpf call,
    /// `ld_imm64` of a function address) whose target is resolved later; its encoded offset is
    /// ignored.
    pub fn branch(&mut self, op: Op, target: Target) -> Result<&mut Self, PatchError> {
        if position_field(&op.encode().0).is_none() {
            return Err(PatchError::NotABranch { op });
        }
        self.append(op, Some(target));
        Ok(self)
    }

    /// `goto target`.
    pub fn ja(&mut self, target: Target) -> &mut Self {
        self.append(Op::Ja { off: 0 }, Some(target));
        self
    }

    /// `gotol target` (32-bit offset, cpu v4).
    pub fn gotol(&mut self, target: Target) -> &mut Self {
        self.append(Op::Gotol { imm: 0 }, Some(target));
        self
    }

    /// `may_goto target`.
    pub fn may_goto(&mut self, target: Target) -> &mut Self {
        self.append(Op::MayGoto { off: 0 }, Some(target));
        self
    }

    /// `if dst cond src goto target`.
    pub fn jump(&mut self, width: Width, cond: Cond, dst: Reg, src: Operand, target: Target) -> &mut Self {
        self.append(Op::Jump { width, cond, dst, src, off: 0 }, Some(target));
        self
    }

    /// `call target` (bpf-to-bpf).
    pub fn call_local(&mut self, target: Target) -> &mut Self {
        self.append(Op::Call(CallTarget::Local(0)), Some(target));
        self
    }

    /// `dst = target ll` with `src_reg = BPF_PSEUDO_FUNC` (address of a callback).
    pub fn ld_func(&mut self, dst: Reg, target: Target) -> &mut Self {
        self.append(Op::LdImm64 { dst, src: LdImm64Src::Func, imm: 0, next_imm: 0 }, Some(target));
        self
    }

    /// A fresh, unbound label.
    pub fn new_label(&mut self) -> Label {
        let id = u32::try_from(self.labels.len()).expect("fewer than u32::MAX labels");
        self.labels.push(None);
        Label(id)
    }

    /// Binds `label` to the current position (the next instruction appended, or the end of the
    /// patch if none follows). Labels are bound between entries, so never on the second slot of
    /// an `ld_imm64`.
    pub fn bind(&mut self, label: Label) -> Result<&mut Self, PatchError> {
        let here = self.slots;
        let entry =
            self.labels.get_mut(label.0 as usize).ok_or(PatchError::ForeignLabel { label: label.0 })?;
        if let Some(first) = *entry {
            return Err(PatchError::LabelBoundTwice {
                label: label.0,
                first: Slot(first),
                second: Slot(here),
            });
        }
        *entry = Some(here);
        Ok(self)
    }

    /// Registers written by any instruction of the patch (mask of `1 << reg`).
    pub fn regs_written(&self) -> u16 {
        self.entries.iter().fold(0, |m, e| m | e.op.regs_written())
    }

    /// Registers read by any instruction of the patch (mask of `1 << reg`).
    pub fn regs_read(&self) -> u16 {
        self.entries.iter().fold(0, |m, e| m | e.op.regs_read())
    }

    /// Resolves every target and encodes the patch into slots.
    pub fn resolve(&self) -> Result<Vec<Insn>, PatchError> {
        let mut second_slots = Vec::new();
        let mut at = 0u32;
        for e in &self.entries {
            if e.op.slots() == 2 {
                second_slots.push(at + 1);
            }
            at += e.op.slots();
        }
        let mut out = Vec::with_capacity(self.slots as usize);
        for e in &self.entries {
            let here = u32::try_from(out.len()).expect("slots counted in u32");
            let (mut first, second) = e.op.encode();
            if let Some(target) = e.target {
                let field = position_field(&first).expect("branch() accepts only position-holding ops");
                let dest: i64 = match target {
                    Target::End => i64::from(self.slots),
                    Target::Rel(rel) => i64::from(here) + 1 + i64::from(rel),
                    Target::Label(l) => {
                        let bound =
                            self.labels.get(l.0 as usize).ok_or(PatchError::ForeignLabel { label: l.0 })?;
                        i64::from(bound.ok_or(PatchError::UnboundLabel { at: Slot(here), label: l.0 })?)
                    }
                };
                if let Ok(d) = u32::try_from(dest) {
                    if second_slots.binary_search(&d).is_ok() {
                        return Err(PatchError::TargetInsideLdImm64 { at: Slot(here), target: Slot(d) });
                    }
                }
                let value = dest - i64::from(here) - 1;
                if !field.set(&mut first, value) {
                    return Err(PatchError::OffsetOverflow {
                        at: Slot(here),
                        field,
                        bits: field.bits(),
                        value,
                    });
                }
            }
            out.push(first);
            out.extend(second);
        }
        Ok(out)
    }

    /// Resolves and encodes, consuming the patch.
    pub fn finish(self) -> Result<Vec<Insn>, PatchError> {
        self.resolve()
    }

    /// Decodes an RFC-style sequence in which a jump with `off == 0x7fff` (`S16_MAX`) means
    /// "jump to one past the end of the patch", turning those into [`Target::End`].
    ///
    /// Sentinel rule (a choice): that of the non-RFC v1 `bpf_patch_resolve_jmp` — every
    /// `BPF_JMP`-class jump with the offset in `off` (`ja`, conditional jumps with either source,
    /// `may_goto`), not only register-compare jumps as in RFC v2 06/14. `BPF_JMP32`-class jumps
    /// are never resolved (neither version did), and calls and `exit` are excluded although v1's
    /// loop did not exclude them, because their `off` is not a jump offset. Any other jump keeps
    /// its raw offset as [`Target::Rel`]. A genuine offset of 32767 cannot be expressed in RFC
    /// style; that collision is the defect the explicit target removes.
    pub fn from_rfc(insns: &[Insn]) -> Result<Patch, PatchError> {
        let ops = crate::op::decode_all(insns)?;
        let mut patch = Patch::new();
        for (slot, op) in ops {
            let first = op.encode().0;
            match position_field(&first) {
                Some(PositionField::JumpOff) if bpf_class(first.code) == BPF_JMP && first.off == i16::MAX => {
                    patch.append(op, Some(Target::End));
                }
                Some(field) => {
                    let rel = i32::try_from(field.get(&first)).expect("fields are at most 32 bits");
                    patch.append(op, Some(Target::Rel(rel)));
                }
                None => patch.append(op, None),
            }
            debug_assert_eq!(u64::from(slot.0) + u64::from(op.slots()), u64::from(patch.slots));
        }
        Ok(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{exit, ld_imm64, mov64_imm};
    use crate::opcode::{BPF_JA, BPF_JMP32};

    #[test]
    fn labels_end_and_rel_resolve_to_offsets() {
        let mut p = Patch::new();
        let back = p.new_label();
        let fwd = p.new_label();
        p.bind(back).expect("fresh");
        p.push(mov64_imm(Reg::R0, 0)); // 0
        p.ja(Target::Label(fwd)); // 1
        p.push(ld_imm64(Reg::R1, 7)); // 2-3
        p.jump(Width::W32, Cond::Gt, Reg::R1, Operand::Reg(Reg::R2), Target::Label(back)); // 4
        p.bind(fwd).expect("fresh");
        p.gotol(Target::End); // 5
        p.call_local(Target::Rel(-3)); // 6
        p.ld_func(Reg::R2, Target::Label(back)); // 7-8
        let out = p.finish().expect("resolves");
        assert_eq!(out.len(), 9);
        assert_eq!(out[1].off, 3); // 1 -> 5
        assert_eq!(out[4].off, -5); // 4 -> 0
        assert_eq!(out[5].imm, 3); // 5 -> 9 (end)
        assert_eq!(out[6].imm, -3);
        assert_eq!(out[7].imm, -8); // 7 -> 0
    }

    #[test]
    fn errors_are_reported_not_truncated() {
        // Table: build a patch, expect this error.
        type Build = fn(&mut Patch) -> Result<(), PatchError>;
        let cases: Vec<(&str, Build, PatchError)> = vec![
            (
                "unbound label",
                |p| {
                    let l = p.new_label();
                    p.push(exit()).ja(Target::Label(l));
                    Ok(())
                },
                PatchError::UnboundLabel { at: Slot(1), label: 0 },
            ),
            (
                "bound twice",
                |p| {
                    let l = p.new_label();
                    p.bind(l)?.push(exit()).bind(l)?;
                    Ok(())
                },
                PatchError::LabelBoundTwice { label: 0, first: Slot(0), second: Slot(1) },
            ),
            (
                "rel into ld_imm64",
                |p| {
                    p.ja(Target::Rel(1)).push(ld_imm64(Reg::R1, 1));
                    Ok(())
                },
                PatchError::TargetInsideLdImm64 { at: Slot(0), target: Slot(2) },
            ),
            (
                "16-bit overflow",
                |p| {
                    p.ja(Target::End).extend(std::iter::repeat_n(mov64_imm(Reg::R0, 0), 32768));
                    Ok(())
                },
                PatchError::OffsetOverflow {
                    at: Slot(0),
                    field: PositionField::JumpOff,
                    bits: 16,
                    value: 32768,
                },
            ),
            (
                "not a branch",
                |p| p.branch(exit(), Target::End).map(|_| ()),
                PatchError::NotABranch { op: exit() },
            ),
        ];
        for (name, build, want) in cases {
            let mut p = Patch::new();
            let got = build(&mut p).and_then(|()| p.resolve().map(|_| ()));
            assert_eq!(got, Err(want), "{name}");
        }
    }

    #[test]
    fn gotol_reaches_beyond_16_bits() {
        let mut p = Patch::new();
        p.gotol(Target::End).extend(std::iter::repeat_n(mov64_imm(Reg::R0, 0), 40000));
        assert_eq!(p.finish().expect("fits 32 bits")[0].imm, 40000);
    }

    #[test]
    fn push_insns_is_atomic() {
        let mut p = Patch::new();
        p.push(exit());
        let bad = [mov64_imm(Reg::R0, 1).encode().0, Insn::new(0xff, 0, 0, 0, 0)];
        assert!(p.push_insns(&bad).is_err());
        assert_eq!(p.len_slots(), 1);
        let good = crate::op::encode_all(&[ld_imm64(Reg::R1, 5), exit()]);
        p.push_insns(&good).expect("decodes");
        assert_eq!(p.len_slots(), 4);
    }

    #[test]
    fn registers_are_true_definitions_and_uses() {
        let mut p = Patch::new();
        // *(u64 *)(r2 + 0) = r3 writes no register although dst_reg = r2 (the RFC counted it).
        p.push(crate::filter::stx_mem(crate::op::Size::DW, Reg::R2, Reg::R3, 0));
        p.push(mov64_imm(Reg::R4, 1));
        assert_eq!(p.regs_written(), Reg::R4.mask());
        assert_eq!(p.regs_read(), Reg::R2.mask() | Reg::R3.mask());
    }

    #[test]
    fn rfc_sentinel_becomes_end() {
        // jne r1, 0, END ; ja END ; w1 > w2 goto END (JMP32: not resolved) ; gotol +0 ; r0 = 0 ; exit
        let seq = [
            Insn::new(0x55, 1, 0, i16::MAX, 0),
            Insn::new(BPF_JMP | BPF_JA, 0, 0, i16::MAX, 0),
            Insn::new(0x2e, 1, 2, 2, 0),
            Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, 0),
            mov64_imm(Reg::R0, 0).encode().0,
            exit().encode().0,
        ];
        let p = Patch::from_rfc(&seq).expect("decodes");
        let out = p.finish().expect("resolves");
        assert_eq!(out[0].off, 5);
        assert_eq!(out[1].off, 4);
        assert_eq!(out[2].off, 2);
        assert_eq!(&out[3..], &seq[3..]);
    }
}
