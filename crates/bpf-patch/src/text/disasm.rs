//! Printing [`Op`]s in llvm-objdump-19's BPF syntax.
//!
//! [`Syntax::Llvm`] prints byte for byte what `llvm-objdump-19 -d --no-show-raw-insn` prints
//! (without a `--mcpu`), except for encodings llvm-objdump-19 prints as `<unknown>` or wrongly;
//! those get the spelling llvm-objdump-19 uses with `--mcpu=v4` (32-bit atomics) or LLVM 21's
//! (`load_acquire` / `store_release`). [`Syntax::Lossless`] additionally spells out what
//! llvm-objdump drops, so that bytes → text → bytes is the identity too:
//!
//! | encoding | `Llvm` | `Lossless` |
//! |---|---|---|
//! | bpf-to-bpf call (`src_reg = 1`) | `call -0x1` | `call local -0x1` |
//! | kfunc call (`src_reg = 2`, `off`) | `call 0x10271` | `call kfunc 0x10271` / `call kfunc 0x10271, 0x3` |
//! | `ld_imm64` pseudo with high word | `ld_pseudo\tr1, 0x2, 0x7` | `ld_pseudo\tr1, 0x2, 0x7, 0x3` |
//! | `LD_IND` with `imm` | `r0 = *(u16 *)skb[r3]` | `r0 = *(u16 *)skb[r3 - 0x5]` |
//!
//! The assembler in [`super::asm`] reads both.

use std::fmt::Write;

use crate::op::{AluOp, AtomicOp, CallTarget, Cond, LdImm64Src, Op, Operand, Reg, Size, Swap, Width};

/// Which spelling to use where llvm-objdump-19's text loses information.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Syntax {
    /// Exactly llvm-objdump-19's text (see the module docs for the few exceptions).
    #[default]
    Llvm,
    /// llvm-objdump-19's text with extensions where it would be ambiguous.
    Lossless,
}

/// A signed hexadecimal number as llvm prints immediates: `0x5`, `-0x1`.
pub(crate) fn hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

fn reg(r: Reg, width: Width) -> String {
    match width {
        Width::W64 => format!("r{}", r.num()),
        Width::W32 => format!("w{}", r.num()),
    }
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::B => "8",
        Size::H => "16",
        Size::W => "32",
        Size::DW => "64",
    }
}

/// `(r1 + 0x8)` / `(r10 - 0x4)`.
fn mem(base: Reg, off: i16) -> String {
    if off < 0 {
        format!("(r{} - {:#x})", base.num(), i32::from(off).unsigned_abs())
    } else {
        format!("(r{} + {:#x})", base.num(), off)
    }
}

/// `+0x2` / `-0x3`: a branch offset.
fn branch(off: i64) -> String {
    if off < 0 {
        format!("-{:#x}", off.unsigned_abs())
    } else {
        format!("+{off:#x}")
    }
}

fn alu_symbol(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::Sdiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::Smod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Arsh => "s>>=",
        AluOp::Mov | AluOp::Movsx(_) => "=",
    }
}

pub(crate) fn cond_symbol(cond: Cond) -> &'static str {
    match cond {
        Cond::Eq => "==",
        Cond::Gt => ">",
        Cond::Ge => ">=",
        Cond::Set => "&",
        Cond::Ne => "!=",
        Cond::Sgt => "s>",
        Cond::Sge => "s>=",
        Cond::Lt => "<",
        Cond::Le => "<=",
        Cond::Slt => "s<",
        Cond::Sle => "s<=",
    }
}

fn atomic_alu(op: AtomicOp) -> Option<(&'static str, &'static str, bool)> {
    match op {
        AtomicOp::Add { fetch } => Some(("+=", "add", fetch)),
        AtomicOp::Or { fetch } => Some(("|=", "or", fetch)),
        AtomicOp::And { fetch } => Some(("&=", "and", fetch)),
        AtomicOp::Xor { fetch } => Some(("^=", "xor", fetch)),
        _ => None,
    }
}

/// Formats one instruction into `out` (cleared first).
pub fn format_op_into(op: &Op, syntax: Syntax, out: &mut String) {
    out.clear();
    // Writing into a String cannot fail.
    let _ = write_op(op, syntax, out);
}

/// Formats one instruction.
pub fn format_op(op: &Op, syntax: Syntax) -> String {
    let mut s = String::new();
    format_op_into(op, syntax, &mut s);
    s
}

