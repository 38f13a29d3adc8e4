//! Instruction constructors named after the kernel's `include/linux/filter.h` macros
//! (`BPF_MOV64_IMM` → [`mov64_imm`], `BPF_LDX_MEM` → [`ldx_mem`], ...).
//!
//! Each returns a typed [`Op`]; encode it with [`Op::encode_into`] or push it into a
//! [`crate::patch::Patch`].

use crate::op::{AluOp, AtomicOp, CallTarget, Cond, LdImm64Src, Op, Operand, Reg, Size, Swap, Width};

/// `BPF_ALU64_REG(op, dst, src)`: `dst op= src` on 64 bits.
pub const fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Op {
    Op::Alu { width: Width::W64, op, dst, src: Operand::Reg(src) }
}

/// `BPF_ALU32_REG(op, dst, src)`: `dst op= src` on 32 bits (zero-extends).
pub const fn alu32_reg(op: AluOp, dst: Reg, src: Reg) -> Op {
    Op::Alu { width: Width::W32, op, dst, src: Operand::Reg(src) }
}

/// `BPF_ALU64_IMM(op, dst, imm)`.
pub const fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Op {
    Op::Alu { width: Width::W64, op, dst, src: Operand::Imm(imm) }
}

/// `BPF_ALU32_IMM(op, dst, imm)`.
pub const fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Op {
    Op::Alu { width: Width::W32, op, dst, src: Operand::Imm(imm) }
}

/// `BPF_MOV64_REG(dst, src)`.
pub const fn mov64_reg(dst: Reg, src: Reg) -> Op {
    alu64_reg(AluOp::Mov, dst, src)
}

/// `BPF_MOV32_REG(dst, src)`.
pub const fn mov32_reg(dst: Reg, src: Reg) -> Op {
    alu32_reg(AluOp::Mov, dst, src)
}

/// `BPF_MOV64_IMM(dst, imm)`.
pub const fn mov64_imm(dst: Reg, imm: i32) -> Op {
    alu64_imm(AluOp::Mov, dst, imm)
}

/// `BPF_MOV32_IMM(dst, imm)`.
pub const fn mov32_imm(dst: Reg, imm: i32) -> Op {
    alu32_imm(AluOp::Mov, dst, imm)
}

/// `BPF_MOVSX64_REG(dst, src, bits)`: sign-extending move (cpu v4).
pub const fn movsx64_reg(dst: Reg, src: Reg, bits: u8) -> Op {
    alu64_reg(AluOp::Movsx(bits), dst, src)
}

/// `BPF_MOVSX32_REG(dst, src, bits)`.
pub const fn movsx32_reg(dst: Reg, src: Reg, bits: u8) -> Op {
    alu32_reg(AluOp::Movsx(bits), dst, src)
}

/// `BPF_ALU64_IMM(BPF_NEG, dst, 0)`.
pub const fn neg64(dst: Reg) -> Op {
    Op::Neg { width: Width::W64, dst }
}

/// `BPF_ENDIAN(BPF_TO_BE, dst, bits)` / `BPF_TO_LE`.
pub const fn endian(swap: Swap, dst: Reg, bits: u8) -> Op {
    Op::Endian { swap, bits, dst }
}

/// `BPF_BSWAP(dst, bits)` (cpu v4).
pub const fn bswap(dst: Reg, bits: u8) -> Op {
    Op::Endian { swap: Swap::Bswap, bits, dst }
}

/// `BPF_LD_IMM64(dst, imm)`: two slots.
pub const fn ld_imm64(dst: Reg, imm: u64) -> Op {
    ld_imm64_raw(dst, LdImm64Src::Imm, imm)
}

/// `BPF_LD_IMM64_RAW(dst, src, imm)`: `ld_imm64` with a pseudo source.
pub const fn ld_imm64_raw(dst: Reg, src: LdImm64Src, imm: u64) -> Op {
    Op::LdImm64 { dst, src, imm: imm as u32 as i32, next_imm: (imm >> 32) as u32 as i32 }
}

/// `BPF_LD_MAP_FD(dst, fd)`.
pub const fn ld_map_fd(dst: Reg, fd: i32) -> Op {
    Op::LdImm64 { dst, src: LdImm64Src::MapFd, imm: fd, next_imm: 0 }
}

/// `BPF_LD_ABS(size, imm)`.
pub const fn ld_abs(size: Size, imm: i32) -> Op {
    Op::LdAbs { size, imm }
}

/// `BPF_LD_IND(size, src, imm)`.
pub const fn ld_ind(size: Size, src: Reg, imm: i32) -> Op {
    Op::LdInd { size, src, imm }
}

/// `BPF_LDX_MEM(size, dst, src, off)`: `dst = *(size *)(src + off)`.
pub const fn ldx_mem(size: Size, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Load { size, signed: false, dst, src, off }
}

/// `BPF_LDX_MEMSX(size, dst, src, off)`: sign-extending load (cpu v4).
pub const fn ldx_memsx(size: Size, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Load { size, signed: true, dst, src, off }
}

/// `BPF_STX_MEM(size, dst, src, off)`: `*(size *)(dst + off) = src`.
pub const fn stx_mem(size: Size, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Store { size, dst, off, src }
}

