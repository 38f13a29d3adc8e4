//! Tristate numbers, the kernel's `struct tnum` (`kernel/bpf/tnum.c`): a 64-bit value whose
//! bits are each known 0, known 1 or unknown. `value` holds the known 1 bits, `mask` the unknown
//! ones (`value & mask == 0`). The operations are the kernel's, bit for bit, so that ranges
//! printed in our logs match the kernel's.

use std::fmt;

/// A tristate number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tnum {
    /// Bits known to be 1.
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Every bit unknown.
    pub const UNKNOWN: Tnum = Tnum { value: 0, mask: u64::MAX };

    /// A known constant.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum holding every value of `min ..= max` (unsigned).
    pub const fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum { value: min & !delta, mask: delta }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `v` is one of the values this tnum stands for.
    pub const fn contains(self, v: u64) -> bool {
        v & !self.mask == self.value
    }

    /// Whether every value of `b` is a value of `self`.
    pub const fn includes(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        self.value == b.value & !self.mask
    }

    /// The smallest value (unsigned).
    pub const fn umin(self) -> u64 {
        self.value
    }

    /// The largest value (unsigned).
    pub const fn umax(self) -> u64 {
        self.value | self.mask
    }

    /// The smallest value as signed: the sign bit set if it may be.
    pub const fn smin(self) -> i64 {
        (self.value | (self.mask & (1 << 63))) as i64
    }

    /// The largest value as signed.
    pub const fn smax(self) -> i64 {
        (self.value | (self.mask & !(1 << 63))) as i64
    }

    /// `self << shift`.
    pub const fn lshift(self, shift: u32) -> Tnum {
        Tnum { value: self.value.wrapping_shl(shift), mask: self.mask.wrapping_shl(shift) }
    }

    /// `self >> shift` (logical).
    pub const fn rshift(self, shift: u32) -> Tnum {
        Tnum { value: self.value.wrapping_shr(shift), mask: self.mask.wrapping_shr(shift) }
    }

    /// Arithmetic shift right of a 64- or 32-bit operand (`bits`), as `tnum_arshift`.
    pub const fn arshift(self, shift: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum {
                value: ((self.value as u32 as i32).wrapping_shr(shift)) as u32 as u64,
                mask: ((self.mask as u32 as i32).wrapping_shr(shift)) as u32 as u64,
            }
        } else {
            Tnum {
                value: (self.value as i64).wrapping_shr(shift) as u64,
                mask: (self.mask as i64).wrapping_shr(shift) as u64,
            }
        }
    }

    /// `self + b`.
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum { value: sv & !mu, mask: mu }
    }

    /// `self - b`.
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum { value: dv & !mu, mask: mu }
    }

    /// `-self`.
    pub const fn neg(self) -> Tnum {
        Tnum::constant(0).sub(self)
    }

    /// `self & b`.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum { value: v, mask: alpha & beta & !v }
    }

    /// `self | b`.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v, mask: mu & !v }
    }

    /// `self ^ b`.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// `self * b` (the kernel's shift-and-add `tnum_mul`).
    pub const fn mul(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        let (mut a, mut b) = (self, b);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum { value: 0, mask: b.mask });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum { value: 0, mask: b.value | b.mask });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// The values both tnums allow (`tnum_intersect`); meaningful when they overlap.
    pub const fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// The smallest tnum holding both (used when joining states).
    pub const fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum { value: self.value & !mu, mask: mu }
    }

    /// Truncated to `size` bytes (`tnum_cast`).
    pub const fn cast(self, size: u32) -> Tnum {
        let m = if size >= 8 { u64::MAX } else { (1u64 << (size * 8)) - 1 };
        Tnum { value: self.value & m, mask: self.mask & m }
    }

    /// The low 32 bits (`tnum_subreg`).
    pub const fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits, low ones cleared (`tnum_clear_subreg`).
    pub const fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `sub` (`tnum_with_subreg`).
    pub const fn with_subreg(self, sub: Tnum) -> Tnum {
        self.clear_subreg().or(sub.subreg())
    }

    /// Whether the value is a multiple of `size` for sure (`tnum_is_aligned`).
    pub const fn is_aligned(self, size: u64) -> bool {
        if size == 0 {
            return true;
        }
        (self.value | self.mask) & (size - 1) == 0
    }
}

