//! [`Patch`]: a growable instruction buffer for generated code, the RFC's `struct bpf_patch`
//! (kernel-notes §A.1) done right.
//!
//! - Growth is a `Vec` (no manual capacity, so none of the RFC's double-doubling overflow or
//!   double free); errors are `Result`s, not a sticky field.
//! - Appending several instructions is atomic.
//! - `ld_imm64` is one entry of two slots; labels are bound between entries, so no label can ever
//!   point at the second slot of an `ld_imm64`.
//! - Jump targets are explicit: [`Target::Label`], [`Target::End`] (one past the last
//!   instruction of the patch: the RFC's `S16_MAX` sentinel made explicit) and [`Target::Rel`].
//!   [`Patch::finish`] resolves them with checked conversion (`i16` for `off`, `i32` for `imm`)
//!   and fails instead of truncating.
//! - [`Patch::regs_written`] is the true set of defined registers (ALU and load destinations,
//!   `R0`-`R5` for calls), not the RFC's OR of every `dst_reg` (which counted store addresses).
//! - [`Patch::from_rfc`] reads RFC-style sequences that use `off = 0x7fff` for jump-to-end.

use crate::insn::Insn;
use crate::op::{CallTarget, LdImm64Src, Op};

/// A label of a [`Patch`], created by [`Patch::new_label`] and bound by [`Patch::bind`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Label(u32);

/// Where a jump, call or callback address of a patch points.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    /// A label bound in the same patch.
    Label(Label),
    /// One past the last instruction of the patch: where execution continues after it once it
    /// is spliced in.
    End,
    /// A raw relative offset, kept as is.
    Rel(i32),
}

/// Why a patch cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A label was bound twice.
    #[error("label {0:?} is bound twice")]
    Rebound(Label),
    /// A target names a label that was never bound.
    #[error("instruction {index} jumps to label {label:?}, which is never bound")]
    Unbound {
        /// Index of the instruction (logical, in push order).
        index: usize,
        /// The label.
        label: Label,
    },
    /// A target was given for an instruction that holds no position.
    #[error("instruction {index} ({op:?}) cannot take a jump target")]
    NotABranch {
        /// Index of the instruction.
        index: usize,
        /// The instruction.
        op: Op,
    },
    /// A resolved offset does not fit its field.
    #[error("instruction {index} needs offset {value}, which does not fit in {field}")]
    OutOfRange {
        /// Index of the instruction.
        index: usize,
        /// The offset needed.
        value: i64,
        /// `i16` or `i32`.
        field: &'static str,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    op: Op,
    target: Option<Target>,
    /// Slot of this entry inside the patch.
    slot: u32,
}

/// A growable buffer of instructions with labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patch {
    entries: Vec<Entry>,
    /// Slot where each label is bound.
    labels: Vec<Option<u32>>,
    slots: u32,
}

