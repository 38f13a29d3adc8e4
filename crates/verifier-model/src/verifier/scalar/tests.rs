//! Soundness of the scalar domain against concrete execution: for random abstract values with
//! a member each, every transfer function's result contains the concrete result, and
//! [`Scalar::sync`] never drops a member.

use bpf_patch::op::{AluOp, Width};
use proptest::prelude::*;

use super::*;
use crate::interp::alu;

/// An abstract scalar and one of its members: a tnum around `x`, then random unsigned and
/// signed bounds around `x`, synced.
fn member() -> impl Strategy<Value = (Scalar, u64)> {
    let x =
        prop_oneof![any::<u64>(), 0u64..300, (0u64..300).prop_map(|v| v.wrapping_neg()), Just(0x8000_0000)];
    (x, any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), 0u8..6).prop_map(
        |(x, m, d1, d2, d3, d4, shape)| {
            let mask = match shape {
                0 => 0,
                1 => m & 0xff,
                2 => m & m.rotate_left(11),
                3 => u64::MAX,
                4 => m & 0xffff_ffff,
                _ => m,
            };
            let t = Tnum { value: x & !mask, mask };
            let small = |d: u64| d % 1000;
            let mut s = Scalar { var_off: t, ..Scalar::UNKNOWN };
            if shape % 2 == 0 {
                s.umin = x.saturating_sub(small(d1));
                s.umax = x.saturating_add(small(d2));
            }
            if shape % 3 == 0 {
                s.smin = (x as i64).saturating_sub(small(d3) as i64);
                s.smax = (x as i64).saturating_add(small(d4) as i64);
            }
            (s.sync(), x)
        },
    )
}

fn op() -> impl Strategy<Value = AluOp> {
    prop_oneof![
        Just(AluOp::Add),
        Just(AluOp::Sub),
        Just(AluOp::Mul),
        Just(AluOp::Div),
        Just(AluOp::Sdiv),
        Just(AluOp::Mod),
        Just(AluOp::Smod),
        Just(AluOp::Or),
        Just(AluOp::And),
        Just(AluOp::Xor),
        Just(AluOp::Lsh),
        Just(AluOp::Rsh),
        Just(AluOp::Arsh),
        Just(AluOp::Mov),
        Just(AluOp::Movsx(8)),
        Just(AluOp::Movsx(16)),
        Just(AluOp::Movsx(32)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn sync_keeps_every_member((a, x) in member()) {
        prop_assert!(a.contains(x), "{a:?} lost {x:#x}");
        prop_assert!(!a.is_empty());
    }

    #[test]
    fn alu_results_contain_the_concrete_result(
        (a, x) in member(),
        (b, y) in member(),
        op in op(),
        w64 in any::<bool>(),
    ) {
        let width = if w64 { Width::W64 } else { Width::W32 };
        if matches!(op, AluOp::Movsx(32)) && !w64 {
            return Ok(());
        }
        let r = a.alu(op, width, b);
        let v = alu::alu(width, op, x, y);
        prop_assert!(r.contains(v), "{x:#x} {op:?} {y:#x} ({width:?}) = {v:#x}, not in {r:?}\na={a:?}\nb={b:?}");
        let n = a.neg(width);
        let nv = alu::neg(width, x);
        prop_assert!(n.contains(nv));
    }
}

#[test]
fn constants_and_ranges() {
    let c = Scalar::constant(5);
    assert_eq!(c.as_const(), Some(5));
    assert_eq!(c.alu(AluOp::Add, Width::W64, Scalar::constant(7)).as_const(), Some(12));
    // [0, 255] & 0xf is [0, 15]; + 16 is [16, 31].
    let byte = Scalar::urange(0, 255);
    let low = byte.alu(AluOp::And, Width::W64, Scalar::constant(0xf));
    assert_eq!((low.umin, low.umax), (0, 15));
    let shifted = low.alu(AluOp::Add, Width::W64, Scalar::constant(16));
    assert_eq!((shifted.umin, shifted.umax, shifted.smin, shifted.smax), (16, 31, 16, 31));
    // A 32-bit op zero-extends: w0 = -1 gives 0xffffffff.
    let w = Scalar::UNKNOWN.alu(AluOp::Mov, Width::W32, Scalar::constant(u64::MAX));
    assert_eq!(w.as_const(), Some(0xffff_ffff));
    // Unknown 32-bit results are at most u32::MAX.
    let d = Scalar::UNKNOWN.alu(AluOp::Div, Width::W32, Scalar::UNKNOWN);
    assert_eq!((d.umin, d.umax, d.smin), (0, u64::from(u32::MAX), 0));
    assert_eq!(Scalar::urange(3, 9).to_string(), "scalar(smin=3,smax=9,umin=3,umax=9,var_off=(0x0; 0xf))");
}
