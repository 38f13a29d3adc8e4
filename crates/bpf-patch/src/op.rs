//! The typed view of BPF instructions up to cpu v4: [`Op`], decoded from and encoded to raw
//! [`Insn`] slots.
//!
//! Decoding is strict in the way the kernel verifier is strict: unknown opcodes, registers above
//! R10 and set reserved fields are errors carrying the slot index. Text syntax lives in
//! [`crate::text`]; constructors named after the kernel's `filter.h` macros in [`crate::filter`].

use std::fmt;

use crate::insn::{Insn, Slot};
use crate::opcode::*;

mod decode;

/// A register R0-R10.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(u8);

impl Reg {
    /// R0: return value.
    pub const R0: Reg = Reg(0);
    /// R1: first argument (the context on entry).
    pub const R1: Reg = Reg(1);
    /// R2: second argument.
    pub const R2: Reg = Reg(2);
    /// R3: third argument.
    pub const R3: Reg = Reg(3);
    /// R4: fourth argument.
    pub const R4: Reg = Reg(4);
    /// R5: fifth argument.
    pub const R5: Reg = Reg(5);
    /// R6: callee-saved.
    pub const R6: Reg = Reg(6);
    /// R7: callee-saved.
    pub const R7: Reg = Reg(7);
    /// R8: callee-saved.
    pub const R8: Reg = Reg(8);
    /// R9: callee-saved.
    pub const R9: Reg = Reg(9);
    /// R10: read-only frame pointer.
    pub const R10: Reg = Reg(10);
    /// Alias of R10.
    pub const FP: Reg = Reg(10);

    /// The register with this number, if it is 0-10.
    pub const fn new(n: u8) -> Option<Reg> {
        if n < MAX_BPF_REG {
            Some(Reg(n))
        } else {
            None
        }
    }

    /// The register number 0-10.
    pub const fn num(self) -> u8 {
        self.0
    }

    /// A one-bit mask `1 << num`, for register sets.
    pub const fn mask(self) -> u16 {
        1 << self.0
    }
}

impl fmt::Debug for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.0)
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of an ALU or jump instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Width {
    /// 32-bit (`BPF_ALU`, `BPF_JMP32`; `wN` registers in text).
    W32,
    /// 64-bit (`BPF_ALU64`, `BPF_JMP`).
    W64,
}

/// Second operand of an ALU or conditional-jump instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Operand {
    /// `BPF_X`: a register.
    Reg(Reg),
    /// `BPF_K`: the 32-bit immediate (sign-extended to 64 bits for 64-bit operations).
    Imm(i32),
}

/// Binary ALU operation. Unary `neg` and byte swaps are separate [`Op`] variants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// Unsigned `/=` (`off = 0`).
    Div,
    /// Signed `s/=` (cpu v4, `BPF_DIV` with `off = 1`).
    Sdiv,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// Logical `>>=`
    Rsh,
    /// Unsigned `%=` (`off = 0`).
    Mod,
    /// Signed `s%=` (cpu v4, `BPF_MOD` with `off = 1`).
    Smod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// Sign-extending move from the low 8, 16 or 32 bits (cpu v4, `BPF_MOV` with `off` = bits).
    Movsx(u8),
    /// Arithmetic `s>>=`
    Arsh,
}

/// Kind of byte swap (`BPF_END`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Swap {
    /// `BPF_ALU | BPF_END | BPF_TO_LE`: convert to little-endian (`le16` ...).
    ToLe,
    /// `BPF_ALU | BPF_END | BPF_TO_BE`: convert to big-endian (`be16` ...).
    ToBe,
    /// `BPF_ALU64 | BPF_END`: unconditional byte swap (cpu v4, `bswap16` ...).
    Bswap,
}