/// Which field of `op` a target resolves into, and its width.
fn target_field(op: &Op) -> Option<&'static str> {
    match op {
        Op::Ja { .. } | Op::MayGoto { .. } | Op::Jump { .. } => Some("i16"),
        Op::Gotol { .. } | Op::Call(CallTarget::Local(_)) | Op::LdImm64 { src: LdImm64Src::Func, .. } => {
            Some("i32")
        }
        _ => None,
    }
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Self {
        Patch::default()
    }

    /// Appends one instruction.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.entries.push(Entry { op, target: None, slot: self.slots });
        self.slots += op.slots();
        self
    }

    /// Appends several instructions at once.
    pub fn extend(&mut self, ops: impl IntoIterator<Item = Op>) -> &mut Self {
        for op in ops {
            self.push(op);
        }
        self
    }

    /// Appends a jump, `gotol`, `may_goto`, bpf-to-bpf call or `ld_imm64` callback address whose
    /// offset is resolved from `target` by [`Patch::finish`] (the offset in `op` is ignored).
    pub fn push_branch(&mut self, op: Op, target: Target) -> Result<&mut Self, PatchError> {
        if target_field(&op).is_none() {
            return Err(PatchError::NotABranch { index: self.entries.len(), op });
        }
        self.entries.push(Entry { op, target: Some(target), slot: self.slots });
        self.slots += op.slots();
        Ok(self)
    }

    /// A fresh, unbound label.
    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(u32::try_from(self.labels.len() - 1).expect("fewer than 2^32 labels"))
    }

    /// Binds `label` to the current end of the patch (the next instruction pushed).
    pub fn bind(&mut self, label: Label) -> Result<&mut Self, PatchError> {
        let slot = self.labels.get_mut(label.0 as usize).expect("labels come from new_label of this patch");
        if slot.is_some() {
            return Err(PatchError::Rebound(label));
        }
        *slot = Some(self.slots);
        Ok(self)
    }

    /// Number of instructions (an `ld_imm64` counts once).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of 8-byte slots.
    pub fn len_slots(&self) -> u32 {
        self.slots
    }

    /// The instructions as pushed (targets unresolved).
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.entries.iter().map(|e| &e.op)
    }

    /// Registers written by the patch, as a mask of `1 << reg`.
    pub fn regs_written(&self) -> u16 {
        self.entries.iter().fold(0, |m, e| m | e.op.regs_written())
    }

    /// Registers read by the patch, as a mask of `1 << reg`.
    pub fn regs_read(&self) -> u16 {
        self.entries.iter().fold(0, |m, e| m | e.op.regs_read())
    }

    /// Resolves every target and encodes the patch.
    pub fn finish(&self) -> Result<Vec<Insn>, PatchError> {
        let mut out = Vec::with_capacity(self.slots as usize);
        for (index, e) in self.entries.iter().enumerate() {
            let mut op = e.op;
            if let Some(target) = e.target {
                let rel = match target {
                    Target::Rel(r) => i64::from(r),
                    Target::End => i64::from(self.slots) - i64::from(e.slot) - 1,
                    Target::Label(l) => {
                        let bound =
                            self.labels[l.0 as usize].ok_or(PatchError::Unbound { index, label: l })?;
                        i64::from(bound) - i64::from(e.slot) - 1
                    }
                };
                set_offset(&mut op, rel).map_err(|field| PatchError::OutOfRange {
                    index,
                    value: rel,
                    field,
                })?;
            }
            op.encode_into(&mut out);
        }
        Ok(out)
    }

    /// Reads an RFC-style sequence: a `BPF_JMP`-class jump (any condition, `ja` included, as in
    /// the non-RFC v1 `bpf_patch_resolve_jmp`) with `off == 0x7fff` becomes a [`Target::End`];
    /// `BPF_JMP32` jumps are never resolved (neither RFC version did). Other offsets are kept.
    pub fn from_rfc(insns: &[Insn]) -> Result<Patch, crate::op::DecodeError> {
        let mut patch = Patch::new();
        for (_, op) in crate::op::decode_all(insns)? {
            let end = match op {
                Op::Ja { off } | Op::MayGoto { off } => off == i16::MAX,
                Op::Jump { width: crate::op::Width::W64, off, .. } => off == i16::MAX,
                _ => false,
            };
            if end {
                patch.push_branch(op, Target::End).expect("jumps take targets");
            } else {
                patch.push(op);
            }
        }
        Ok(patch)
    }
}

