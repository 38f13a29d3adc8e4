//! Scalar values as the kernel's verifier tracks them (`struct bpf_reg_state` for a
//! `SCALAR_VALUE`): a [`Tnum`] plus signed and unsigned 64- and 32-bit ranges, kept consistent
//! by [`Scalar::sync`] (the kernel's `reg_bounds_sync`), and the ALU transfer functions of
//! `adjust_scalar_min_max_vals`.
//!
//! The arithmetic follows the kernel closely; where the kernel has grown extra precision
//! (e.g. ranges surviving wrap-around of both bounds) this model may be less precise, never
//! less sound: every transfer function is checked against concrete execution.

use bpf_patch::op::{AluOp, Width};

use super::tnum::Tnum;

/// The abstract value of a scalar register.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Scalar {
    /// Known and unknown bits.
    pub var_off: Tnum,
    /// Signed 64-bit range.
    pub smin: i64,
    /// Signed 64-bit range.
    pub smax: i64,
    /// Unsigned 64-bit range.
    pub umin: u64,
    /// Unsigned 64-bit range.
    pub umax: u64,
    /// Signed range of the low 32 bits.
    pub s32_min: i32,
    /// Signed range of the low 32 bits.
    pub s32_max: i32,
    /// Unsigned range of the low 32 bits.
    pub u32_min: u32,
    /// Unsigned range of the low 32 bits.
    pub u32_max: u32,
}

impl Scalar {
    /// Nothing known.
    pub const UNKNOWN: Scalar = Scalar {
        var_off: Tnum::UNKNOWN,
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32_min: i32::MIN,
        s32_max: i32::MAX,
        u32_min: 0,
        u32_max: u32::MAX,
    };

    /// A known constant.
    pub const fn constant(v: u64) -> Scalar {
        Scalar {
            var_off: Tnum::constant(v),
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            s32_min: v as u32 as i32,
            s32_max: v as u32 as i32,
            u32_min: v as u32,
            u32_max: v as u32,
        }
    }

    /// The value of a constant scalar.
    pub const fn as_const(&self) -> Option<u64> {
        if self.var_off.is_const() {
            Some(self.var_off.value)
        } else {
            None
        }
    }

    /// Whether the low 32 bits are a known constant.
    pub const fn is_const32(&self) -> bool {
        self.var_off.subreg().is_const()
    }

    /// Whether `v` is a value this scalar allows.
    pub fn contains(&self, v: u64) -> bool {
        let (v32, s) = (v as u32, v as i64);
        self.var_off.contains(v)
            && (self.smin..=self.smax).contains(&s)
            && (self.umin..=self.umax).contains(&v)
            && (self.s32_min..=self.s32_max).contains(&(v32 as i32))
            && (self.u32_min..=self.u32_max).contains(&v32)
    }

    /// Whether every value of `other` is one of `self` (the kernel's `range_within` plus
    /// `tnum_in`, used for state pruning).
    pub fn includes(&self, other: &Scalar) -> bool {
        self.smin <= other.smin
            && other.smax <= self.smax
            && self.umin <= other.umin
            && other.umax <= self.umax
            && self.s32_min <= other.s32_min
            && other.s32_max <= self.s32_max
            && self.u32_min <= other.u32_min
            && other.u32_max <= self.u32_max
            && self.var_off.includes(other.var_off)
    }

    /// Whether the bounds contradict each other (an infeasible branch).
    pub fn is_empty(&self) -> bool {
        self.smin > self.smax
            || self.umin > self.umax
            || self.s32_min > self.s32_max
            || self.u32_min > self.u32_max
            || !self.var_off.contains(self.var_off.value)
    }

    fn update_bounds(&mut self) {
        let t = self.var_off;
        let t32 = t.subreg();
        self.s32_min = self.s32_min.max((t32.value | (t32.mask & 0x8000_0000)) as u32 as i32);
        self.s32_max = self.s32_max.min((t32.value | (t32.mask & 0x7fff_ffff)) as u32 as i32);
        self.u32_min = self.u32_min.max(t32.value as u32);
        self.u32_max = self.u32_max.min((t32.value | t32.mask) as u32);
        self.smin = self.smin.max(t.smin());
        self.smax = self.smax.min(t.smax());
        self.umin = self.umin.max(t.umin());
        self.umax = self.umax.min(t.umax());
    }

    fn deduce32(&mut self) {
        if self.umin >> 32 == self.umax >> 32 {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32_min = self.s32_min.max(self.umin as i32);
                self.s32_max = self.s32_max.min(self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            self.u32_min = self.u32_min.max(self.smin as u32);
            self.u32_max = self.u32_max.min(self.smax as u32);
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32_min = self.s32_min.max(self.smin as i32);
                self.s32_max = self.s32_max.min(self.smax as i32);
            }
        }
        if (self.u32_min as i32) <= (self.u32_max as i32) {
            self.s32_min = self.s32_min.max(self.u32_min as i32);
            self.s32_max = self.s32_max.min(self.u32_max as i32);
        }
        if (self.s32_min as u32) <= (self.s32_max as u32) {
            self.u32_min = self.u32_min.max(self.s32_min as u32);
            self.u32_max = self.u32_max.min(self.s32_max as u32);
        }
    }