impl fmt::Display for Tnum {
    /// The kernel's `tnum_strn` form: `(0x..; 0x..)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tnum and a member of it.
    fn member() -> impl Strategy<Value = (Tnum, u64)> {
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(v, m, pick)| {
            // Sparse masks are the interesting ones: keep about a quarter of the bits unknown.
            let mask = m & m.rotate_left(17);
            let t = Tnum { value: v & !mask, mask };
            (t, t.value | (pick & mask))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Every operation is sound: the concrete result of members is a member of the result.
        #[test]
        fn operations_contain_every_concrete_result((a, x) in member(), (b, y) in member(), s in 0u32..64) {
            prop_assert!(a.contains(x) && b.contains(y));
            prop_assert!(a.add(b).contains(x.wrapping_add(y)));
            prop_assert!(a.sub(b).contains(x.wrapping_sub(y)));
            prop_assert!(a.mul(b).contains(x.wrapping_mul(y)));
            prop_assert!(a.and(b).contains(x & y));
            prop_assert!(a.or(b).contains(x | y));
            prop_assert!(a.xor(b).contains(x ^ y));
            prop_assert!(a.neg().contains(x.wrapping_neg()));
            prop_assert!(a.lshift(s).contains(x << s));
            prop_assert!(a.rshift(s).contains(x >> s));
            prop_assert!(a.arshift(s, 64).contains(((x as i64) >> s) as u64));
            let s32 = s % 32;
            prop_assert!(a.subreg().arshift(s32, 32).contains(((x as u32 as i32) >> s32) as u32 as u64));
            prop_assert!(a.cast(2).contains(x & 0xffff));
            prop_assert!(a.union(b).contains(x) && a.union(b).contains(y));
            prop_assert!(a.with_subreg(b).contains((x & !0xffff_ffff) | (y & 0xffff_ffff)));
            prop_assert!(a.umin() <= x && x <= a.umax());
            prop_assert!(a.smin() <= x as i64 && x as i64 <= a.smax());
            prop_assert!(a.union(b).includes(a));
        }

        #[test]
        fn ranges_contain_their_interval(lo in any::<u64>(), len in 0u64..100_000, probe in 0u64..100_000) {
            let hi = lo.saturating_add(len);
            let t = Tnum::range(lo, hi);
            let v = lo.saturating_add(probe.min(hi - lo));
            prop_assert!(t.contains(v));
        }

        #[test]
        fn intersecting_members_keeps_the_member((a, x) in member(), m in any::<u64>()) {
            // b: another tnum containing x.
            let mask = m & m.rotate_left(7);
            let b = Tnum { value: x & !mask, mask };
            prop_assert!(a.intersect(b).contains(x));
        }
    }

    #[test]
    fn known_values_from_the_kernel_tests() {
        // tnum_range(0, 7) is (0; 0x7); (8, 15) is (0x8; 0x7); a full range is unknown.
        assert_eq!(Tnum::range(0, 7), Tnum { value: 0, mask: 7 });
        assert_eq!(Tnum::range(8, 15), Tnum { value: 8, mask: 7 });
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        // Constants stay constant and exact.
        assert_eq!(Tnum::constant(6).mul(Tnum::constant(7)), Tnum::constant(42));
        assert_eq!(Tnum::constant(5).sub(Tnum::constant(7)), Tnum::constant(u64::MAX - 1));
        // x & 0xff of an unknown x is (0; 0xff).
        assert_eq!(Tnum::UNKNOWN.and(Tnum::constant(0xff)), Tnum { value: 0, mask: 0xff });
        assert!(Tnum { value: 0, mask: 0xf0 }.is_aligned(16));
        assert!(!Tnum { value: 0, mask: 0xf8 }.is_aligned(16));
        assert_eq!(Tnum { value: 0x10, mask: 0x3 }.to_string(), "(0x10; 0x3)");
    }
}
