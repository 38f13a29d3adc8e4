//! Pure arithmetic of the ISA: ALU/ALU64 operations, negation, byte swaps and jump conditions,
//! with the kernel's semantics (division by zero yields 0, modulo by zero keeps the dividend,
//! shift amounts are masked, 32-bit results are zero-extended). No memory, no registers here.

use bpf_patch::op::{AluOp, Cond, Swap, Width};

/// `dst op src` at `width`; `src` is already the operand value (an immediate sign-extended to 64
/// bits). The 32-bit result is zero-extended.
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => u64::from(alu32(op, dst as u32, src as u32)),
    }
}

fn alu64(op: AluOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Sdiv if b == 0 => 0,
        AluOp::Sdiv => sa.wrapping_div(sb) as u64,
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Smod if b == 0 => a,
        AluOp::Smod => sa.wrapping_rem(sb) as u64,
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Arsh => (sa >> (b & 63)) as u64,
        AluOp::Mov => b,
        AluOp::Movsx(bits) => sign_extend(b, bits) as u64,
    }
}

fn alu32(op: AluOp, a: u32, b: u32) -> u32 {
    let (sa, sb) = (a as i32, b as i32);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Sdiv if b == 0 => 0,
        AluOp::Sdiv => sa.wrapping_div(sb) as u32,
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Smod if b == 0 => a,
        AluOp::Smod => sa.wrapping_rem(sb) as u32,
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => a << (b & 31),
        AluOp::Rsh => a >> (b & 31),
        AluOp::Arsh => (sa >> (b & 31)) as u32,
        AluOp::Mov => b,
        AluOp::Movsx(bits) => sign_extend(u64::from(b), bits) as u32,
    }
}

/// Sign-extends the low `bits` (8, 16 or 32; anything else keeps all 64) of `v`.
pub fn sign_extend(v: u64, bits: u8) -> i64 {
    match bits {
        8 => i64::from(v as i8),
        16 => i64::from(v as i16),
        32 => i64::from(v as i32),
        _ => v as i64,
    }
}

/// `-dst` at `width`, zero-extended.
pub fn neg(width: Width, dst: u64) -> u64 {
    match width {
        Width::W64 => dst.wrapping_neg(),
        Width::W32 => u64::from((dst as u32).wrapping_neg()),
    }
}

/// A byte swap on a little-endian machine: `le` truncates, `be` and `bswap` swap the low `bits`
/// bytes; the result is zero-extended from `bits`.
pub fn endian(swap: Swap, bits: u8, dst: u64) -> u64 {
    match swap {
        Swap::ToLe => truncate(dst, bits),
        Swap::ToBe | Swap::Bswap => match bits {
            16 => u64::from((dst as u16).swap_bytes()),
            32 => u64::from((dst as u32).swap_bytes()),
            _ => dst.swap_bytes(),
        },
    }
}

fn truncate(v: u64, bits: u8) -> u64 {
    match bits {
        16 => v & 0xffff,
        32 => v & 0xffff_ffff,
        _ => v,
    }
}

