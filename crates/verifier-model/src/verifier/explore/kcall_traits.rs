//! Calls of the packet-trait kfuncs (`bpf_xdp_trait_set/get/del/is_set`, kernel-notes §E),
//! which no merged kernel has: their prototypes are bundled ([`crate::traits::args`]) and
//! consulted when the kernel's kfunc table lacks the name. Each argument register is checked
//! against its [`ArgRule`] the way `check_kfunc_args` treats such parameters.
//!
//! No kernel has printed these messages, so they are chosen from the kernel's own, the one
//! it would print first for the same breach:
//!
//! | breach | message |
//! |---|---|
//! | program type other than XDP | `calling kernel function NAME is not allowed` |
//! | R1 not the context | `arg#0 expected pointer to ctx, but got TYPE` |
//! | R1 the context at an offset | `dereference of modified ctx ptr R1 off=N disallowed` |
//! | key or flags not a scalar | `RN is not a scalar` |
//! | size not a known constant | `R4 must be a known constant` |
//! | buffer neither stack nor map value (NULL included, unless the size is 0) | `R3 type=TYPE expected=fp, map_value` |
//! | buffer past the stack | `invalid indirect access to stack R3 off=N size=N` |
//! | set's buffer not initialised on the stack | `invalid indirect read from stack R3 off N+K size N` |
//! | get's buffer in a read-only map value | `write into map forbidden, value_size=N off=N size=N` |
//! | buffer past a map value | `R3 min value is outside of the allowed memory range` |
//!
//! The set's value must be initialised even for a loader allowed uninitialised stack reads
//! (issue 7: the bytes go into packet metadata that outlives the program). R0 is an unknown
//! scalar; R1-R5 are clobbered; packet pointers stay valid (traits live in the headroom below
//! the metadata and move neither `data` nor `data_meta`).

use bpf_patch::op::Reg as R;

use super::{reject, unknown, unsupported, Explorer, Step, Stop};
use crate::load::ProgType;
use crate::traits::args::{ArgRule, BufferAccess, TraitKfunc};
use crate::verifier::ctx::Access;
use crate::verifier::state::{Byte, Ptr, PtrKind, Reg, State};

impl Explorer<'_> {
    /// A call of trait kfunc `k`.
    pub(super) fn call_trait_kfunc(&mut self, pc: usize, mut st: State, next: usize, k: &TraitKfunc) -> Step {
        if self.env.prog_type != ProgType::Xdp {
            return reject(pc, format!("calling kernel function {} is not allowed", k.name));
        }
        for (i, rule) in k.args.iter().enumerate() {
            let regno = (i + 1) as u8;
            let v = st.cur().regs[i + 1];
            match *rule {
                ArgRule::XdpCtx => match v {
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off: 0, .. }) => {}
                    Reg::Ptr(Ptr { kind: PtrKind::Ctx, off, .. }) => {
                        return reject(
                            pc,
                            format!("dereference of modified ctx ptr R{regno} off={off} disallowed"),
                        )
                    }
                    _ => {
                        return reject(
                            pc,
                            format!("arg#{i} expected pointer to ctx, but got {}", v.type_name()),
                        )
                    }
                },
                ArgRule::Scalar { .. } => {
                    if !matches!(v, Reg::Scalar(_)) {
                        return reject(pc, format!("R{regno} is not a scalar"));
                    }
                }
                ArgRule::ConstSize { .. } => {
                    if !matches!(v, Reg::Scalar(s) if s.as_const().is_some()) {
                        return reject(pc, format!("R{regno} must be a known constant"));
                    }
                }
                ArgRule::Buffer { size_arg, access, .. } => {
                    let size = match st.cur().regs[size_arg + 1] {
                        Reg::Scalar(s) => s.as_const(),
                        _ => None,
                    };
                    // The size is checked with its own rule; a buffer is checked once it is known.
                    let Some(size) = size else {
                        let n = size_arg + 1;
                        return reject(pc, format!("R{n} must be a known constant"));
                    };
                    self.trait_buffer(pc, &mut st, regno, v, size, access)?;
                }
            }
        }
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = unknown();
        Ok(vec![(next, st)])
    }

    /// A value buffer of `size` bytes in register `regno`: on the stack or in a map value, in
    /// bounds; initialised when the kfunc reads it, writable (and then written) when it writes.
    fn trait_buffer(
        &mut self,
        pc: usize,
        st: &mut State,
        regno: u8,
        v: Reg,
        size: u64,
        access: BufferAccess,
    ) -> Result<(), Stop> {
        let expected = || format!("R{regno} type={} expected=fp, map_value", v.type_name());
        let p = match v {
            Reg::Scalar(s) if s.as_const() == Some(0) && size == 0 => return Ok(()),
            Reg::Ptr(
                p @ Ptr { kind: PtrKind::Stack { .. } | PtrKind::MapValue { .. }, maybe_null: false, .. },
            ) => p,
            _ => return reject(pc, expected()),
        };
        if size == 0 {
            return Ok(());
        }
        let r = R::new(regno).expect("argument registers are R1-R5");
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let mode = match access {
            BufferAccess::Read => Access::Read,
            BufferAccess::Write => Access::Write,
        };
        self.helper_mem(pc, st, r, v, size, mode, false)?;
        if let (BufferAccess::Read, PtrKind::Stack { frame }) = (access, p.kind) {
            let Some(var) = p.var.as_const() else {
                return unsupported(pc, "variable stack pointer argument");
            };
            let off = i64::from(p.off) + var as i64;
            let f = &st.frames[usize::from(frame)];
            for k in 0..i64::from(size) {
                let b = off + k;
                let byte = f.slot(((-b - 1) / 8) as usize).bytes()[b.rem_euclid(8) as usize];
                if matches!(byte, Byte::Invalid | Byte::Dynptr) {
                    return reject(
                        pc,
                        format!("invalid indirect read from stack R{regno} off {off}+{k} size {size}"),
                    );
                }
            }
        }
        Ok(())
    }
}
