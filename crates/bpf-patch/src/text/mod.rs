//! The text syntax: llvm-objdump-19's BPF assembly. [`disasm`] prints instructions exactly as
//! `llvm-objdump-19 -d --no-show-raw-insn` does; [`asm`] parses that syntax back, plus labels for
//! hand-written code. Text → bytes → text is the identity for every line the disassembler prints.
//!
//! ```
//! use bpf_patch::text::{assemble, listing};
//!
//! let slots = assemble("r0 = 0x2\nif r1 > 0x5 goto <out>\nr0 = 0x1\nout:\nexit").expect("valid");
//! assert_eq!(listing(&slots).expect("decodes"), "0: r0 = 0x2\n1: if r1 > 0x5 goto +0x1\n2: r0 = 0x1\n3: exit\n");
//! ```

pub mod asm;
pub mod disasm;

use std::fmt::Write;

pub use asm::{assemble, assemble_ops, AsmError};
pub use disasm::{format_op, format_op_into, Syntax};

use crate::insn::{Insn, Slot};
use crate::op::{decode_all, DecodeError};

/// Decodes a slot stream and prints each instruction: `(slot, text)` pairs.
pub fn disassemble(insns: &[Insn], syntax: Syntax) -> Result<Vec<(Slot, String)>, DecodeError> {
    Ok(decode_all(insns)?.into_iter().map(|(slot, op)| (slot, format_op(&op, syntax))).collect())
}

/// The `bpfpatch disasm` listing: one `INDEX: TEXT` line per instruction, INDEX in 8-byte slots
/// (an `ld_imm64` takes two), TEXT in [`Syntax::Llvm`]. The assembler accepts these lines back.
pub fn listing(insns: &[Insn]) -> Result<String, DecodeError> {
    listing_with(insns, Syntax::Llvm)
}

/// [`listing`] with a chosen syntax.
pub fn listing_with(insns: &[Insn], syntax: Syntax) -> Result<String, DecodeError> {
    let ops = decode_all(insns)?;
    let mut out = String::with_capacity(ops.len() * 32);
    let mut text = String::new();
    for (slot, op) in ops {
        format_op_into(&op, syntax, &mut text);
        let _ = writeln!(out, "{slot}: {text}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
