//! The explorer's side of the trusted-region mode ([`crate::verifier::trusted`] has the rules
//! and the region descriptions): instructions inside an unrolled region are stepped with the
//! context typed through the driver's wrapper, calls limited to the
//! `xdp_kfunc_call_preserving_r1` routines, stores checked for escaping trusted pointers, and
//! every way out of a region checked at its end.

use bpf_patch::op::{CallTarget, Op, Reg as R};

use super::{kcall, reject, rn, unknown, unsupported, Explorer, Step, Stop};
use crate::verifier::ctx::Access;
use crate::verifier::state::{Ptr, PtrKind, Reg, State};
use crate::verifier::trusted::{field_at, Pointee, ProgramRegions, Read};

/// A trusted kernel pointer (typed or untyped), which must not leave its region.
fn is_trusted(v: &Reg) -> bool {
    matches!(v, Reg::Ptr(Ptr { kind: PtrKind::Trusted { .. } | PtrKind::TrustedMem, .. }))
}

/// The context itself (what R1 holds in a region and a routine returns).
fn is_ctx(v: &Reg) -> bool {
    matches!(v, Reg::Ptr(p) if p.kind == PtrKind::Ctx && p.off == 0 && p.var.as_const() == Some(0))
}

impl Explorer<'_> {
    /// [`Explorer::step`] with the region rules around it: calls, `exit` and stores inside a
    /// region, and the checks at its end on every successor that leaves it.
    pub(super) fn step_checked(&mut self, pc: usize, mut st: State) -> Step {
        let Some(regions) = self.env.trusted else { return self.step(pc, st) };
        let (Some(region), Some(k)) = (regions.region_of(pc), self.index[pc]) else {
            return self.step(pc, st);
        };
        let op = self.ops[k].1;
        let out = match op {
            Op::Call(CallTarget::Kfunc { btf_id, off: 0 }) => {
                self.routine_call(pc, st, self.next(pc, &op), btf_id, regions)?
            }
            Op::Call(_) | Op::Callx { .. } => {
                return reject(
                    pc,
                    "only xdp_kfunc_call_preserving_r1 routines may be called in an unrolled region",
                )
            }
            Op::Exit => return reject(pc, "exit inside an unrolled region"),
            Op::Store { dst, src, .. } => {
                self.region_store(pc, &mut st, dst, src)?;
                self.step(pc, st)?
            }
            _ => self.step(pc, st)?,
        };
        out.into_iter()
            .map(|(npc, mut s)| {
                if region.contains(&npc) {
                    return Ok((npc, s));
                }
                if npc != region.end {
                    return reject(
                        pc,
                        format!(
                            "jump from the unrolled region {}..{} to insn {npc}, not its end",
                            region.start, region.end
                        ),
                    );
                }
                leave_region(npc, &mut s)?;
                Ok((npc, s))
            })
            .collect()
    }

    /// A call in a region: a contract routine taking the context in R1, which returns it in R0
    /// and clobbers R1-R5.
    fn routine_call(
        &self,
        pc: usize,
        mut st: State,
        next: usize,
        imm: i32,
        regions: &ProgramRegions<'_>,
    ) -> Step {
        let name = kcall::name_of(self.env, imm);
        let Some(name) = name.filter(|n| regions.spec.routines.contains(n)) else {
            let what = kcall::name_of(self.env, imm).unwrap_or_else(|| format!("#{imm}"));
            return reject(
                pc,
                format!("kernel function {what} is not an xdp_kfunc_call_preserving_r1 routine: not callable in an unrolled region"),
            );
        };
        let r1 = st.cur().regs[1];
        if !is_ctx(&r1) {
            return reject(pc, format!("R1 type={} expected=ctx: {name} takes the context", r1.type_name()));
        }
        let f = st.cur_mut();
        for r in 1..=5 {
            f.regs[r] = Reg::NotInit;
        }
        f.regs[0] = Reg::Ptr(Ptr::new(PtrKind::Ctx, 0));
        Ok(vec![(next, st)])
    }

    /// A store in a region, before it runs: a trusted pointer may only be stored into kernel
    /// memory (the context or untyped trusted memory); a pointer into program memory stored
    /// there is handed to the kernel, which may write 8 bytes through it (the `_out` routines'
    /// out pointer).
    fn region_store(&self, pc: usize, st: &mut State, dst: R, src: R) -> Result<(), Stop> {
        let (base, value) = (st.cur().regs[rn(dst)], st.cur().regs[rn(src)]);
        let into_kernel = is_ctx(&base) || matches!(base, Reg::Ptr(Ptr { kind: PtrKind::TrustedMem, .. }));
        if is_trusted(&value) && !into_kernel {
            return reject(
                pc,
                format!("R{} trusted pointer escapes the unrolled region through a store", src.num()),
            );
        }
        match value {
            Reg::Ptr(p) if into_kernel && !is_trusted(&value) && p.kind != PtrKind::Ctx => {
                self.helper_mem(pc, st, src, value, 8, Access::Write, true)
            }
            _ => Ok(()),
        }
    }

    /// A load or store of `size` bytes at `off` through `p` (held in R`r`) when the
    /// trusted-region mode types it: the context inside a region, and any trusted pointer.
    /// `None`: the ordinary rules apply.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn trusted_access(
        &self,
        pc: usize,
        r: u8,
        p: Ptr,
        off: i64,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Result<Option<Reg>, Stop> {
        let Some(regions) = self.env.trusted else { return Ok(None) };
        let (layout, typed) = match p.kind {
            PtrKind::Ctx if regions.region_of(pc).is_some() && is_ctx(&Reg::Ptr(p)) => {
                (&regions.spec.wrapper, false)
            }
            PtrKind::Trusted { layout } => match regions.layout(layout) {
                Some(l) => (l, true),
                None => return unsupported(pc, format!("trusted pointer to layout #{layout}")),
            },
            PtrKind::TrustedMem => {
                return Ok(Some(if access == Access::Read { unknown() } else { Reg::NotInit }))
            }
            _ => return Ok(None),
        };
        let lname = &layout.name;
        if typed && access == Access::Write {
            return reject(pc, format!("R{r} is ptr_{lname}: only read is supported"));
        }
        if off < 0 {
            return reject(pc, format!("R{r} is ptr_{lname} invalid negative access: off={off}"));
        }
        let field = match field_at(layout, off, size, |f| regions.pointer(lname, f).is_some()) {
            Ok(f) => f,
            Err(m) => return reject(pc, m),
        };
        match (field, access) {
            (Read::Scalar, Access::Read) => Ok(Some(unknown())),
            (Read::Scalar, Access::Write) => Ok(Some(Reg::NotInit)),
            (Read::Pointer(name), Access::Write) => {
                // Only untyped memory pointers may be moved (`xdp->data_meta = meta`), and only
                // to other trusted memory.
                let pf = regions.pointer(lname, name).expect("field_at found a pointer field");
                let memory = matches!(value, Some(Reg::Ptr(Ptr { kind: PtrKind::TrustedMem, .. })));
                if pf.pointee != Pointee::Memory || !memory {
                    return reject(
                        pc,
                        format!(
                            "R{r} cannot overwrite the pointer {lname}.{name} with {}",
                            value.map_or("?".into(), |v| v.type_name())
                        ),
                    );
                }
                Ok(Some(Reg::NotInit))
            }
            (Read::Pointer(name), Access::Read) => {
                let pf = regions.pointer(lname, name).expect("field_at found a pointer field");
                let kind = match &pf.pointee {
                    Pointee::Memory => PtrKind::TrustedMem,
                    Pointee::Struct(s) => match regions.layout_index(s) {
                        Some(layout) => PtrKind::Trusted { layout },
                        None => return unsupported(pc, format!("no layout for struct {s} ({lname}.{name})")),
                    },
                };
                let mut q = Ptr::new(kind, 0);
                if pf.nullable {
                    q.maybe_null = true;
                    q.id = self.fresh_id();
                }
                Ok(Some(Reg::Ptr(q)))
            }
        }
    }
}

