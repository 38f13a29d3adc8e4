//! Conditional jumps on scalars, as the kernel's verifier handles them: whether a branch is
//! decided by the operands' bounds (`is_scalar_branch_taken`) and what each side learns
//! (`regs_refine_cond_op`, then `reg_bounds_sync` on both registers).
//!
//! The precision is the kernel's on purpose: deciding more branches than the kernel would make
//! us skip paths the kernel explores, and accept programs it rejects.

use bpf_patch::op::{Cond, Width};

use super::scalar::Scalar;
use super::tnum::Tnum;

/// The 64- or 32-bit view of a scalar's bounds that a jump compares.
#[derive(Clone, Copy)]
struct View {
    t: Tnum,
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
}

fn view(s: &Scalar, width: Width) -> View {
    match width {
        Width::W64 => View { t: s.var_off, umin: s.umin, umax: s.umax, smin: s.smin, smax: s.smax },
        Width::W32 => View {
            t: s.var_off.subreg(),
            umin: u64::from(s.u32_min),
            umax: u64::from(s.u32_max),
            smin: i64::from(s.s32_min),
            smax: i64::from(s.s32_max),
        },
    }
}

/// `Some(true)` if the jump is always taken, `Some(false)` if never, `None` if both may happen.
pub fn branch_taken(cond: Cond, width: Width, a: &Scalar, b: &Scalar) -> Option<bool> {
    let (x, y) = (view(a, width), view(b, width));
    let disjoint = || {
        if x.t.is_const() && y.t.is_const() {
            return Some(x.t.value != y.t.value);
        }
        if x.umin > y.umax || x.umax < y.umin || x.smin > y.smax || x.smax < y.smin {
            return Some(true);
        }
        if width == Width::W64
            && (a.u32_min > b.u32_max
                || a.u32_max < b.u32_min
                || a.s32_min > b.s32_max
                || a.s32_max < b.s32_min)
        {
            return Some(true);
        }
        None
    };
    match cond {
        Cond::Eq => disjoint().map(|d| !d),
        Cond::Ne => disjoint(),
        Cond::Set => {
            let (t1, t2) = if y.t.is_const() {
                (x.t, y.t)
            } else if x.t.is_const() {
                (y.t, x.t)
            } else {
                return None;
            };
            if t1.value & t2.value != 0 {
                Some(true)
            } else if (t1.mask | t1.value) & t2.value == 0 {
                Some(false)
            } else {
                None
            }
        }
        Cond::Gt => decide(x.umin > y.umax, x.umax <= y.umin),
        Cond::Ge => decide(x.umin >= y.umax, x.umax < y.umin),
        Cond::Lt => decide(x.umax < y.umin, x.umin >= y.umax),
        Cond::Le => decide(x.umax <= y.umin, x.umin > y.umax),
        Cond::Sgt => decide(x.smin > y.smax, x.smax <= y.smin),
        Cond::Sge => decide(x.smin >= y.smax, x.smax < y.smin),
        Cond::Slt => decide(x.smax < y.smin, x.smin >= y.smax),
        Cond::Sle => decide(x.smax <= y.smin, x.smin > y.smax),
    }
}

fn decide(always: bool, never: bool) -> Option<bool> {
    if always {
        Some(true)
    } else if never {
        Some(false)
    } else {
        None
    }
}

/// The condition that holds when `cond` does not (`rev_opcode`); `Set` has none expressible
/// as a [`Cond`], so its false side is handled by [`refine`] directly.
fn reverse(cond: Cond) -> Option<Cond> {
    Some(match cond {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Gt => Cond::Le,
        Cond::Ge => Cond::Lt,
        Cond::Lt => Cond::Ge,
        Cond::Le => Cond::Gt,
        Cond::Sgt => Cond::Sle,
        Cond::Sge => Cond::Slt,
        Cond::Slt => Cond::Sge,
        Cond::Sle => Cond::Sgt,
        Cond::Set => return None,
    })
}

/// The operands swapped (`flip_opcode`): `a > b` is `b < a`.
fn flip(cond: Cond) -> Cond {
    match cond {
        Cond::Gt => Cond::Lt,
        Cond::Ge => Cond::Le,
        Cond::Lt => Cond::Gt,
        Cond::Le => Cond::Ge,
        Cond::Sgt => Cond::Slt,
        Cond::Sge => Cond::Sle,
        Cond::Slt => Cond::Sgt,
        Cond::Sle => Cond::Sge,
        other => other,
    }
}

fn const_of(s: &Scalar, width: Width) -> Option<u64> {
    let t = view(s, width).t;
    t.is_const().then_some(t.value)
}