fn write_op(op: &Op, syntax: Syntax, out: &mut String) -> std::fmt::Result {
    match *op {
        Op::Alu { width, op: AluOp::Movsx(bits), dst, src: Operand::Reg(src) } => {
            write!(out, "{} = (s{bits}){}", reg(dst, width), reg(src, width))
        }
        Op::Alu { width, op, dst, src } => {
            let rhs = match src {
                Operand::Reg(s) => reg(s, width),
                Operand::Imm(i) => hex(i64::from(i)),
            };
            write!(out, "{} {} {rhs}", reg(dst, width), alu_symbol(op))
        }
        Op::Neg { width, dst } => write!(out, "{} = -{}", reg(dst, width), reg(dst, width)),
        Op::Endian { swap, bits, dst } => {
            let name = match swap {
                Swap::ToLe => "le",
                Swap::ToBe => "be",
                Swap::Bswap => "bswap",
            };
            write!(out, "r{0} = {name}{bits} r{0}", dst.num())
        }
        Op::Ja { off } => write!(out, "goto {}", branch(off.into())),
        Op::Gotol { imm } => write!(out, "gotol {}", branch(imm.into())),
        Op::MayGoto { off } => write!(out, "may_goto {}", branch(off.into())),
        Op::Jump { width, cond, dst, src, off } => {
            let rhs = match src {
                Operand::Reg(s) => reg(s, width),
                Operand::Imm(i) => hex(i64::from(i)),
            };
            write!(out, "if {} {} {rhs} goto {}", reg(dst, width), cond_symbol(cond), branch(off.into()))
        }
        Op::Call(target) => match (target, syntax) {
            (CallTarget::Helper(id), _) | (CallTarget::Local(id), Syntax::Llvm) => {
                write!(out, "call {}", hex(id.into()))
            }
            (CallTarget::Kfunc { btf_id, .. }, Syntax::Llvm) => write!(out, "call {}", hex(btf_id.into())),
            (CallTarget::Local(rel), Syntax::Lossless) => write!(out, "call local {}", hex(rel.into())),
            (CallTarget::Kfunc { btf_id, off: 0 }, Syntax::Lossless) => {
                write!(out, "call kfunc {}", hex(btf_id.into()))
            }
            (CallTarget::Kfunc { btf_id, off }, Syntax::Lossless) => {
                write!(out, "call kfunc {}, {}", hex(btf_id.into()), hex(off.into()))
            }
        },
        Op::Callx { reg: r } => write!(out, "callx r{}", r.num()),
        Op::Exit => out.write_str("exit"),
        Op::LdImm64 { dst, src: LdImm64Src::Imm, imm, next_imm } => {
            // llvm prints the 64-bit value as a signed number.
            let v = Op::imm64(imm, next_imm) as i64;
            write!(out, "r{} = {} ll", dst.num(), hex(v))
        }
        Op::LdImm64 { dst, src, imm, next_imm } => {
            // llvm prints the pseudo immediate unsigned, unlike every other immediate.
            write!(out, "ld_pseudo\tr{}, {:#x}, {:#x}", dst.num(), src.code(), imm as u32)?;
            if syntax == Syntax::Lossless && next_imm != 0 {
                write!(out, ", {:#x}", next_imm as u32)?;
            }
            Ok(())
        }
        Op::LdAbs { size, imm } => write!(out, "r0 = *(u{} *)skb[{}]", size_name(size), hex(imm.into())),
        Op::LdInd { size, src, imm } => {
            write!(out, "r0 = *(u{} *)skb[r{}", size_name(size), src.num())?;
            if syntax == Syntax::Lossless && imm != 0 {
                if imm < 0 {
                    write!(out, " - {:#x}", imm.unsigned_abs())?;
                } else {
                    write!(out, " + {imm:#x}")?;
                }
            }
            out.write_char(']')
        }
        Op::Load { size, signed, dst, src, off } => {
            let kind = if signed { 's' } else { 'u' };
            write!(out, "r{} = *({kind}{} *){}", dst.num(), size_name(size), mem(src, off))
        }
        Op::StoreImm { size, dst, off, imm } => {
            write!(out, "*(u{} *){} = {}", size_name(size), mem(dst, off), hex(imm.into()))
        }
        Op::Store { size, dst, off, src } => {
            write!(out, "*(u{} *){} = r{}", size_name(size), mem(dst, off), src.num())
        }
        Op::Atomic { size, op, dst, src, off } => write_atomic(out, size, op, dst, src, off),
    }
}

fn write_atomic(
    out: &mut String,
    size: Size,
    op: AtomicOp,
    dst: Reg,
    src: Reg,
    off: i16,
) -> std::fmt::Result {
    let bits = size_name(size);
    let w = if size == Size::DW { Width::W64 } else { Width::W32 };
    let addr = mem(dst, off);
    match (op, size) {
        // llvm-objdump-19 prints the 32-bit non-fetching add with an `r` register.
        (AtomicOp::Add { fetch: false }, Size::W) => write!(out, "lock *(u32 *){addr} += r{}", src.num()),
        (AtomicOp::Xchg, _) => write!(
            out,
            "{} = xchg{}_{bits}({} {}, {})",
            reg(src, w),
            if w == Width::W32 { "32" } else { "" },
            format_args!("r{}", dst.num()),
            offset_suffix(off),
            reg(src, w)
        ),
        (AtomicOp::Cmpxchg, _) => write!(
            out,
            "{} = cmpxchg{}_{bits}(r{} {}, {}, {})",
            reg(Reg::R0, w),
            if w == Width::W32 { "32" } else { "" },
            dst.num(),
            offset_suffix(off),
            reg(Reg::R0, w),
            reg(src, w)
        ),
        (AtomicOp::LoadAcquire, _) => {
            // Encoded with the loaded register in dst_reg and the address in src_reg.
            let lw = if size == Size::DW { Width::W64 } else { Width::W32 };
            write!(out, "{} = load_acquire((u{bits} *){})", reg(dst, lw), mem(src, off))
        }
        (AtomicOp::StoreRelease, _) => write!(out, "store_release((u{bits} *){addr}, {})", reg(src, w)),
        (alu, _) => {
            let (sym, name, fetch) = atomic_alu(alu).expect("the remaining atomic ops are the ALU ones");
            if fetch {
                write!(out, "{} = atomic_fetch_{name}((u{bits} *){addr}, {})", reg(src, w), reg(src, w))
            } else {
                write!(out, "lock *(u{bits} *){addr} {sym} {}", reg(src, w))
            }
        }
    }
}

/// `+ 0x8` / `- 0x4`: the offset part of `xchg_64(r10 - 0x8, r1)`.
fn offset_suffix(off: i16) -> String {
    if off < 0 {
        format!("- {:#x}", i32::from(off).unsigned_abs())
    } else {
        format!("+ {off:#x}")
    }
}
