//! Decoding one instruction: the kernel verifier's strictness (unknown opcodes, registers above
//! R10 and set reserved fields are errors carrying the slot index).

use super::*;

/// Field checks shared by the decoders.
struct Fields<'a> {
    insn: &'a Insn,
    slot: Slot,
}

impl Fields<'_> {
    fn reg(&self, n: u8) -> Result<Reg, DecodeError> {
        Reg::new(n).ok_or(DecodeError::BadRegister { slot: self.slot, code: self.insn.code, reg: n })
    }
    fn dst(&self) -> Result<Reg, DecodeError> {
        self.reg(self.insn.dst_reg())
    }
    fn src(&self) -> Result<Reg, DecodeError> {
        self.reg(self.insn.src_reg())
    }
    fn zero(&self, field: &'static str, value: i64) -> Result<(), DecodeError> {
        if value == 0 {
            Ok(())
        } else {
            Err(DecodeError::ReservedField { slot: self.slot, code: self.insn.code, field, value })
        }
    }
    fn zero_dst(&self) -> Result<(), DecodeError> {
        self.zero("dst_reg", self.insn.dst_reg().into())
    }
    fn zero_src(&self) -> Result<(), DecodeError> {
        self.zero("src_reg", self.insn.src_reg().into())
    }
    fn zero_off(&self) -> Result<(), DecodeError> {
        self.zero("off", self.insn.off.into())
    }
    fn zero_imm(&self) -> Result<(), DecodeError> {
        self.zero("imm", self.insn.imm.into())
    }
    fn unknown(&self) -> DecodeError {
        DecodeError::UnknownOpcode { slot: self.slot, code: self.insn.code }
    }
    fn invalid(&self, field: &'static str, value: i64) -> DecodeError {
        DecodeError::InvalidField { slot: self.slot, code: self.insn.code, field, value }
    }
    /// The second operand: register for `BPF_X` (imm must be 0), immediate for `BPF_K`
    /// (src_reg must be 0).
    fn operand(&self) -> Result<Operand, DecodeError> {
        if bpf_src(self.insn.code) == BPF_X {
            self.zero_imm()?;
            Ok(Operand::Reg(self.src()?))
        } else {
            self.zero_src()?;
            Ok(Operand::Imm(self.insn.imm))
        }
    }
}

/// See [`Op::decode`].
pub(super) fn decode(insns: &[Insn], slot: Slot) -> Result<Op, DecodeError> {
    let insn = insns.first().ok_or(DecodeError::TruncatedLdImm64 { slot })?;
    let f = Fields { insn, slot };
    let code = insn.code;
    match bpf_class(code) {
        BPF_ALU | BPF_ALU64 => decode_alu(&f),
        BPF_JMP | BPF_JMP32 => decode_jmp(&f),
        BPF_LD => decode_ld(&f, insns.get(1)),
        BPF_LDX => {
            let signed = match bpf_mode(code) {
                BPF_MEM => false,
                BPF_MEMSX if bpf_size(code) != BPF_DW => true,
                _ => return Err(f.unknown()),
            };
            f.zero_imm()?;
            Ok(Op::Load { size: Size::from_code(code), signed, dst: f.dst()?, src: f.src()?, off: insn.off })
        }
        BPF_ST => {
            if bpf_mode(code) != BPF_MEM {
                return Err(f.unknown());
            }
            f.zero_src()?;
            Ok(Op::StoreImm { size: Size::from_code(code), dst: f.dst()?, off: insn.off, imm: insn.imm })
        }
        _ => {
            // BPF_STX
            let size = Size::from_code(code);
            match bpf_mode(code) {
                BPF_MEM => {
                    f.zero_imm()?;
                    Ok(Op::Store { size, dst: f.dst()?, off: insn.off, src: f.src()? })
                }
                BPF_ATOMIC => {
                    let op = AtomicOp::from_imm(insn.imm)
                        .ok_or_else(|| f.invalid("atomic imm", insn.imm.into()))?;
                    let ordered = matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
                    if !ordered && !matches!(size, Size::W | Size::DW) {
                        return Err(f.unknown());
                    }
                    Ok(Op::Atomic { size, op, dst: f.dst()?, src: f.src()?, off: insn.off })
                }
                _ => Err(f.unknown()),
            }
        }
    }
}

fn decode_alu(f: &Fields<'_>) -> Result<Op, DecodeError> {
    let insn = f.insn;
    let code = insn.code;
    let width = if bpf_class(code) == BPF_ALU64 { Width::W64 } else { Width::W32 };
    let dst = f.dst()?;
    let op = match bpf_op(code) {
        BPF_NEG => {
            if bpf_src(code) != BPF_K {
                return Err(f.unknown());
            }
            f.zero_src()?;
            f.zero_off()?;
            f.zero_imm()?;
            return Ok(Op::Neg { width, dst });
        }
        BPF_END => {
            let swap = match (width, bpf_src(code)) {
                (Width::W32, BPF_TO_LE) => Swap::ToLe,
                (Width::W32, _) => Swap::ToBe,
                (Width::W64, BPF_TO_LE) => Swap::Bswap,
                (Width::W64, _) => return Err(f.unknown()),
            };
            f.zero_src()?;
            f.zero_off()?;
            if !matches!(insn.imm, 16 | 32 | 64) {
                return Err(f.invalid("byte-swap width", insn.imm.into()));
            }
            // The match above guarantees the value fits.
            let bits = insn.imm as u8;
            return Ok(Op::Endian { swap, bits, dst });
        }
        BPF_DIV | BPF_MOD => {
            let signed = match insn.off {
                0 => false,
                1 => true,
                v => return Err(f.invalid("off", v.into())),
            };
            match (bpf_op(code), signed) {
                (BPF_DIV, false) => AluOp::Div,
                (BPF_DIV, true) => AluOp::Sdiv,
                (_, false) => AluOp::Mod,
                (_, true) => AluOp::Smod,
            }
        }
        BPF_MOV => match insn.off {
            0 => AluOp::Mov,
            8 | 16 | 32 if bpf_src(code) == BPF_X => {
                if width == Width::W32 && insn.off == 32 {
                    return Err(f.invalid("off", insn.off.into()));
                }
                AluOp::Movsx(insn.off as u8)
            }
            v => return Err(f.invalid("off", v.into())),
        },
        op => {
            f.zero_off()?;
            match op {
                BPF_ADD => AluOp::Add,
                BPF_SUB => AluOp::Sub,
                BPF_MUL => AluOp::Mul,
                BPF_OR => AluOp::Or,
                BPF_AND => AluOp::And,
                BPF_LSH => AluOp::Lsh,
                BPF_RSH => AluOp::Rsh,
                BPF_XOR => AluOp::Xor,
                BPF_ARSH => AluOp::Arsh,
                _ => return Err(f.unknown()),
            }
        }
    };
    Ok(Op::Alu { width, op, dst, src: f.operand()? })
}