/// At the end of a region (slot `at`): R2-R5 become unreadable, no register may hold a trusted
/// pointer, and R0 must be a scalar.
fn leave_region(at: usize, st: &mut State) -> Result<(), Stop> {
    let f = st.cur_mut();
    for r in 2..=5 {
        f.regs[r] = Reg::NotInit;
    }
    if let Some((i, v)) = f.regs.iter().enumerate().find(|(_, v)| is_trusted(v)) {
        return reject(
            at,
            format!(
                "R{i} holds a {} at the end of the unrolled region: trusted pointers may not leave it",
                v.type_name()
            ),
        );
    }
    match f.regs[0] {
        Reg::Scalar(_) => Ok(()),
        v => reject(
            at,
            format!("R0 must be a scalar at the end of the unrolled region, it is {}", v.type_name()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use bpf_patch::Slot;

    use super::super::{verify_observed, Env, Outcome};
    use crate::interp::Layout;
    use crate::load::ProgType;

    use crate::verifier::state::{PtrKind, Reg, State};
    use crate::verifier::trusted::{Pointee, PointerField, ProgramRegions, TrustedRegion, TrustedRegions};

    /// Wrapper `w`: scalar `x` at 0, NULL-able `p` at 8 and never-NULL `q` at 16, both to `s`;
    /// `s`: scalar `a` at 0, `mem` (untyped) at 8. Routine `routine` (kfunc #1).
    fn spec() -> TrustedRegions {
        let ptr = |layout: &str, field: &str, pointee: Pointee, nullable| PointerField {
            layout: layout.into(),
            field: field.into(),
            pointee,
            nullable,
        };
        TrustedRegions {
            regions: vec![TrustedRegion { function: "f".into(), start: Slot(0), len: 0 }],
            wrapper: Layout::new("w", 24).field("x", 0, 8).field("p", 8, 8).field("q", 16, 8),
            layouts: vec![Layout::new("s", 16).field("a", 0, 4).field("mem", 8, 8)],
            pointers: vec![
                ptr("w", "p", Pointee::Struct("s".into()), true),
                ptr("w", "q", Pointee::Struct("s".into()), false),
                ptr("s", "mem", Pointee::Memory, false),
            ],
            routines: vec!["routine".into()],
        }
    }

    /// Verifies `region` (one line per slot) followed by `r0 = 2; exit` as XDP, the region
    /// trusted when `trusted`; observes the state before each instruction.
    fn run(region: &str, trusted: bool, observe: &mut dyn FnMut(usize, &State)) -> Outcome {
        let src = format!("{region}\nr0 = 0x2\nexit");
        let insns = bpf_patch::text::assemble(&src).expect("assembles");
        let len = insns.len() - 2;
        let spec = spec();
        let placed = ProgramRegions { spec: &spec, ranges: std::iter::once(0..len).collect() };
        let kfuncs = ["routine".to_owned(), "other".to_owned()];
        let env = Env { kfuncs: &kfuncs, trusted: trusted.then_some(&placed), ..Env::new(ProgType::Xdp) };
        verify_observed(&insns, &env, observe).expect("decodes").outcome
    }

    /// Accepted, or the rejection's instruction and message.
    type Verdict = Result<(), (usize, String)>;

    fn verdict(region: &str) -> Verdict {
        match run(region, true, &mut |_, _| {}) {
            Outcome::Accept => Ok(()),
            Outcome::Reject(d) => Err((d.insn, d.message)),
            Outcome::Unsupported { insn, what } => Err((insn, format!("unsupported: {what}"))),
        }
    }

    #[test]
    fn region_rules_give_the_kernels_verdicts() {
        let ok = |_: &str| Ok(());
        let err = |insn: usize, m: &str| Err((insn, m.to_owned()));
        let cases: Vec<(&str, &str, Verdict)> = vec![
            ("typed load", "r3 = *(u64 *)(r1 + 0x10)\nr0 = *(u32 *)(r3 + 0x0)", ok("")),
            ("scalar field", "r0 = *(u32 *)(r1 + 0x4)", ok("")),
            ("nested pointer", "r3 = *(u64 *)(r1 + 0x10)\nr3 = *(u64 *)(r3 + 0x8)\nr0 = *(u64 *)(r3 + 0x40)", ok("")),
            ("past the wrapper", "r0 = *(u64 *)(r1 + 0x18)", err(0, "access beyond struct w at off 24 size 8")),
            (
                "part of a pointer",
                "r0 = *(u32 *)(r1 + 0x8)",
                err(0, "cannot access ptr member p with moff 8 in struct w with off 8 size 4"),
            ),
            (
                "NULL-able, unchecked",
                "r3 = *(u64 *)(r1 + 0x8)\nr0 = *(u32 *)(r3 + 0x0)",
                err(1, "R3 invalid mem access 'trusted_ptr_or_null_'"),
            ),
            (
                "NULL-able, checked",
                "r0 = 0x0\nr3 = *(u64 *)(r1 + 0x8)\nif r3 == 0x0 goto +0x1\nr0 = *(u32 *)(r3 + 0x0)",
                ok(""),
            ),
            (
                "NULL-able, checked through a copy",
                "r0 = 0x0\nr3 = *(u64 *)(r1 + 0x8)\nr4 = r3\nif r4 == 0x0 goto +0x1\nr0 = *(u32 *)(r3 + 0x0)",
                ok(""),
            ),
            (
                "NULL-able, on its NULL side",
                "r0 = 0x0\nr3 = *(u64 *)(r1 + 0x8)\nif r3 != 0x0 goto +0x1\nr0 = *(u32 *)(r3 + 0x0)",
                err(3, "R3 invalid mem access 'scalar'"),
            ),
            (
                "typed plus variable is untyped memory",
                "r3 = *(u64 *)(r1 + 0x10)\nr4 = *(u32 *)(r1 + 0x0)\nr3 += r4\nr0 = *(u64 *)(r3 + 0x100)",
                ok(""),
            ),
            (
                "typed plus constant stays typed",
                "r3 = *(u64 *)(r1 + 0x10)\nr3 += 0x100\nr0 = *(u64 *)(r3 + 0x0)",
                err(2, "access beyond struct s at off 256 size 8"),
            ),
            ("typed is read only", "r3 = *(u64 *)(r1 + 0x10)\n*(u32 *)(r3 + 0x0) = 0x1\nr0 = 0x0", err(1, "R3 is ptr_s: only read is supported")),
            (
                "escape through R0",
                "r3 = *(u64 *)(r1 + 0x10)\nr0 = r3",
                err(2, "R0 holds a trusted_ptr_ at the end of the unrolled region: trusted pointers may not leave it"),
            ),
            (
                "escape through R6",
                "r0 = 0x0\nr6 = *(u64 *)(r1 + 0x10)",
                err(2, "R6 holds a trusted_ptr_ at the end of the unrolled region: trusted pointers may not leave it"),
            ),
            ("R2-R5 are dropped at the end", "r0 = 0x0\nr2 = *(u64 *)(r1 + 0x10)\nr5 = r2", ok("")),
            (
                "escape through the stack",
                "r2 = r10\nr2 += -0x8\nr3 = *(u64 *)(r1 + 0x10)\n*(u64 *)(r2 + 0x0) = r3\nr0 = 0x0",
                err(3, "R3 trusted pointer escapes the unrolled region through a store"),
            ),
            ("ctx is not R0 at the end", "r0 = r1", err(1, "R0 must be a scalar at the end of the unrolled region, it is ctx")),
            (
                "contract routine",
                "r2 = r10\nr2 += -0x8\n*(u64 *)(r1 + 0x0) = r2\ncall kfunc 1\nr1 = r0\nr0 = *(u64 *)(r1 + 0x0)",
                ok(""),
            ),
            (
                "contract clobbers R2",
                "r2 = r10\ncall kfunc 1\nr1 = r0\nr0 = r2",
                err(3, "R2 !read_ok"),
            ),
            (
                "other kfunc",
                "call kfunc 2\nr0 = 0x0",
                err(0, "kernel function other is not an xdp_kfunc_call_preserving_r1 routine: not callable in an unrolled region"),
            ),
            ("helper", "call 0x5\nr0 = 0x0", err(0, "only xdp_kfunc_call_preserving_r1 routines may be called in an unrolled region")),
        ];
        for (what, region, want) in cases {
            assert_eq!(verdict(region), want, "{what}");
        }
    }

    #[test]
    fn pointer_kinds_and_the_out_pointer_are_tracked() {
        // The out pointer handed to the routine: the 8 stack bytes may be written (were zero).
        let region = "*(u64 *)(r10 - 0x8) = 0x0\nr2 = r10\nr2 += -0x8\n*(u64 *)(r1 + 0x0) = r2\ncall kfunc 1\nr1 = r0\nr0 = 0x0\nr3 = *(u64 *)(r1 + 0x10)\nr4 = *(u32 *)(r1 + 0x0)\nr3 += r4\nr3 = *(u64 *)(r1 + 0x8)\nif r3 == 0x0 goto +0x1\nr0 = *(u32 *)(r3 + 0x0)";
        let mut seen: Vec<(usize, Reg)> = Vec::new();
        let mut stack_after_store = None;
        let outcome = run(region, true, &mut |pc, st| {
            seen.push((pc, st.cur().regs[3]));
            if pc == 4 {
                stack_after_store = Some(st.cur().slot(0).bytes());
            }
        });
        assert_eq!(outcome, Outcome::Accept);
        let kind = |pc: usize| {
            seen.iter().rev().find(|(p, _)| *p == pc).map(|(_, r)| match r {
                Reg::Ptr(p) => (Some(p.kind), p.maybe_null),
                _ => (None, false),
            })
        };
        assert_eq!(kind(9), Some((Some(PtrKind::Trusted { layout: 0 }), false)), "typed");
        assert_eq!(kind(10), Some((Some(PtrKind::TrustedMem), false)), "typed + variable");
        assert_eq!(kind(11), Some((Some(PtrKind::Trusted { layout: 0 }), true)), "NULL-able");
        assert_eq!(kind(12), Some((Some(PtrKind::Trusted { layout: 0 }), false)), "checked");
        assert!(stack_after_store.is_some_and(|b| b.iter().all(|x| *x == crate::verifier::state::Byte::Misc)));
        // Outside a region the context is the uapi one.
        let Outcome::Reject(d) = run("r3 = *(u64 *)(r1 + 0x10)\nr0 = 0x0", false, &mut |_, _| {}) else {
            panic!("the uapi ctx has no field at 16 of size 8")
        };
        assert_eq!((d.insn, d.message.as_str()), (0, "invalid bpf_context access off=16 size=8"));
    }
}