/// What `a` and `b` are known to be on the side of the jump where `cond` is `holds`; the
/// results are synced and may be empty ([`Scalar::is_empty`]) when that side is infeasible.
pub fn refine(cond: Cond, width: Width, a: Scalar, b: Scalar, holds: bool) -> (Scalar, Scalar) {
    let (mut a, mut b) = (a, b);
    match (holds, reverse(cond)) {
        (true, _) => refine_op(cond, width, &mut a, &mut b, false),
        (false, Some(rev)) => refine_op(rev, width, &mut a, &mut b, false),
        (false, None) => refine_op(Cond::Set, width, &mut a, &mut b, true),
    }
    (a.sync(), b.sync())
}

/// `regs_refine_cond_op`; `not_set` is the false side of `Set` (`BPF_JSET | BPF_X` there).
fn refine_op(cond: Cond, width: Width, a: &mut Scalar, b: &mut Scalar, not_set: bool) {
    let w32 = width == Width::W32;
    match cond {
        Cond::Gt | Cond::Ge | Cond::Sgt | Cond::Sge => refine_op(flip(cond), width, b, a, not_set),
        Cond::Eq if w32 => {
            a.u32_min = a.u32_min.max(b.u32_min);
            a.u32_max = a.u32_max.min(b.u32_max);
            a.s32_min = a.s32_min.max(b.s32_min);
            a.s32_max = a.s32_max.min(b.s32_max);
            (b.u32_min, b.u32_max, b.s32_min, b.s32_max) = (a.u32_min, a.u32_max, a.s32_min, a.s32_max);
            let t = a.var_off.subreg().intersect(b.var_off.subreg());
            a.var_off = a.var_off.with_subreg(t);
            b.var_off = b.var_off.with_subreg(t);
        }
        Cond::Eq => {
            a.umin = a.umin.max(b.umin);
            a.umax = a.umax.min(b.umax);
            a.smin = a.smin.max(b.smin);
            a.smax = a.smax.min(b.smax);
            (b.umin, b.umax, b.smin, b.smax) = (a.umin, a.umax, a.smin, a.smax);
            a.var_off = a.var_off.intersect(b.var_off);
            b.var_off = a.var_off;
        }
        Cond::Ne => {
            let (r, v) = match (const_of(b, width), const_of(a, width)) {
                (Some(v), _) => (a, v),
                (None, Some(v)) => (b, v),
                (None, None) => return,
            };
            if w32 {
                let (u, s) = (v as u32, v as u32 as i32);
                if r.u32_min == u {
                    r.u32_min = r.u32_min.wrapping_add(1);
                }
                if r.u32_max == u {
                    r.u32_max = r.u32_max.wrapping_sub(1);
                }
                if r.s32_min == s {
                    r.s32_min = r.s32_min.wrapping_add(1);
                }
                if r.s32_max == s {
                    r.s32_max = r.s32_max.wrapping_sub(1);
                }
            } else {
                if r.umin == v {
                    r.umin = r.umin.wrapping_add(1);
                }
                if r.umax == v {
                    r.umax = r.umax.wrapping_sub(1);
                }
                if r.smin == v as i64 {
                    r.smin = r.smin.wrapping_add(1);
                }
                if r.smax == v as i64 {
                    r.smax = r.smax.wrapping_sub(1);
                }
            }
        }
        Cond::Set => {
            let (r, v) = match (const_of(b, width), const_of(a, width)) {
                (Some(v), _) => (a, v),
                (None, Some(v)) => (b, v),
                (None, None) => return,
            };
            let t = if not_set {
                view(r, width).t.and(Tnum::constant(!v))
            } else if v.is_power_of_two() {
                view(r, width).t.or(Tnum::constant(v))
            } else {
                return;
            };
            r.var_off = if w32 { r.var_off.with_subreg(t) } else { t };
        }
        Cond::Le | Cond::Lt if w32 => {
            let strict = u32::from(cond == Cond::Lt);
            a.u32_max = a.u32_max.min(b.u32_max.wrapping_sub(strict));
            b.u32_min = b.u32_min.max(a.u32_min.wrapping_add(strict));
            if strict == 1 && (b.u32_max == 0 || a.u32_min == u32::MAX) {
                make_empty(a);
            }
        }
        Cond::Le | Cond::Lt => {
            let strict = u64::from(cond == Cond::Lt);
            a.umax = a.umax.min(b.umax.wrapping_sub(strict));
            b.umin = b.umin.max(a.umin.wrapping_add(strict));
            if strict == 1 && (b.umax == 0 || a.umin == u64::MAX) {
                make_empty(a);
            }
        }
        Cond::Sle | Cond::Slt if w32 => {
            let strict = i32::from(cond == Cond::Slt);
            a.s32_max = a.s32_max.min(b.s32_max.wrapping_sub(strict));
            b.s32_min = b.s32_min.max(a.s32_min.wrapping_add(strict));
            if strict == 1 && (b.s32_max == i32::MIN || a.s32_min == i32::MAX) {
                make_empty(a);
            }
        }
        Cond::Sle | Cond::Slt => {
            let strict = i64::from(cond == Cond::Slt);
            a.smax = a.smax.min(b.smax.wrapping_sub(strict));
            b.smin = b.smin.max(a.smin.wrapping_add(strict));
            if strict == 1 && (b.smax == i64::MIN || a.smin == i64::MAX) {
                make_empty(a);
            }
        }
    }
}