/// Whether `dst cond src` holds at `width` (`src` as for [`alu`]).
pub fn cond(width: Width, cond: Cond, dst: u64, src: u64) -> bool {
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
    use bpf_patch::op::Width::{W32, W64};

    const MIN64: u64 = i64::MIN as u64;
    const NEG1: u64 = u64::MAX;
    /// The immediate 0x80000000 as a 64-bit operand (sign-extended).
    const SIGNED_IMM: u64 = i32::MIN as i64 as u64;

    #[test]
    fn alu_table() {
        #[rustfmt::skip]
        let cases: &[(Width, AluOp, u64, u64, u64)] = &[
            (W64, AluOp::Add, NEG1, 2, 1),
            (W32, AluOp::Add, 0xffff_ffff, 2, 1),
            (W32, AluOp::Add, 0x1_0000_0001, 0, 1), // 32-bit ops zero-extend
            (W64, AluOp::Sub, 0, 1, NEG1),
            (W32, AluOp::Sub, 0, 1, 0xffff_ffff),
            (W64, AluOp::Mul, MIN64, NEG1, MIN64),
            (W32, AluOp::Mul, 0x8000_0000, NEG1, 0x8000_0000),
            (W64, AluOp::Div, 7, 0, 0),
            (W32, AluOp::Div, 7, 0x1_0000_0000, 0), // divisor's low 32 bits are 0
            (W64, AluOp::Div, NEG1, 2, NEG1 / 2),
            (W64, AluOp::Mod, 7, 0, 7),
            (W32, AluOp::Mod, 0x1_0000_0007, 0, 7), // dividend kept, zero-extended
            (W64, AluOp::Mod, 7, 4, 3),
            (W64, AluOp::Sdiv, MIN64, NEG1, MIN64),
            (W32, AluOp::Sdiv, 0x8000_0000, NEG1, 0x8000_0000),
            (W64, AluOp::Sdiv, -7i64 as u64, 2, -3i64 as u64),
            (W32, AluOp::Sdiv, 0x1_0000_000c, -4i64 as u64, 0xffff_fffd),
            (W64, AluOp::Sdiv, 5, 0, 0),
            (W64, AluOp::Smod, MIN64, NEG1, 0),
            (W32, AluOp::Smod, 0x8000_0000, NEG1, 0),
            (W64, AluOp::Smod, -7i64 as u64, 2, NEG1),
            (W64, AluOp::Smod, 7, -2i64 as u64, 1),
            (W64, AluOp::Smod, -7i64 as u64, 0, -7i64 as u64),
            (W32, AluOp::Smod, -7i64 as u64, 0, 0xffff_fff9),
            (W64, AluOp::Lsh, 1, 65, 2), // masked to 1
            (W32, AluOp::Lsh, 1, 33, 2),
            (W64, AluOp::Rsh, MIN64, 63, 1),
            (W32, AluOp::Rsh, NEG1, 36, 0x0fff_ffff),
            (W64, AluOp::Arsh, MIN64, 63, NEG1),
            (W32, AluOp::Arsh, 0x8000_0000, 31, 0xffff_ffff),
            (W64, AluOp::Or, 0xf0, 0x0f, 0xff),
            (W64, AluOp::And, 0xf0, 0x3c, 0x30),
            (W64, AluOp::Xor, 0xff, 0x0f, 0xf0),
            (W32, AluOp::Mov, 5, NEG1, 0xffff_ffff),
            (W64, AluOp::Movsx(8), 0, 0x80, 0xffff_ffff_ffff_ff80),
            (W32, AluOp::Movsx(8), 0, 0x0123_4567_89ab_cdef, 0xffff_ffef),
            (W64, AluOp::Movsx(16), 0, 0x8000, 0xffff_ffff_ffff_8000),
            (W32, AluOp::Movsx(16), 0, 0x8000, 0xffff_8000),
            (W64, AluOp::Movsx(32), 0, 0x8000_0000, 0xffff_ffff_8000_0000),
        ];
        for &(w, op, a, b, want) in cases {
            assert_eq!(alu(w, op, a, b), want, "{w:?} {op:?} {a:#x} {b:#x}");
        }
    }

    #[test]
    fn neg_and_swaps() {
        assert_eq!(neg(W64, MIN64), MIN64);
        assert_eq!(neg(W32, 0x1_8000_0000), 0x8000_0000);
        assert_eq!(neg(W32, 1), 0xffff_ffff);
        let v = 0x8877_6655_4433_2211;
        #[rustfmt::skip]
        let cases: &[(Swap, u8, u64)] = &[
            (Swap::ToLe, 16, 0x2211), (Swap::ToLe, 32, 0x4433_2211), (Swap::ToLe, 64, v),
            (Swap::ToBe, 16, 0x1122), (Swap::ToBe, 32, 0x1122_3344), (Swap::ToBe, 64, 0x1122_3344_5566_7788),
            (Swap::Bswap, 16, 0x1122), (Swap::Bswap, 32, 0x1122_3344), (Swap::Bswap, 64, 0x1122_3344_5566_7788),
        ];
        for &(s, bits, want) in cases {
            assert_eq!(endian(s, bits, v), want, "{s:?} {bits}");
        }
    }

    #[test]
    fn cond_table() {
        #[rustfmt::skip]
        let cases: &[(Width, Cond, u64, u64, bool)] = &[
            (W64, Cond::Eq, 0xffff_ffff_8000_0000, SIGNED_IMM, true),
            (W64, Cond::Eq, 0x8000_0000, SIGNED_IMM, false),
            (W32, Cond::Eq, 0x1_0000_0005, 5, true),
            (W64, Cond::Gt, NEG1, 1, true),
            (W64, Cond::Sgt, NEG1, 1, false),
            (W32, Cond::Sgt, 0xffff_ffff, 1, false),
            (W32, Cond::Gt, 0x1_0000_0000, 1, false),
            (W64, Cond::Ge, 1, 1, true),
            (W64, Cond::Lt, 0, 1, true),
            (W64, Cond::Le, 2, 1, false),
            (W64, Cond::Slt, NEG1, 0, true),
            (W64, Cond::Sle, MIN64, MIN64, true),
            (W64, Cond::Sge, 0, NEG1, true),
            (W64, Cond::Set, 0xffff_ffff_0000_0000, SIGNED_IMM, true),
            (W32, Cond::Set, 0xffff_ffff_0000_0000, 0x8000_0000, false),
            (W64, Cond::Ne, 0x8000_0000, SIGNED_IMM, true),
        ];
        for &(w, c, a, b, want) in cases {
            assert_eq!(cond(w, c, a, b), want, "{w:?} {c:?} {a:#x} {b:#x}");
        }
    }
}