fn set_offset(op: &mut Op, rel: i64) -> Result<(), &'static str> {
    match op {
        Op::Ja { off } | Op::MayGoto { off } | Op::Jump { off, .. } => {
            *off = i16::try_from(rel).map_err(|_| "i16")?
        }
        Op::Gotol { imm }
        | Op::Call(CallTarget::Local(imm))
        | Op::LdImm64 { src: LdImm64Src::Func, imm, .. } => {
            *imm = i32::try_from(rel).map_err(|_| "i32")?;
        }
        _ => unreachable!("push_branch accepts only instructions with a position field"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::*;
    use crate::op::{Cond, Reg, Size};
    use crate::text::{listing, Syntax};

    /// The veth rx_timestamp body of kernel-notes §B.4.1, written with a label and jump-to-end.
    fn veth_timestamp() -> Patch {
        let mut p = Patch::new();
        let have_skb = p.new_label();
        p.push(ldx_mem(Size::DW, Reg::R3, Reg::R1, 56));
        p.push_branch(jmp_imm(Cond::Ne, Reg::R3, 0, 0), Target::Label(have_skb)).expect("jump");
        p.push(mov64_imm(Reg::R0, -61));
        p.push_branch(jmp_a(0), Target::End).expect("jump");
        p.bind(have_skb).expect("first bind");
        p.extend([
            ldx_mem(Size::DW, Reg::R4, Reg::R3, 192),
            ldx_mem(Size::W, Reg::R5, Reg::R3, 188),
            alu64_reg(crate::op::AluOp::Add, Reg::R4, Reg::R5),
            ldx_mem(Size::DW, Reg::R4, Reg::R4, 16),
            stx_mem(Size::DW, Reg::R2, Reg::R4, 0),
            mov64_imm(Reg::R0, 0),
        ]);
        p
    }

    #[test]
    fn labels_and_jump_to_end_resolve() {
        let text = listing(&veth_timestamp().finish().expect("resolves")).expect("decodes");
        assert_eq!(
            text,
            "0: r3 = *(u64 *)(r1 + 0x38)\n1: if r3 != 0x0 goto +0x2\n2: r0 = -0x3d\n3: goto +0x6\n\
             4: r4 = *(u64 *)(r3 + 0xc0)\n5: r5 = *(u32 *)(r3 + 0xbc)\n6: r4 += r5\n\
             7: r4 = *(u64 *)(r4 + 0x10)\n8: *(u64 *)(r2 + 0x0) = r4\n9: r0 = 0x0\n"
        );
    }

    #[test]
    fn written_registers_are_definitions_not_dst_fields() {
        let p = veth_timestamp();
        // R2 is only a store address: the RFC's mask would have counted it.
        let want = Reg::R0.mask() | Reg::R3.mask() | Reg::R4.mask() | Reg::R5.mask();
        assert_eq!(p.regs_written(), want);
        assert_eq!(p.regs_read() & Reg::R1.mask(), Reg::R1.mask());
        assert_eq!(p.regs_written() & (Reg::R1.mask() | 0b111_1100_0000), 0, "R1 and R6-R10 untouched");
    }

    #[test]
    fn ld_imm64_is_one_entry_of_two_slots() {
        let mut p = Patch::new();
        let end = p.new_label();
        p.push_branch(jmp_imm(Cond::Eq, Reg::R1, 0, 0), Target::Label(end)).expect("jump");
        p.push(ld_imm64(Reg::R2, u64::MAX));
        p.bind(end).expect("bind");
        p.push(exit());
        assert_eq!((p.len(), p.len_slots()), (3, 4));
        let insns = p.finish().expect("resolves");
        assert_eq!(insns[0].off, 2, "the jump skips both slots");
    }

    #[test]
    fn errors_instead_of_truncation() {
        let mut p = Patch::new();
        let far = p.new_label();
        p.push_branch(jmp_a(0), Target::Label(far)).expect("jump");
        p.extend(std::iter::repeat_n(mov64_imm(Reg::R0, 0), 40_000));
        p.bind(far).expect("bind");
        assert_eq!(p.finish(), Err(PatchError::OutOfRange { index: 0, value: 40_000, field: "i16" }));
        assert_eq!(p.bind(far).map(|_| ()), Err(PatchError::Rebound(far)));
        let mut q = Patch::new();
        let never = q.new_label();
        q.push_branch(jmp_a(0), Target::Label(never)).expect("jump");
        assert_eq!(q.finish(), Err(PatchError::Unbound { index: 0, label: never }));
        assert!(matches!(q.push_branch(exit(), Target::End), Err(PatchError::NotABranch { index: 1, .. })));
    }

    #[test]
    fn rfc_sentinel_jumps_become_jump_to_end() {
        // jne r3, 0, S16_MAX; r0 = 0; w1 jump32 with the sentinel stays raw; exit
        let rfc = crate::op::encode_all(&[
            jmp_imm(Cond::Ne, Reg::R3, 0, i16::MAX),
            mov64_imm(Reg::R0, 0),
            jmp32_imm(Cond::Eq, Reg::R1, 0, i16::MAX),
            jmp_a(i16::MAX),
            mov64_imm(Reg::R0, 1),
        ]);
        let p = Patch::from_rfc(&rfc).expect("decodes");
        let text = crate::text::listing_with(&p.finish().expect("resolves"), Syntax::Llvm).expect("decodes");
        assert_eq!(
            text,
            "0: if r3 != 0x0 goto +0x4\n1: r0 = 0x0\n2: if w1 == 0x0 goto +0x7fff\n3: goto +0x1\n4: r0 = 0x1\n"
        );
    }
}