/// Condition of a conditional jump.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Cond {
    /// `==`
    Eq,
    /// Unsigned `>`
    Gt,
    /// Unsigned `>=`
    Ge,
    /// `&` (jump if any bit is set)
    Set,
    /// `!=`
    Ne,
    /// Signed `s>`
    Sgt,
    /// Signed `s>=`
    Sge,
    /// Unsigned `<`
    Lt,
    /// Unsigned `<=`
    Le,
    /// Signed `s<`
    Slt,
    /// Signed `s<=`
    Sle,
}

/// Access size of a load or store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Size {
    /// 1 byte (`BPF_B`).
    B,
    /// 2 bytes (`BPF_H`).
    H,
    /// 4 bytes (`BPF_W`).
    W,
    /// 8 bytes (`BPF_DW`).
    DW,
}

impl Size {
    /// Size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The `BPF_SIZE` bits of the opcode.
    pub const fn code(self) -> u8 {
        match self {
            Size::B => BPF_B,
            Size::H => BPF_H,
            Size::W => BPF_W,
            Size::DW => BPF_DW,
        }
    }

    fn from_code(code: u8) -> Size {
        match bpf_size(code) {
            BPF_B => Size::B,
            BPF_H => Size::H,
            BPF_W => Size::W,
            _ => Size::DW,
        }
    }
}

/// Atomic read-modify-write, load-acquire and store-release operations (`BPF_STX | BPF_ATOMIC`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AtomicOp {
    /// `lock *(size *)(dst + off) += src`, or with `fetch` returning the old value in `src`.
    Add {
        /// `BPF_FETCH` set.
        fetch: bool,
    },
    /// Atomic or.
    Or {
        /// `BPF_FETCH` set.
        fetch: bool,
    },
    /// Atomic and.
    And {
        /// `BPF_FETCH` set.
        fetch: bool,
    },
    /// Atomic xor.
    Xor {
        /// `BPF_FETCH` set.
        fetch: bool,
    },
    /// `src = xchg(dst + off, src)`.
    Xchg,
    /// `r0 = cmpxchg(dst + off, r0, src)`.
    Cmpxchg,
    /// `dst = load_acquire(src + off)` (encoded with the loaded register in `dst_reg`).
    LoadAcquire,
    /// `store_release(dst + off, src)`.
    StoreRelease,
}

impl AtomicOp {
    /// The `imm` encoding.
    pub const fn imm(self) -> i32 {
        let (base, fetch) = match self {
            AtomicOp::Add { fetch } => (BPF_ADD as i32, fetch),
            AtomicOp::Or { fetch } => (BPF_OR as i32, fetch),
            AtomicOp::And { fetch } => (BPF_AND as i32, fetch),
            AtomicOp::Xor { fetch } => (BPF_XOR as i32, fetch),
            AtomicOp::Xchg => return BPF_XCHG,
            AtomicOp::Cmpxchg => return BPF_CMPXCHG,
            AtomicOp::LoadAcquire => return BPF_LOAD_ACQ,
            AtomicOp::StoreRelease => return BPF_STORE_REL,
        };
        if fetch {
            base | BPF_FETCH
        } else {
            base
        }
    }

    /// Decodes the `imm` of an atomic instruction.
    pub const fn from_imm(imm: i32) -> Option<AtomicOp> {
        let fetch = imm & BPF_FETCH != 0;
        Some(match imm {
            BPF_XCHG => AtomicOp::Xchg,
            BPF_CMPXCHG => AtomicOp::Cmpxchg,
            BPF_LOAD_ACQ => AtomicOp::LoadAcquire,
            BPF_STORE_REL => AtomicOp::StoreRelease,
            0x00 | 0x01 => AtomicOp::Add { fetch },
            0x40 | 0x41 => AtomicOp::Or { fetch },
            0x50 | 0x51 => AtomicOp::And { fetch },
            0xa0 | 0xa1 => AtomicOp::Xor { fetch },
            _ => return None,
        })
    }
}