/// `BPF_ST_MEM(size, dst, off, imm)`: `*(size *)(dst + off) = imm`.
pub const fn st_mem(size: Size, dst: Reg, off: i16, imm: i32) -> Op {
    Op::StoreImm { size, dst, off, imm }
}

/// `BPF_ATOMIC_OP(size, op, dst, src, off)`.
pub const fn atomic_op(size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Atomic { size, op, dst, src, off }
}

/// `BPF_JMP_REG(op, dst, src, off)`.
pub const fn jmp_reg(cond: Cond, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Jump { width: Width::W64, cond, dst, src: Operand::Reg(src), off }
}

/// `BPF_JMP_IMM(op, dst, imm, off)`.
pub const fn jmp_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Op {
    Op::Jump { width: Width::W64, cond, dst, src: Operand::Imm(imm), off }
}

/// `BPF_JMP32_REG(op, dst, src, off)`.
pub const fn jmp32_reg(cond: Cond, dst: Reg, src: Reg, off: i16) -> Op {
    Op::Jump { width: Width::W32, cond, dst, src: Operand::Reg(src), off }
}

/// `BPF_JMP32_IMM(op, dst, imm, off)`.
pub const fn jmp32_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Op {
    Op::Jump { width: Width::W32, cond, dst, src: Operand::Imm(imm), off }
}

/// `BPF_JMP_A(off)`: `goto +off`.
pub const fn jmp_a(off: i16) -> Op {
    Op::Ja { off }
}

/// `BPF_JMP32_A(imm)`: `gotol +imm` (cpu v4).
pub const fn jmp32_a(imm: i32) -> Op {
    Op::Gotol { imm }
}

/// `BPF_RAW_INSN(BPF_JMP | BPF_JCOND, 0, BPF_MAY_GOTO, off, 0)`: `may_goto +off`.
pub const fn may_goto(off: i16) -> Op {
    Op::MayGoto { off }
}

/// `BPF_EMIT_CALL(helper)`: call helper number `id`.
pub const fn call_helper(id: i32) -> Op {
    Op::Call(CallTarget::Helper(id))
}

/// `BPF_CALL_REL(imm)`: bpf-to-bpf call, `imm` relative to the next instruction.
pub const fn call_rel(imm: i32) -> Op {
    Op::Call(CallTarget::Local(imm))
}

/// `BPF_CALL_KFUNC(off, btf_id)`: call a kfunc by BTF id (`off` = module BTF fd index, 0 for
/// vmlinux).
pub const fn call_kfunc(off: i16, btf_id: i32) -> Op {
    Op::Call(CallTarget::Kfunc { btf_id, off })
}

/// `BPF_EXIT_INSN()`.
pub const fn exit() -> Op {
    Op::Exit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::Insn;

    #[test]
    fn constructors_encode_like_the_kernel_macros() {
        // Expected slots written out as (code, dst, src, off, imm), as filter.h builds them.
        /// (code, dst, src, off, imm)
        type Fields = (u8, u8, u8, i16, i32);
        let cases: &[(Op, Fields)] = &[
            (mov64_imm(Reg::R0, -61), (0xb7, 0, 0, 0, -61)),
            (mov32_reg(Reg::R4, Reg::R3), (0xbc, 4, 3, 0, 0)),
            (ldx_mem(Size::DW, Reg::R3, Reg::R1, 56), (0x79, 3, 1, 56, 0)),
            (ldx_memsx(Size::H, Reg::R3, Reg::R1, 2), (0x89, 3, 1, 2, 0)),
            (stx_mem(Size::W, Reg::R2, Reg::R0, 0), (0x63, 2, 0, 0, 0)),
            (st_mem(Size::B, Reg::R10, -1, 7), (0x72, 10, 0, -1, 7)),
            (jmp_imm(Cond::Ne, Reg::R3, 0, 2), (0x55, 3, 0, 2, 0)),
            (jmp32_reg(Cond::Slt, Reg::R1, Reg::R2, -4), (0xce, 1, 2, -4, 0)),
            (jmp_a(1), (0x05, 0, 0, 1, 0)),
            (jmp32_a(70_000), (0x06, 0, 0, 0, 70_000)),
            (may_goto(3), (0xe5, 0, 0, 3, 0)),
            (call_helper(1), (0x85, 0, 0, 0, 1)),
            (call_rel(-1), (0x85, 0, 1, 0, -1)),
            (call_kfunc(0, 66161), (0x85, 0, 2, 0, 66161)),
            (exit(), (0x95, 0, 0, 0, 0)),
            (bswap(Reg::R1, 16), (0xd7, 1, 0, 0, 16)),
            (endian(Swap::ToBe, Reg::R1, 32), (0xdc, 1, 0, 0, 32)),
            (atomic_op(Size::DW, AtomicOp::Cmpxchg, Reg::R1, Reg::R2, 8), (0xdb, 1, 2, 8, 0xf1)),
            (ld_abs(Size::H, 12), (0x28, 0, 0, 0, 12)),
        ];
        for &(op, (code, dst, src, off, imm)) in cases {
            assert_eq!(op.encode(), (Insn::new(code, dst, src, off, imm), None), "{op:?}");
        }
        let (lo, hi) = ld_imm64(Reg::R1, 0x1_0000_0002).encode();
        assert_eq!((lo, hi), (Insn::new(0x18, 1, 0, 0, 2), Some(Insn::new(0, 0, 0, 0, 1))));
    }
}
