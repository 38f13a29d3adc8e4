//! Pure ALU, byte-swap and jump-condition semantics with the kernel's rules: division by zero
//! yields 0, modulo by zero keeps the dividend, 32-bit results are zero-extended, shift amounts
//! are masked to the operand width, `INT_MIN s/ -1` wraps. No memory and no control flow here.

use bpf_patch::op::{AluOp, Cond, Swap, Width};

/// `dst op src` at `width`; the result is zero-extended for 32-bit operations.
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => u64::from(alu32(op, dst as u32, src as u32)),
    }
}

/// One ALU body per width: `$u`/`$i` the unsigned and signed types, `$mask` the shift mask;
/// division by zero gives 0 and modulo by zero keeps `dst`, as the ISA defines.
macro_rules! alu_width {
    ($name:ident, $u:ty, $i:ty, $mask:expr) => {
        fn $name(op: AluOp, dst: $u, src: $u) -> $u {
            match op {
                AluOp::Add => dst.wrapping_add(src),
                AluOp::Sub => dst.wrapping_sub(src),
                AluOp::Mul => dst.wrapping_mul(src),
                AluOp::Div => dst.checked_div(src).unwrap_or(0),
                AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
                AluOp::Sdiv if src == 0 => 0,
                AluOp::Sdiv => (dst as $i).wrapping_div(src as $i) as $u,
                AluOp::Smod if src == 0 => dst,
                AluOp::Smod => (dst as $i).wrapping_rem(src as $i) as $u,
                AluOp::Or => dst | src,
                AluOp::And => dst & src,
                AluOp::Xor => dst ^ src,
                AluOp::Lsh => dst << (src & $mask),
                AluOp::Rsh => dst >> (src & $mask),
                AluOp::Arsh => ((dst as $i) >> (src & $mask)) as $u,
                AluOp::Mov => src,
                AluOp::Movsx(bits) => sign_extend(u64::from(src), bits) as $u,
            }
        }
    };
}

alu_width!(alu64, u64, i64, 63);
alu_width!(alu32, u32, i32, 31);

/// Sign-extends the low `bits` (8, 16, 32 or 64) of `v` to 64 bits.
pub fn sign_extend(v: u64, bits: u8) -> u64 {
    match bits {
        8 => v as u8 as i8 as i64 as u64,
        16 => v as u16 as i16 as i64 as u64,
        32 => v as u32 as i32 as i64 as u64,
        _ => v,
    }
}

/// `-dst` at `width` (zero-extended for 32 bits).
pub fn neg(width: Width, dst: u64) -> u64 {
    match width {
        Width::W64 => dst.wrapping_neg(),
        Width::W32 => u64::from((dst as u32).wrapping_neg()),
    }
}

/// Byte swap on a little-endian host (the kernel's x86-64 and arm64): `to_le` truncates
/// (zero-extends the low `bits`), `to_be` and `bswap` reverse the low `bits` bytes.
pub fn endian(swap: Swap, bits: u8, dst: u64) -> u64 {
    let reverse = !matches!(swap, Swap::ToLe);
    match (bits, reverse) {
        (16, false) => dst & 0xffff,
        (32, false) => dst & 0xffff_ffff,
        (16, true) => u64::from((dst as u16).swap_bytes()),
        (32, true) => u64::from((dst as u32).swap_bytes()),
        (_, false) => dst,
        (_, true) => dst.swap_bytes(),
    }
}

