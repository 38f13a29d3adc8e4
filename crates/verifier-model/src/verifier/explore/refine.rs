//! What a comparison teaches the registers that share an id: a NULL check
//! (`mark_ptr_or_null_regs`) and a packet bounds check (`find_good_pkt_pointers`).

use bpf_patch::op::{Cond, Reg as R, Width};

use super::{rn, unsupported, Explorer, Step};
use crate::verifier::branch::{branch_taken, refine};
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Ptr, PtrKind, Reg, State};

impl Explorer<'_> {
    /// A conditional jump: scalars split or decide; a maybe-NULL pointer against 0 splits into
    /// its NULL and non-NULL sides; a packet pointer against `data_end` learns its range.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jump(
        &mut self,
        pc: usize,
        st: State,
        fall: usize,
        taken: usize,
        width: Width,
        cond: Cond,
        (dst, a): (R, Reg),
        (src, b): (Option<R>, Reg),
    ) -> Step {
        match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                let decided = branch_taken(cond, width, &x, &y);
                let mut out = Vec::new();
                for (holds, next) in [(false, fall), (true, taken)] {
                    if decided.is_some_and(|d| d != holds) {
                        continue;
                    }
                    let (rx, ry) = refine(cond, width, x, y, holds);
                    if rx.is_empty() || ry.is_empty() {
                        continue;
                    }
                    let mut s = st.clone();
                    s.cur_mut().regs[rn(dst)] = Reg::Scalar(rx);
                    if let Some(r) = src {
                        s.cur_mut().regs[rn(r)] = Reg::Scalar(ry);
                    }
                    out.push((next, s));
                }
                Ok(out)
            }
            (Reg::Ptr(p), Reg::Scalar(z)) | (Reg::Scalar(z), Reg::Ptr(p))
                if z.as_const() == Some(0) && matches!(cond, Cond::Eq | Cond::Ne) && width == Width::W64 =>
            {
                let (eq_next, ne_next) = if cond == Cond::Eq { (taken, fall) } else { (fall, taken) };
                if matches!(p.kind, PtrKind::BtfId { trusted: false, .. }) {
                    // An untrusted kernel pointer may be NULL: both ways, nothing learnt.
                    let mut out = vec![(eq_next, st.clone()), (ne_next, st)];
                    out.sort_by_key(|(n, _)| usize::from(*n != fall));
                    return Ok(out);
                }
                if !p.maybe_null {
                    // A non-NULL pointer is never 0.
                    return Ok(vec![(ne_next, st)]);
                }
                let mut is_null = st.clone();
                let mut not_null = st;
                mark_null(&mut is_null, p.id, true);
                mark_null(&mut not_null, p.id, false);
                let mut out = vec![(eq_next, is_null), (ne_next, not_null)];
                out.sort_by_key(|(n, _)| usize::from(*n != fall));
                Ok(out)
            }
            (Reg::Ptr(x), Reg::Ptr(y)) if width == Width::W64 => {
                let mut t = st.clone();
                let mut f = st;
                let pkt = |p: &Ptr| matches!(p.kind, PtrKind::Packet);
                let end = |p: &Ptr| matches!(p.kind, PtrKind::PacketEnd);
                // try_match_pkt_pointers: `pkt' ? pkt_end` and `pkt_meta' ? pkt` (the
                // unmodified data pointer bounds the metadata).
                let bounded = |a: &Ptr, b: &Ptr| {
                    (pkt(a) && end(b))
                        || (a.kind == PtrKind::PacketMeta
                            && pkt(b)
                            && b.off == 0
                            && b.var.as_const() == Some(0))
                };
                // (state that learns, pointer) per kernel's find_good_pkt_pointers.
                match cond {
                    Cond::Gt | Cond::Ge if bounded(&x, &y) => good_pkt(&mut f, &x),
                    Cond::Gt | Cond::Ge if bounded(&y, &x) => good_pkt(&mut t, &y),
                    Cond::Lt | Cond::Le if bounded(&x, &y) => good_pkt(&mut t, &x),
                    Cond::Lt | Cond::Le if bounded(&y, &x) => good_pkt(&mut f, &y),
                    _ if x.kind == y.kind || pkt(&x) || end(&x) => {}
                    // Privileged: any two pointers compare; with neither possibly NULL the
                    // kernel learns nothing (a slice compared with its bounce buffer).
                    _ if !x.maybe_null && !y.maybe_null => {}
                    _ => return unsupported(pc, "comparison of unrelated pointers"),
                }
                Ok(vec![(fall, f), (taken, t)])
            }
            _ => unsupported(pc, "comparison of a pointer with a scalar"),
        }
    }
}

/// After a NULL check: registers sharing `id` become 0 (`null`) or lose `maybe_null`; on the
/// NULL side a reference acquired with that id is gone (nothing was acquired).
fn mark_null(st: &mut State, id: u32, null: bool) {
    if null {
        st.refs.retain(|(r, _)| *r != id);
    }
    st.for_each_reg_mut(|r| {
        if let Reg::Ptr(p) = r {
            if p.maybe_null && p.id == id {
                if null {
                    *r = Reg::Scalar(Scalar::constant(0));
                } else {
                    p.maybe_null = false;
                }
            }
        }
    });
}

/// `find_good_pkt_pointers`: packet pointers sharing `p`'s id may access `p.off` bytes.
fn good_pkt(st: &mut State, p: &Ptr) {
    if p.off <= 0 || p.var.umax > 0xffff {
        return;
    }
    let range = p.off as u32;
    st.for_each_reg_mut(|r| {
        if let Reg::Ptr(q) = r {
            if q.kind == p.kind && q.id == p.id {
                q.range = q.range.max(range);
            }
        }
    });
}