/// Marks an infeasible side (the kernel never refines there: `is_branch_taken` decided it).
fn make_empty(s: &mut Scalar) {
    s.umin = 1;
    s.umax = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::alu::cond_holds;
    use proptest::prelude::*;

    fn member() -> impl Strategy<Value = (Scalar, u64)> {
        let x =
            prop_oneof![any::<u64>(), 0u64..64, (0u64..64).prop_map(|v| v.wrapping_neg()), Just(1u64 << 31)];
        (x, 0u64..200, 0u64..200, any::<u64>(), 0u8..4).prop_map(|(x, d1, d2, m, shape)| {
            let mask = match shape {
                0 => 0,
                1 => m & 0x3f,
                2 => m & m.rotate_left(13),
                _ => u64::MAX,
            };
            let mut s = Scalar { var_off: Tnum { value: x & !mask, mask }, ..Scalar::UNKNOWN };
            if shape != 3 {
                s.umin = x.saturating_sub(d1);
                s.umax = x.saturating_add(d2);
            }
            (s.sync(), x)
        })
    }

    fn cond() -> impl Strategy<Value = Cond> {
        prop::sample::select(vec![
            Cond::Eq,
            Cond::Ne,
            Cond::Set,
            Cond::Gt,
            Cond::Ge,
            Cond::Lt,
            Cond::Le,
            Cond::Sgt,
            Cond::Sge,
            Cond::Slt,
            Cond::Sle,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// A decided branch matches every concrete pair; the side the concrete pair takes keeps
        /// both values after refinement.
        #[test]
        fn decisions_and_refinements_are_sound((a, x) in member(), (b, y) in member(), c in cond(), w64 in any::<bool>()) {
            let width = if w64 { Width::W64 } else { Width::W32 };
            let holds = cond_holds(width, c, x, y);
            if let Some(d) = branch_taken(c, width, &a, &b) {
                prop_assert_eq!(d, holds, "{:?} {:?}: {:#x} vs {:#x}", c, width, x, y);
            }
            let (ra, rb) = refine(c, width, a, b, holds);
            prop_assert!(ra.contains(x), "{c:?} {width:?} holds={holds}: {x:#x} lost from {ra:?}\na={a:?}\nb={b:?} y={y:#x}");
            prop_assert!(rb.contains(y), "{c:?} {width:?} holds={holds}: {y:#x} lost from {rb:?}");
        }
    }

    #[test]
    fn comparisons_narrow_ranges() {
        let x = Scalar::urange(0, 1000);
        let (t, _) = refine(Cond::Lt, Width::W64, x, Scalar::constant(10), true);
        assert_eq!((t.umin, t.umax), (0, 9));
        let (f, _) = refine(Cond::Lt, Width::W64, x, Scalar::constant(10), false);
        assert_eq!((f.umin, f.umax), (10, 1000));
        let (g, _) = refine(Cond::Gt, Width::W64, x, Scalar::constant(10), true);
        assert_eq!((g.umin, g.umax), (11, 1000));
        assert_eq!(branch_taken(Cond::Gt, Width::W64, &x, &Scalar::constant(1000)), Some(false));
        assert_eq!(branch_taken(Cond::Le, Width::W64, &x, &Scalar::constant(1000)), Some(true));
        assert_eq!(branch_taken(Cond::Eq, Width::W64, &x, &Scalar::constant(5)), None);
        let (e, _) = refine(Cond::Eq, Width::W64, x, Scalar::constant(5), true);
        assert_eq!(e.as_const(), Some(5));
        // x != 0 with x in [0, 1000] gives [1, 1000].
        let (n, _) = refine(Cond::Ne, Width::W64, x, Scalar::constant(0), true);
        assert_eq!((n.umin, n.umax), (1, 1000));
        // x & 4 set gives bit 2 known.
        let (s, _) = refine(Cond::Set, Width::W64, Scalar::urange(0, 7), Scalar::constant(4), true);
        assert_eq!(s.var_off, Tnum { value: 4, mask: 3 });
    }
}