/// The `src_reg` of `ld_imm64`, saying what the 64-bit immediate means.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LdImm64Src {
    /// 0: a plain constant.
    Imm,
    /// `BPF_PSEUDO_MAP_FD` (1): `imm` is a map fd (or 0 awaiting an ELF relocation).
    MapFd,
    /// `BPF_PSEUDO_MAP_VALUE` (2): low `imm` a map fd, high `imm` an offset into its value.
    MapValue,
    /// `BPF_PSEUDO_BTF_ID` (3): `imm` a kernel BTF id (ksym), high `imm` a BTF object fd.
    BtfId,
    /// `BPF_PSEUDO_FUNC` (4): `imm` a relative instruction offset to a subprogram (a callback).
    Func,
    /// `BPF_PSEUDO_MAP_IDX` (5): `imm` an index into `fd_array`.
    MapIdx,
    /// `BPF_PSEUDO_MAP_IDX_VALUE` (6): map index and value offset.
    MapIdxValue,
}

impl LdImm64Src {
    /// The `src_reg` encoding.
    pub const fn code(self) -> u8 {
        match self {
            LdImm64Src::Imm => 0,
            LdImm64Src::MapFd => BPF_PSEUDO_MAP_FD,
            LdImm64Src::MapValue => BPF_PSEUDO_MAP_VALUE,
            LdImm64Src::BtfId => BPF_PSEUDO_BTF_ID,
            LdImm64Src::Func => BPF_PSEUDO_FUNC,
            LdImm64Src::MapIdx => BPF_PSEUDO_MAP_IDX,
            LdImm64Src::MapIdxValue => BPF_PSEUDO_MAP_IDX_VALUE,
        }
    }

    /// Decodes a `src_reg` value.
    pub const fn from_code(src: u8) -> Option<LdImm64Src> {
        Some(match src {
            0 => LdImm64Src::Imm,
            BPF_PSEUDO_MAP_FD => LdImm64Src::MapFd,
            BPF_PSEUDO_MAP_VALUE => LdImm64Src::MapValue,
            BPF_PSEUDO_BTF_ID => LdImm64Src::BtfId,
            BPF_PSEUDO_FUNC => LdImm64Src::Func,
            BPF_PSEUDO_MAP_IDX => LdImm64Src::MapIdx,
            BPF_PSEUDO_MAP_IDX_VALUE => LdImm64Src::MapIdxValue,
            _ => return None,
        })
    }
}

/// The target of a `call` instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallTarget {
    /// `src_reg = 0`: helper function number `imm`.
    Helper(i32),
    /// `src_reg = BPF_PSEUDO_CALL`: bpf-to-bpf call, `imm` relative to the next instruction
    /// (or, before linking, resolved through an ELF relocation).
    Local(i32),
    /// `src_reg = BPF_PSEUDO_KFUNC_CALL`: kernel function with BTF id `btf_id`; `off` indexes the
    /// BTF fd array (0 = vmlinux).
    Kfunc {
        /// BTF id of the kfunc.
        btf_id: i32,
        /// Index into `fd_array` of the module BTF, 0 for vmlinux.
        off: i16,
    },
}