/// Whether a conditional jump is taken, comparing the low 32 bits for `Width::W32`.
pub fn cond_holds(width: Width, cond: Cond, dst: u64, src: u64) -> bool {
    let (a, b, sa, sb) = match width {
        Width::W64 => (dst, src, dst as i64, src as i64),
        Width::W32 => {
            (u64::from(dst as u32), u64::from(src as u32), i64::from(dst as i32), i64::from(src as i32))
        }
    };
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Gt => a > b,
        Cond::Ge => a >= b,
        Cond::Lt => a < b,
        Cond::Le => a <= b,
        Cond::Set => a & b != 0,
        Cond::Sgt => sa > sb,
        Cond::Sge => sa >= sb,
        Cond::Slt => sa < sb,
        Cond::Sle => sa <= sb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN64: u64 = i64::MIN as u64;
    const NEG1: u64 = u64::MAX;

    #[test]
    fn alu_edge_cases_follow_the_kernel() {
        use AluOp::*;
        use Width::*;
        let cases: &[(Width, AluOp, u64, u64, u64)] = &[
            (W64, Div, 7, 0, 0),
            (W32, Div, 7, 0, 0),
            (W64, Mod, 7, 0, 7),
            (W32, Mod, 0xffff_ffff_0000_0007, 0, 7),
            (W64, Sdiv, MIN64, NEG1, MIN64),
            (W32, Sdiv, 0x8000_0000, 0xffff_ffff, 0x8000_0000),
            (W64, Smod, MIN64, NEG1, 0),
            (W32, Smod, 0x8000_0000, 0xffff_ffff, 0),
            (W64, Sdiv, 5, 0, 0),
            (W64, Smod, (-5i64) as u64, 0, (-5i64) as u64),
            (W64, Smod, (-7i64) as u64, 3, (-1i64) as u64),
            (W32, Smod, (-7i32) as u32 as u64, 3, 0xffff_ffff),
            (W64, Sdiv, (-7i64) as u64, 2, (-3i64) as u64),
            (W32, Add, 0xffff_ffff, 1, 0),
            (W32, Mov, 0, NEG1, 0xffff_ffff),
            (W64, Lsh, 1, 65, 2),
            (W32, Lsh, 1, 33, 2),
            (W64, Rsh, MIN64, 63, 1),
            (W32, Rsh, 0xffff_ffff_8000_0000, 31, 1),
            (W64, Arsh, MIN64, 63, NEG1),
            (W32, Arsh, 0x8000_0000, 31, 0xffff_ffff),
            (W64, Movsx(8), 0, 0x80, 0xffff_ffff_ffff_ff80),
            (W64, Movsx(16), 0, 0x8000, 0xffff_ffff_ffff_8000),
            (W64, Movsx(32), 0, 0x8000_0000, 0xffff_ffff_8000_0000),
            (W32, Movsx(8), 0, 0x80, 0xffff_ff80),
            (W32, Movsx(16), 0, 0x7fff, 0x7fff),
            (W64, Mul, MIN64, NEG1, MIN64),
            (W32, Mul, 0x8000_0000, 0xffff_ffff, 0x8000_0000),
        ];
        for &(width, op, dst, src, want) in cases {
            assert_eq!(alu(width, op, dst, src), want, "{width:?} {op:?} {dst:#x}, {src:#x}");
        }
    }

    #[test]
    fn neg_and_byte_swaps() {
        assert_eq!(neg(Width::W64, MIN64), MIN64);
        assert_eq!(neg(Width::W32, 1), 0xffff_ffff);
        let cases: &[(Swap, u8, u64, u64)] = &[
            (Swap::ToBe, 16, 0x1122_3344_5566_7788, 0x8877),
            (Swap::ToBe, 32, 0x1122_3344_5566_7788, 0x8877_6655),
            (Swap::ToBe, 64, 0x1122_3344_5566_7788, 0x8877_6655_4433_2211),
            (Swap::ToLe, 16, 0x1122_3344_5566_7788, 0x7788),
            (Swap::ToLe, 32, 0x1122_3344_5566_7788, 0x5566_7788),
            (Swap::ToLe, 64, 0x1122_3344_5566_7788, 0x1122_3344_5566_7788),
            (Swap::Bswap, 16, 0x1122_3344_5566_7788, 0x8877),
            (Swap::Bswap, 64, 0x1122_3344_5566_7788, 0x8877_6655_4433_2211),
        ];
        for &(swap, bits, v, want) in cases {
            assert_eq!(endian(swap, bits, v), want, "{swap:?}{bits}");
        }
    }

    #[test]
    fn conditions_compare_signed_and_32_bit_views() {
        use Cond::*;
        use Width::*;
        let cases: &[(Width, Cond, u64, u64, bool)] = &[
            (W64, Sgt, 1, NEG1, true),
            (W64, Gt, 1, NEG1, false),
            (W32, Eq, 0x1_0000_0005, 5, true),
            (W64, Eq, 0x1_0000_0005, 5, false),
            (W32, Slt, 0x8000_0000, 0, true),
            (W64, Slt, 0x8000_0000, 0, false),
            (W64, Set, 0b1010, 0b0100, false),
            (W64, Set, 0b1010, 0b0010, true),
            (W32, Le, 0xffff_ffff_0000_0000, 0, true),
            (W64, Sge, NEG1, NEG1, true),
            (W64, Sle, MIN64, 0, true),
            (W64, Ge, 3, 3, true),
            (W64, Lt, 3, 3, false),
            (W64, Ne, 3, 4, true),
        ];
        for &(width, cond, a, b, want) in cases {
            assert_eq!(cond_holds(width, cond, a, b), want, "{width:?} {cond:?} {a:#x} {b:#x}");
        }
    }
}