    fn deduce64(&mut self) {
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        } else if self.umax < self.smin as u64 {
            // The signed range crosses the sign boundary; the unsigned one sits in its upper part.
            self.smin = self.umin as i64;
            self.umax = self.umax.min(self.smax as u64);
        } else if (self.smax as u64) < self.umin {
            self.smax = self.umax as i64;
            self.umin = self.umin.max(self.smin as u64);
        }
    }

    fn deduce_mixed(&mut self) {
        const HIGH: u64 = !0xffff_ffff;
        let new_umin = (self.umin & HIGH) | u64::from(self.u32_min);
        let new_umax = (self.umax & HIGH) | u64::from(self.u32_max);
        self.umin = self.umin.max(new_umin);
        self.umax = self.umax.min(new_umax);
        let new_smin = ((self.smin as u64 & HIGH) | u64::from(self.u32_min)) as i64;
        let new_smax = ((self.smax as u64 & HIGH) | u64::from(self.u32_max)) as i64;
        self.smin = self.smin.max(new_smin);
        self.smax = self.smax.min(new_smax);
        if self.s32_min >= 0 && self.smin >= i64::from(i32::MIN) && self.smax <= i64::from(i32::MAX) {
            self.smin = i64::from(self.s32_min);
            self.smax = i64::from(self.s32_max);
            self.umin = self.s32_min as u64;
            self.umax = self.s32_max as u64;
            self.var_off = self.var_off.intersect(Tnum::range(self.smin as u64, self.smax as u64));
        }
    }

    fn bound_offset(&mut self) {
        let v64 = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        let v32 = v64.subreg().intersect(Tnum::range(u64::from(self.u32_min), u64::from(self.u32_max)));
        self.var_off = v64.clear_subreg().or(v32);
    }

    /// Makes the tnum and the six ranges agree (`reg_bounds_sync`). Returns `self` for
    /// chaining. An infeasible combination stays infeasible ([`Scalar::is_empty`]).
    pub fn sync(mut self) -> Scalar {
        self.update_bounds();
        self.deduce32();
        self.deduce64();
        self.deduce_mixed();
        self.deduce32();
        self.deduce64();
        self.deduce_mixed();
        self.bound_offset();
        self.update_bounds();
        self
    }

    /// From a tnum only (ranges derived from it).
    pub fn from_tnum(t: Tnum) -> Scalar {
        Scalar { var_off: t, ..Scalar::UNKNOWN }.sync()
    }

    /// An unsigned 64-bit range.
    pub fn urange(min: u64, max: u64) -> Scalar {
        Scalar { umin: min, umax: max, var_off: Tnum::range(min, max), ..Scalar::UNKNOWN }.sync()
    }

    /// The value zero-extended from its low 32 bits (the result of every 32-bit ALU op).
    pub fn zext32(self) -> Scalar {
        let t = self.var_off.subreg();
        Scalar {
            var_off: t,
            smin: i64::from(self.u32_min),
            smax: i64::from(self.u32_max),
            umin: u64::from(self.u32_min),
            umax: u64::from(self.u32_max),
            ..self
        }
        .sync()
    }

    /// The 64-bit ranges recomputed from scratch for a value whose low 32 bits are `self`'s
    /// 32-bit view only (used before a 32-bit operation).
    fn low32(self) -> Scalar {
        Scalar {
            var_off: self.var_off.subreg(),
            smin: i64::from(self.u32_min),
            smax: i64::from(self.u32_max),
            umin: u64::from(self.u32_min),
            umax: u64::from(self.u32_max),
            s32_min: self.s32_min,
            s32_max: self.s32_max,
            u32_min: self.u32_min,
            u32_max: self.u32_max,
        }
    }

    /// `self OP src` at `width`, as `adjust_scalar_min_max_vals` computes it. Division, modulo,
    /// byte swaps and shifts by unknown amounts give an unknown value unless both operands are
    /// constants (then the exact result).
    pub fn alu(self, op: AluOp, width: Width, src: Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), src.as_const()) {
            return Scalar::constant(crate::interp::alu::alu(width, op, a, b));
        }
        match width {
            Width::W64 => self.alu64(op, src).sync(),
            Width::W32 => {
                let (a, b) = (self.low32(), src.low32());
                let low = |t: Tnum| Scalar::from_tnum(t.subreg());
                let shift = b.shift_amount(32);
                match (op, shift) {
                    (AluOp::Mov, _) => b.zext32(),
                    // The 64-bit algorithms on zero-extended operands, then truncation: sound for
                    // the low 32 bits because each of them depends only on lower bits.
                    (AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor, _) => {
                        low(a.alu64(op, b).sync().var_off)
                    }
                    (AluOp::Lsh, Some(s)) => low(a.var_off.lshift(s)),
                    (AluOp::Rsh, Some(s)) => low(a.var_off.rshift(s)),
                    (AluOp::Arsh, Some(s)) => low(a.var_off.arshift(s, 32)),
                    _ => Scalar::urange(0, u64::from(u32::MAX)),
                }
            }
        }
    }

    /// `-self` at `width` (`BPF_NEG`).
    pub fn neg(self, width: Width) -> Scalar {
        Scalar::constant(0).alu(AluOp::Sub, width, self)
    }

    /// A constant shift amount below `bits`.
    fn shift_amount(&self, bits: u32) -> Option<u32> {
        self.as_const().filter(|&s| s < u64::from(bits)).map(|s| s as u32)
    }

    fn alu64(self, op: AluOp, src: Scalar) -> Scalar {
        let mut r = Scalar::UNKNOWN;
        match op {
            AluOp::Mov => return src,
            AluOp::Add => {
                r.var_off = self.var_off.add(src.var_off);
                if let (Some(lo), Some(hi)) =
                    (self.smin.checked_add(src.smin), self.smax.checked_add(src.smax))
                {
                    (r.smin, r.smax) = (lo, hi);
                }
                if let (Some(lo), Some(hi)) =
                    (self.umin.checked_add(src.umin), self.umax.checked_add(src.umax))
                {
                    (r.umin, r.umax) = (lo, hi);
                }
            }
            AluOp::Sub => {
                r.var_off = self.var_off.sub(src.var_off);
                if let (Some(lo), Some(hi)) =
                    (self.smin.checked_sub(src.smax), self.smax.checked_sub(src.smin))
                {
                    (r.smin, r.smax) = (lo, hi);
                }
                if self.umin >= src.umax {
                    (r.umin, r.umax) = (self.umin - src.umax, self.umax - src.umin);
                }
            }
            AluOp::Mul => {
                r.var_off = self.var_off.mul(src.var_off);
                if let Some(hi) = self.umax.checked_mul(src.umax) {
                    (r.umin, r.umax) = (self.umin * src.umin, hi);
                }
                let products = [
                    self.smin.checked_mul(src.smin),
                    self.smin.checked_mul(src.smax),
                    self.smax.checked_mul(src.smin),
                    self.smax.checked_mul(src.smax),
                ];
                if let [Some(a), Some(b), Some(c), Some(d)] = products {
                    r.smin = a.min(b).min(c).min(d);
                    r.smax = a.max(b).max(c).max(d);
                }
            }
            AluOp::And => {
                r.var_off = self.var_off.and(src.var_off);
                r.umin = r.var_off.value;
                r.umax = self.umax.min(src.umax);
                if self.smin >= 0 && src.smin >= 0 {
                    (r.smin, r.smax) = (r.umin as i64, r.umax as i64);
                }
            }
            AluOp::Or => {
                r.var_off = self.var_off.or(src.var_off);
                r.umin = self.umin.max(src.umin);
                r.umax = r.var_off.umax();
                if self.smin >= 0 && src.smin >= 0 {
                    (r.smin, r.smax) = (r.umin as i64, r.umax as i64);
                }
            }
            AluOp::Xor => {
                r.var_off = self.var_off.xor(src.var_off);
                r.umin = r.var_off.umin();
                r.umax = r.var_off.umax();
                if self.smin >= 0 && src.smin >= 0 {
                    (r.smin, r.smax) = (r.umin as i64, r.umax as i64);
                }
            }
            AluOp::Lsh => {
                let Some(s) = src.shift_amount(64) else { return Scalar::UNKNOWN };
                r.var_off = self.var_off.lshift(s);
                if s == 0 || self.umax >> (64 - s) == 0 {
                    (r.umin, r.umax) = (self.umin << s, self.umax << s);
                }
            }
            AluOp::Rsh => {
                let Some(s) = src.shift_amount(64) else { return Scalar::UNKNOWN };
                r.var_off = self.var_off.rshift(s);
                (r.umin, r.umax) = (self.umin >> s, self.umax >> s);
            }
            AluOp::Arsh => {
                let Some(s) = src.shift_amount(64) else { return Scalar::UNKNOWN };
                r.var_off = self.var_off.arshift(s, 64);
                (r.smin, r.smax) = (self.smin >> s, self.smax >> s);
            }
            AluOp::Movsx(bits) => {
                // `dst = (s64)(sN)src`: exact for constants (handled above), `src` itself when
                // it is known non-negative in N bits, otherwise the range of the type.
                let half = 1u64 << (u32::from(bits).clamp(1, 64) - 1);
                if src.umax < half {
                    return src;
                }
                r.smin = -(half as i64);
                r.smax = half as i64 - 1;
            }
            AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod => {}
        }
        r
    }
}

impl std::fmt::Display for Scalar {
    /// Like the kernel's log: the constant, or the ranges that say something.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(v) = self.as_const() {
            return write!(f, "{}", v as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != 0 {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != u64::MAX {
            parts.push(format!("umax={}", self.umax));
        }
        if self.var_off != Tnum::UNKNOWN {
            parts.push(format!("var_off={}", self.var_off));
        }
        write!(f, "scalar({})", parts.join(","))
    }
}

#[cfg(test)]
mod tests;