fn decode_jmp(f: &Fields<'_>) -> Result<Op, DecodeError> {
    let insn = f.insn;
    let code = insn.code;
    let width = if bpf_class(code) == BPF_JMP { Width::W64 } else { Width::W32 };
    let cond = match bpf_op(code) {
        BPF_JA => {
            if bpf_src(code) != BPF_K {
                return Err(f.unknown());
            }
            f.zero_dst()?;
            f.zero_src()?;
            return if width == Width::W64 {
                f.zero_imm()?;
                Ok(Op::Ja { off: insn.off })
            } else {
                f.zero_off()?;
                Ok(Op::Gotol { imm: insn.imm })
            };
        }
        BPF_CALL if width == Width::W64 => {
            if bpf_src(code) == BPF_X {
                f.zero_src()?;
                f.zero_off()?;
                f.zero_imm()?;
                return Ok(Op::Callx { reg: f.dst()? });
            }
            f.zero_dst()?;
            let target = match insn.src_reg() {
                0 => {
                    f.zero_off()?;
                    CallTarget::Helper(insn.imm)
                }
                BPF_PSEUDO_CALL => {
                    f.zero_off()?;
                    CallTarget::Local(insn.imm)
                }
                BPF_PSEUDO_KFUNC_CALL => CallTarget::Kfunc { btf_id: insn.imm, off: insn.off },
                v => return Err(f.invalid("call src_reg", v.into())),
            };
            return Ok(Op::Call(target));
        }
        BPF_EXIT if width == Width::W64 => {
            if bpf_src(code) != BPF_K {
                return Err(f.unknown());
            }
            f.zero_dst()?;
            f.zero_src()?;
            f.zero_off()?;
            f.zero_imm()?;
            return Ok(Op::Exit);
        }
        BPF_JCOND if width == Width::W64 => {
            if bpf_src(code) != BPF_K {
                return Err(f.unknown());
            }
            if insn.src_reg() != BPF_MAY_GOTO {
                return Err(f.invalid("jcond src_reg", insn.src_reg().into()));
            }
            f.zero_dst()?;
            f.zero_imm()?;
            return Ok(Op::MayGoto { off: insn.off });
        }
        BPF_JEQ => Cond::Eq,
        BPF_JGT => Cond::Gt,
        BPF_JGE => Cond::Ge,
        BPF_JSET => Cond::Set,
        BPF_JNE => Cond::Ne,
        BPF_JSGT => Cond::Sgt,
        BPF_JSGE => Cond::Sge,
        BPF_JLT => Cond::Lt,
        BPF_JLE => Cond::Le,
        BPF_JSLT => Cond::Slt,
        BPF_JSLE => Cond::Sle,
        _ => return Err(f.unknown()),
    };
    Ok(Op::Jump { width, cond, dst: f.dst()?, src: f.operand()?, off: insn.off })
}

fn decode_ld(f: &Fields<'_>, next: Option<&Insn>) -> Result<Op, DecodeError> {
    let insn = f.insn;
    let code = insn.code;
    let size = Size::from_code(code);
    match bpf_mode(code) {
        BPF_IMM if size == Size::DW => {
            let src = LdImm64Src::from_code(insn.src_reg())
                .ok_or_else(|| f.invalid("ld_imm64 src_reg", insn.src_reg().into()))?;
            f.zero_off()?;
            let dst = f.dst()?;
            let tail_slot = Slot(f.slot.0.saturating_add(1));
            let next = next.ok_or(DecodeError::TruncatedLdImm64 { slot: f.slot })?;
            if next.code != 0 || next.dst_reg() != 0 || next.src_reg() != 0 || next.off != 0 {
                return Err(DecodeError::BadLdImm64Tail {
                    slot: tail_slot,
                    code: next.code,
                    dst: next.dst_reg(),
                    src: next.src_reg(),
                    off: next.off,
                });
            }
            Ok(Op::LdImm64 { dst, src, imm: insn.imm, next_imm: next.imm })
        }
        BPF_ABS | BPF_IND if size != Size::DW => {
            f.zero_dst()?;
            f.zero_off()?;
            if bpf_mode(code) == BPF_ABS {
                f.zero_src()?;
                Ok(Op::LdAbs { size, imm: insn.imm })
            } else {
                Ok(Op::LdInd { size, src: f.src()?, imm: insn.imm })
            }
        }
        _ => Err(f.unknown()),
    }
}