/// One logical BPF instruction (an `ld_imm64` is one `Op` spanning two slots).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Op {
    /// `dst op= src` (32- or 64-bit).
    Alu {
        /// Operand width.
        width: Width,
        /// Operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// Operand width.
        width: Width,
        /// Register negated in place.
        dst: Reg,
    },
    /// Byte swap of the low 16, 32 or 64 bits of `dst`.
    Endian {
        /// Direction.
        swap: Swap,
        /// 16, 32 or 64.
        bits: u8,
        /// Register swapped in place.
        dst: Reg,
    },
    /// Unconditional jump `goto +off` (`BPF_JMP | BPF_JA`).
    Ja {
        /// Relative offset in slots from the next instruction.
        off: i16,
    },
    /// Unconditional jump with a 32-bit offset `gotol +imm` (`BPF_JMP32 | BPF_JA`, cpu v4).
    Gotol {
        /// Relative offset in slots from the next instruction.
        imm: i32,
    },
    /// `may_goto +off` (`BPF_JMP | BPF_JCOND`, `src_reg = BPF_MAY_GOTO`).
    MayGoto {
        /// Relative offset in slots from the next instruction.
        off: i16,
    },
    /// Conditional jump `if dst cond src goto +off`.
    Jump {
        /// Compare 32 (`BPF_JMP32`) or 64 bits.
        width: Width,
        /// Condition.
        cond: Cond,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Operand,
        /// Relative offset in slots from the next instruction.
        off: i16,
    },
    /// `call` of a helper, bpf-to-bpf function or kfunc.
    Call(CallTarget),
    /// `callx reg`: indirect call through a register (LLVM's encoding: register in `dst_reg`).
    Callx {
        /// Register holding the target.
        reg: Reg,
    },
    /// `exit`.
    Exit,
    /// `dst = imm64` with a pseudo source (two slots).
    LdImm64 {
        /// Destination.
        dst: Reg,
        /// What the immediate means.
        src: LdImm64Src,
        /// Low 32 bits (first slot's `imm`).
        imm: i32,
        /// High 32 bits (second slot's `imm`).
        next_imm: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)skb[imm])` (`BPF_LD | BPF_ABS`).
    LdAbs {
        /// Access size (not DW).
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)skb[src + imm])` (`BPF_LD | BPF_IND`).
    LdInd {
        /// Access size (not DW).
        size: Size,
        /// Register added to the offset.
        src: Reg,
        /// Packet offset.
        imm: i32,
    },
    /// `dst = *(size *)(src + off)`, sign-extending when `signed` (`BPF_MEMSX`, cpu v4).
    Load {
        /// Access size.
        size: Size,
        /// Sign-extend the loaded value.
        signed: bool,
        /// Destination.
        dst: Reg,
        /// Base address.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = imm` (`BPF_ST | BPF_MEM`).
    StoreImm {
        /// Access size.
        size: Size,
        /// Base address.
        dst: Reg,
        /// Byte offset.
        off: i16,
        /// Stored value (sign-extended to the access size).
        imm: i32,
    },
    /// `*(size *)(dst + off) = src` (`BPF_STX | BPF_MEM`).
    Store {
        /// Access size.
        size: Size,
        /// Base address.
        dst: Reg,
        /// Byte offset.
        off: i16,
        /// Stored register.
        src: Reg,
    },
    /// Atomic operation (`BPF_STX | BPF_ATOMIC`).
    Atomic {
        /// Access size (W or DW; any for load-acquire / store-release).
        size: Size,
        /// Operation.
        op: AtomicOp,
        /// Address register (the loaded register for load-acquire).
        dst: Reg,
        /// Value register (the address register for load-acquire).
        src: Reg,
        /// Byte offset.
        off: i16,
    },
}

/// Why a slot does not decode to an instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    /// The opcode is not defined.
    #[error("slot {slot}: unknown opcode {code:#04x}")]
    UnknownOpcode {
        /// Where.
        slot: Slot,
        /// The opcode.
        code: u8,
    },
    /// A register field names a register above R10.
    #[error("slot {slot}: invalid register r{reg} in opcode {code:#04x}")]
    BadRegister {
        /// Where.
        slot: Slot,
        /// The opcode.
        code: u8,
        /// The register number found.
        reg: u8,
    },
    /// A field the opcode does not use is not zero.
    #[error("slot {slot}: opcode {code:#04x} uses reserved field {field} (value {value})")]
    ReservedField {
        /// Where.
        slot: Slot,
        /// The opcode.
        code: u8,
        /// `dst_reg`, `src_reg`, `off` or `imm`.
        field: &'static str,
        /// The non-zero value found.
        value: i64,
    },
    /// A field has a value outside its defined set (e.g. an unknown atomic operation).
    #[error("slot {slot}: opcode {code:#04x} has invalid {field} {value}")]
    InvalidField {
        /// Where.
        slot: Slot,
        /// The opcode.
        code: u8,
        /// Which field.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// `ld_imm64` is the last slot of the stream.
    #[error("slot {slot}: ld_imm64 is truncated (its second slot is missing)")]
    TruncatedLdImm64 {
        /// Where the first slot is.
        slot: Slot,
    },
    /// The second slot of `ld_imm64` is not `code = 0, regs = 0, off = 0`.
    #[error("slot {slot}: second slot of ld_imm64 has code {code:#04x}, dst r{dst}, src r{src}, off {off} (must all be 0)")]
    BadLdImm64Tail {
        /// Where the second slot is.
        slot: Slot,
        /// Its code.
        code: u8,
        /// Its dst_reg.
        dst: u8,
        /// Its src_reg.
        src: u8,
        /// Its off.
        off: i16,
    },
}

