//! The verifier's log in the kernel's shape: [`state_line`] renders an abstract [`State`] the
//! way `print_verifier_state` does (`R1=ctx() R10=fp0 fp-8=mmmm0000`), and [`Listing`] pairs
//! instruction indices with their assembly so that logs and failing paths read like the
//! kernel's `N: (op) text` lines.

use std::collections::HashMap;
use std::fmt::Write as _;

use bpf_patch::text::{disassemble, Syntax};
use bpf_patch::Insn;

use super::state::{Byte, StackSlot, State};

/// One line for `state`: each frame's written registers and stack slots, frames above the
/// first prefixed with `frameN:` as the kernel does.
pub fn state_line(state: &State) -> String {
    let mut out = String::new();
    for (n, frame) in state.frames.iter().enumerate() {
        if state.frames.len() > 1 {
            let _ = write!(out, "{}frame{n}:", if n == 0 { "" } else { " " });
        }
        let mut first = state.frames.len() == 1;
        let mut part = |out: &mut String, text: &str| {
            if !first {
                out.push(' ');
            }
            first = false;
            out.push_str(text);
        };
        let regs = super::explore::dump_regs(frame);
        if !regs.is_empty() {
            part(&mut out, &regs);
        }
        for i in 0..frame.stack.len() {
            let slot = frame.slot(i);
            let text = match slot {
                StackSlot::Spill(r) => r.to_string(),
                StackSlot::Dynptr(d) if d.first => {
                    let mut t = format!("dynptr_{}(id={}", d.ty.name(), d.id);
                    if d.ref_obj_id != 0 {
                        t += &format!(",ref_id={}", d.ref_obj_id);
                    }
                    t + ")"
                }
                StackSlot::Dynptr(_) => "dynptr".into(),
                StackSlot::Iter(i) => format!(
                    "iter_num(ref_id={},state={},depth={})",
                    i.ref_obj_id,
                    if i.active { "active" } else { "drained" },
                    i.depth
                ),
                StackSlot::Bytes(b) if b.iter().all(|x| *x == Byte::Invalid) => continue,
                // The kernel prints the slot's bytes from the highest address down.
                StackSlot::Bytes(b) => b
                    .iter()
                    .rev()
                    .map(|x| match x {
                        Byte::Invalid => '?',
                        Byte::Misc => 'm',
                        Byte::Zero => '0',
                        Byte::Dynptr => 'd',
                    })
                    .collect(),
            };
            part(&mut out, &format!("fp-{}={text}", 8 * (i + 1)));
        }
    }
    out
}

/// A program's assembly by instruction index (slot).
#[derive(Clone, Debug, Default)]
pub struct Listing {
    text: HashMap<usize, String>,
}

impl Listing {
    /// Disassembles `insns`; slots that do not decode are shown as `(undecodable)`.
    pub fn new(insns: &[Insn]) -> Listing {
        let text = disassemble(insns, Syntax::default())
            .map(|v| v.into_iter().map(|(slot, t)| (slot.index(), t)).collect())
            .unwrap_or_default();
        Listing { text }
    }

    /// `N: text` for instruction `insn`.
    pub fn line(&self, insn: usize) -> String {
        match self.text.get(&insn) {
            Some(t) => format!("{insn}: {t}"),
            None => format!("{insn}: (undecodable)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::scalar::Scalar;
    use crate::verifier::state::{Frame, Ptr, PtrKind, Reg};

    #[test]
    fn a_state_prints_registers_then_written_stack_slots() {
        let mut regs = [Reg::NotInit; 11];
        regs[1] = Reg::Ptr(Ptr::new(PtrKind::Ctx, 0));
        regs[10] = Reg::Ptr(Ptr::new(PtrKind::Stack { frame: 0 }, 0));
        let mut frame = Frame::new(regs, 0);
        *frame.slot_mut(0) = StackSlot::Bytes([
            Byte::Misc,
            Byte::Misc,
            Byte::Misc,
            Byte::Misc,
            Byte::Zero,
            Byte::Zero,
            Byte::Zero,
            Byte::Zero,
        ]);
        *frame.slot_mut(2) = StackSlot::Spill(Reg::Scalar(Scalar::constant(7)));
        let state = State { frames: vec![frame.clone()], may_goto_depth: 0, refs: Vec::new() };
        assert_eq!(state_line(&state), "R1=ctx() R10=fp0 fp-8=0000mmmm fp-24=7");
        let two = State { frames: vec![frame.clone(), frame], may_goto_depth: 0, refs: Vec::new() };
        assert!(state_line(&two).starts_with("frame0: R1=ctx()"), "{}", state_line(&two));
        assert!(state_line(&two).contains(" frame1: R1=ctx()"), "{}", state_line(&two));
    }

    #[test]
    fn a_listing_names_each_slot_and_marks_the_second_half_of_ld_imm64() {
        let insns = bpf_patch::text::assemble("r1 = 0x100000000 ll\nr0 = 0\nexit").expect("assembles");
        let l = Listing::new(&insns);
        assert_eq!(l.line(0), "0: r1 = 0x100000000 ll");
        assert_eq!(l.line(2), "2: r0 = 0x0");
        assert_eq!(l.line(1), "1: (undecodable)");
    }
}
