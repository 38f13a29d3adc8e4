//! Writing resolved CO-RE values into instructions, as libbpf's `bpf_core_patch_insn`: ALU
//! immediates, load/store offsets (and access size), `ld_imm64` immediates, and poisoning.

use super::{CoReError, Resolution};
use crate::insn::Insn;
use crate::opcode::{
    BPF_ALU, BPF_ALU64, BPF_B, BPF_CALL, BPF_DW, BPF_H, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_ST, BPF_STX,
    BPF_W,
};

/// The immediate of libbpf's poison instruction `call 0xbad2310` ("bad relo").
pub const POISON_IMM: i32 = 0x0bad_2310;

fn poison(insn: &mut Insn) {
    *insn = Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, POISON_IMM);
}

fn size_bytes(code: u8) -> u32 {
    match code & 0x18 {
        BPF_DW => 8,
        BPF_W => 4,
        BPF_H => 2,
        _ => 1,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    Some(match bytes {
        8 => BPF_DW,
        4 => BPF_W,
        2 => BPF_H,
        1 => BPF_B,
        _ => return None,
    })
}

/// Applies resolutions (from [`super::resolve`]) to the instructions of code section
/// `section`. All or nothing: on error `insns` is unchanged.
pub fn apply(section: &str, insns: &mut [Insn], resolutions: &[Resolution]) -> Result<(), CoReError> {
    let mut out = insns.to_vec();
    for r in resolutions {
        patch_one(section, &mut out, r)?;
    }
    insns.copy_from_slice(&out);
    Ok(())
}

fn patch_one(section: &str, insns: &mut [Insn], r: &Resolution) -> Result<(), CoReError> {
    let unexpected = |detail: String| CoReError::UnexpectedInsn {
        section: section.to_owned(),
        slot: r.slot,
        kind: r.kind,
        access: r.access.clone(),
        detail,
    };
    let at = r.slot.index();
    let insn = *insns.get(at).ok_or_else(|| unexpected(format!("past the end ({} slots)", insns.len())))?;
    let ld_imm64 = insn.is_ld_imm64();
    let poison_all = |insns: &mut [Insn]| {
        if ld_imm64 {
            if let Some(next) = insns.get_mut(at + 1) {
                poison(next);
            }
        }
        poison(&mut insns[at]);
    };
    if r.poison {
        poison_all(insns);
        return Ok(());
    }
    let (orig, new) = (r.orig_val, r.new_val);
    match insn.code & 0x07 {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & 0x08 != BPF_K {
                return Err(unexpected("ALU with a register source".to_owned()));
            }
            if r.validate && i64::from(insn.imm) as u64 != orig {
                return Err(unexpected(format!("ALU imm {} (expected {orig} -> {new})", insn.imm)));
            }
            insns[at].imm = new as i32;
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            if r.validate && i64::from(insn.off) as u64 != orig {
                return Err(unexpected(format!("memory off {} (expected {orig} -> {new})", insn.off)));
            }
            let off = i16::try_from(new).map_err(|_| unexpected(format!("offset {new} does not fit")))?;
            if r.fail_memsz_adjust {
                poison_all(insns);
                return Ok(());
            }
            insns[at].off = off;
            if r.new_sz != r.orig_sz {
                let got = size_bytes(insn.code);
                if got != r.orig_sz {
                    return Err(unexpected(format!("memory size {got} (expected {})", r.orig_sz)));
                }
                let sz = size_code(r.new_sz)
                    .ok_or_else(|| unexpected(format!("new memory size {} is not 1, 2, 4 or 8", r.new_sz)))?;
                insns[at].code = (insn.code & !0x18) | sz;
            }
        }
        BPF_LD => {
            let hi = insns.get(at + 1).copied();
            let Some(hi) = hi.filter(|h| {
                ld_imm64
                    && insn.src_reg() == 0
                    && insn.off == 0
                    && h.code == 0
                    && h.dst_reg() == 0
                    && h.src_reg() == 0
                    && h.off == 0
            }) else {
                return Err(unexpected("LD that is not a plain ld_imm64".to_owned()));
            };
            let imm = u64::from(insn.imm as u32) | (u64::from(hi.imm as u32) << 32);
            if r.validate && imm != orig {
                return Err(unexpected(format!("ld_imm64 imm {imm} (expected {orig} -> {new})")));
            }
            insns[at].imm = new as i32;
            insns[at + 1].imm = (new >> 32) as i32;
        }
        _ => return Err(unexpected(format!("opcode {:#04x} cannot be relocated", insn.code))),
    }
    Ok(())
}