impl DecodeError {
    /// The slot the error is about.
    pub fn slot(&self) -> Slot {
        match *self {
            DecodeError::UnknownOpcode { slot, .. }
            | DecodeError::BadRegister { slot, .. }
            | DecodeError::ReservedField { slot, .. }
            | DecodeError::InvalidField { slot, .. }
            | DecodeError::TruncatedLdImm64 { slot }
            | DecodeError::BadLdImm64Tail { slot, .. } => slot,
        }
    }
}

impl Op {
    /// Number of 8-byte slots this instruction occupies (2 for `ld_imm64`, else 1).
    pub const fn slots(&self) -> u32 {
        match self {
            Op::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// Decodes the instruction starting at `insns[0]`, which is at `slot` in its stream (for
    /// error messages). `insns[1]` is read only for `ld_imm64`.
    pub fn decode(insns: &[Insn], slot: Slot) -> Result<Op, DecodeError> {
        decode::decode(insns, slot)
    }

    /// Encodes into one or two slots, appended to `out`.
    pub fn encode_into(&self, out: &mut Vec<Insn>) {
        let (first, second) = self.encode();
        out.push(first);
        if let Some(s) = second {
            out.push(s);
        }
    }

    /// Encodes into its first slot and, for `ld_imm64`, its second.
    pub fn encode(&self) -> (Insn, Option<Insn>) {
        let one =
            |code: u8, dst: u8, src: u8, off: i16, imm: i32| (Insn::new(code, dst, src, off, imm), None);
        match *self {
            Op::Alu { width, op, dst, src } => {
                let class = if width == Width::W64 { BPF_ALU64 } else { BPF_ALU };
                let (opc, off) = match op {
                    AluOp::Add => (BPF_ADD, 0),
                    AluOp::Sub => (BPF_SUB, 0),
                    AluOp::Mul => (BPF_MUL, 0),
                    AluOp::Div => (BPF_DIV, 0),
                    AluOp::Sdiv => (BPF_DIV, 1),
                    AluOp::Or => (BPF_OR, 0),
                    AluOp::And => (BPF_AND, 0),
                    AluOp::Lsh => (BPF_LSH, 0),
                    AluOp::Rsh => (BPF_RSH, 0),
                    AluOp::Mod => (BPF_MOD, 0),
                    AluOp::Smod => (BPF_MOD, 1),
                    AluOp::Xor => (BPF_XOR, 0),
                    AluOp::Mov => (BPF_MOV, 0),
                    AluOp::Movsx(bits) => (BPF_MOV, i16::from(bits)),
                    AluOp::Arsh => (BPF_ARSH, 0),
                };
                match src {
                    Operand::Reg(s) => one(class | opc | BPF_X, dst.0, s.0, off, 0),
                    Operand::Imm(imm) => one(class | opc | BPF_K, dst.0, 0, off, imm),
                }
            }
            Op::Neg { width, dst } => {
                let class = if width == Width::W64 { BPF_ALU64 } else { BPF_ALU };
                one(class | BPF_NEG, dst.0, 0, 0, 0)
            }
            Op::Endian { swap, bits, dst } => {
                let code = match swap {
                    Swap::ToLe => BPF_ALU | BPF_END | BPF_TO_LE,
                    Swap::ToBe => BPF_ALU | BPF_END | BPF_TO_BE,
                    Swap::Bswap => BPF_ALU64 | BPF_END | BPF_TO_LE,
                };
                one(code, dst.0, 0, 0, i32::from(bits))
            }
            Op::Ja { off } => one(BPF_JMP | BPF_JA, 0, 0, off, 0),
            Op::Gotol { imm } => one(BPF_JMP32 | BPF_JA, 0, 0, 0, imm),
            Op::MayGoto { off } => one(BPF_JMP | BPF_JCOND, 0, BPF_MAY_GOTO, off, 0),
            Op::Jump { width, cond, dst, src, off } => {
                let class = if width == Width::W64 { BPF_JMP } else { BPF_JMP32 };
                let opc = match cond {
                    Cond::Eq => BPF_JEQ,
                    Cond::Gt => BPF_JGT,
                    Cond::Ge => BPF_JGE,
                    Cond::Set => BPF_JSET,
                    Cond::Ne => BPF_JNE,
                    Cond::Sgt => BPF_JSGT,
                    Cond::Sge => BPF_JSGE,
                    Cond::Lt => BPF_JLT,
                    Cond::Le => BPF_JLE,
                    Cond::Slt => BPF_JSLT,
                    Cond::Sle => BPF_JSLE,
                };
                match src {
                    Operand::Reg(s) => one(class | opc | BPF_X, dst.0, s.0, off, 0),
                    Operand::Imm(imm) => one(class | opc | BPF_K, dst.0, 0, off, imm),
                }
            }
            Op::Call(CallTarget::Helper(id)) => one(BPF_JMP | BPF_CALL, 0, 0, 0, id),
            Op::Call(CallTarget::Local(rel)) => one(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel),
            Op::Call(CallTarget::Kfunc { btf_id, off }) => {
                one(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, off, btf_id)
            }
            Op::Callx { reg } => one(BPF_JMP | BPF_CALL | BPF_X, reg.0, 0, 0, 0),
            Op::Exit => one(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
            Op::LdImm64 { dst, src, imm, next_imm } => {
                (Insn::new(LD_IMM64, dst.0, src.code(), 0, imm), Some(Insn::new(0, 0, 0, 0, next_imm)))
            }
            Op::LdAbs { size, imm } => one(BPF_LD | BPF_ABS | size.code(), 0, 0, 0, imm),
            Op::LdInd { size, src, imm } => one(BPF_LD | BPF_IND | size.code(), 0, src.0, 0, imm),
            Op::Load { size, signed, dst, src, off } => {
                let mode = if signed { BPF_MEMSX } else { BPF_MEM };
                one(BPF_LDX | mode | size.code(), dst.0, src.0, off, 0)
            }
            Op::StoreImm { size, dst, off, imm } => one(BPF_ST | BPF_MEM | size.code(), dst.0, 0, off, imm),
            Op::Store { size, dst, off, src } => one(BPF_STX | BPF_MEM | size.code(), dst.0, src.0, off, 0),
            Op::Atomic { size, op, dst, src, off } => {
                one(BPF_STX | BPF_ATOMIC | size.code(), dst.0, src.0, off, op.imm())
            }
        }
    }

    /// The 64-bit immediate of `ld_imm64`.
    pub const fn imm64(imm: i32, next_imm: i32) -> u64 {
        (imm as u32 as u64) | ((next_imm as u32 as u64) << 32)
    }

    /// Registers this instruction writes, as a mask of `1 << reg` (a call writes R0-R5: R0 the
    /// result, R1-R5 clobbered). Stores write memory, not their address register.
    pub fn regs_written(&self) -> u16 {
        match *self {
            Op::Alu { dst, .. } | Op::Neg { dst, .. } | Op::Endian { dst, .. } | Op::LdImm64 { dst, .. } => {
                dst.mask()
            }
            Op::Load { dst, .. } => dst.mask(),
            Op::Call(_) | Op::Callx { .. } => 0b11_1111,
            // Legacy packet loads write R0 and clobber R1-R5 like a call.
            Op::LdAbs { .. } | Op::LdInd { .. } => 0b11_1111,
            Op::Atomic { op, dst, src, .. } => match op {
                AtomicOp::Add { fetch: true }
                | AtomicOp::Or { fetch: true }
                | AtomicOp::And { fetch: true }
                | AtomicOp::Xor { fetch: true }
                | AtomicOp::Xchg => src.mask(),
                AtomicOp::Cmpxchg => Reg::R0.mask(),
                AtomicOp::LoadAcquire => dst.mask(),
                _ => 0,
            },
            Op::Ja { .. }
            | Op::Gotol { .. }
            | Op::MayGoto { .. }
            | Op::Jump { .. }
            | Op::Exit
            | Op::StoreImm { .. }
            | Op::Store { .. } => 0,
        }
    }

    /// Registers this instruction reads, as a mask of `1 << reg`. A call is taken to read R1-R5
    /// (the kernel's conservative view without a prototype); `exit` reads R0.
    pub fn regs_read(&self) -> u16 {
        let operand = |src: Operand| match src {
            Operand::Reg(r) => r.mask(),
            Operand::Imm(_) => 0,
        };
        match *self {
            Op::Alu { op: AluOp::Mov | AluOp::Movsx(_), src, .. } => operand(src),
            Op::Alu { dst, src, .. } => dst.mask() | operand(src),
            Op::Neg { dst, .. } | Op::Endian { dst, .. } => dst.mask(),
            Op::Jump { dst, src, .. } => dst.mask() | operand(src),
            Op::Call(_) => 0b11_1110,
            Op::Callx { reg } => 0b11_1110 | reg.mask(),
            Op::Exit => Reg::R0.mask(),
            // Legacy packet loads read the context from R6.
            Op::LdAbs { .. } => Reg::R6.mask(),
            Op::LdInd { src, .. } => Reg::R6.mask() | src.mask(),
            Op::Load { src, .. } => src.mask(),
            Op::StoreImm { dst, .. } => dst.mask(),
            Op::Store { dst, src, .. } => dst.mask() | src.mask(),
            Op::Atomic { op, dst, src, .. } => match op {
                AtomicOp::LoadAcquire => src.mask(),
                AtomicOp::Cmpxchg => dst.mask() | src.mask() | Reg::R0.mask(),
                _ => dst.mask() | src.mask(),
            },
            Op::LdImm64 { .. } | Op::Ja { .. } | Op::Gotol { .. } | Op::MayGoto { .. } => 0,
        }
    }

    /// The relative branch offset of a jump, in slots from the next instruction, if this is a
    /// jump (conditional, `ja`, `gotol`, `may_goto`).
    pub const fn branch_offset(&self) -> Option<i32> {
        match *self {
            Op::Ja { off } | Op::MayGoto { off } | Op::Jump { off, .. } => Some(off as i32),
            Op::Gotol { imm } => Some(imm),
            _ => None,
        }
    }
}

/// Decodes a whole slot stream into `(slot, op)` pairs, failing at the first malformed slot.
pub fn decode_all(insns: &[Insn]) -> Result<Vec<(Slot, Op)>, DecodeError> {
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0usize;
    while i < insns.len() {
        let slot = Slot(u32::try_from(i).expect("instruction streams are limited to u32 slots"));
        let op = Op::decode(&insns[i..], slot)?;
        i += op.slots() as usize;
        out.push((slot, op));
    }
    Ok(out)
}

/// Encodes a sequence of instructions into slots.
pub fn encode_all<'a>(ops: impl IntoIterator<Item = &'a Op>) -> Vec<Insn> {
    let mut out = Vec::new();
    for op in ops {
        op.encode_into(&mut out);
    }
    out
}

#[cfg(test)]
mod tests;
