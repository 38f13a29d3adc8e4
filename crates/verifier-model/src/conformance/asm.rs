//! A small assembler for the uBPF `%r` syntax the bpf_conformance suite writes its programs in:
//! `mov %r0, 1`, `add32 %r1, %r2`, `ldxdw %r0, [%r1+8]`, `stb [%r10-1], 0x11`,
//! `lock fetch add32 [%r10-8], %r1`, `jne %r0, 15, label`, `ja +1`, `ja32 L`, `call 5`,
//! `call %r2`, `call local func`, `lddw %r0, 0x1122334455667788`, `be16 %r0`, `exit`.
//!
//! Unsuffixed ALU and jump mnemonics are 64-bit; a `32` suffix makes them 32-bit. `#` starts a
//! comment, `name:` defines a label, and a jump to `exit` where no such label exists goes to the
//! next `exit` instruction (the suite's convention). Immediates are 32-bit: decimal within
//! `i32`, hexadecimal up to `0xffffffff` as a bit pattern; offsets are 16-bit.

use std::collections::HashMap;

use bpf_patch::op::{AluOp, AtomicOp, CallTarget, Cond, LdImm64Src, Op, Operand, Reg, Size, Swap, Width};
use bpf_patch::Insn;

/// Why a program does not assemble (lines count from 1 within the `-- asm` section).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AsmError {
    /// No instructions at all.
    #[error("the program has no instructions")]
    Empty,
    /// Unknown mnemonic.
    #[error("line {line}: unknown mnemonic `{mnemonic}`")]
    UnknownMnemonic {
        /// Where.
        line: usize,
        /// The mnemonic.
        mnemonic: String,
    },
    /// Wrong number of operands.
    #[error("line {line}: invalid number of operands for {mnemonic}: expected {expected}, found {found}")]
    OperandCount {
        /// Where.
        line: usize,
        /// The mnemonic.
        mnemonic: String,
        /// Operands it takes.
        expected: usize,
        /// Operands given.
        found: usize,
    },
    /// An operand is not of the kind the mnemonic takes, or is malformed.
    #[error("line {line}: invalid {expected} `{text}`")]
    BadOperand {
        /// Where.
        line: usize,
        /// What was expected (`register`, `immediate`, `memory operand`, `jump target`, ...).
        expected: &'static str,
        /// The operand text.
        text: String,
    },
    /// A number does not fit its field.
    #[error("line {line}: `{text}` does not fit in {bits} bits")]
    Range {
        /// Where.
        line: usize,
        /// The number as written.
        text: String,
        /// Width of the field.
        bits: u8,
    },
    /// A jump names an undefined label.
    #[error("line {line}: unknown label `{label}`")]
    UnknownLabel {
        /// Where.
        line: usize,
        /// The label.
        label: String,
    },
}

/// A jump or call destination before labels are resolved.
#[derive(Clone, Debug)]
enum Target {
    Rel(i64),
    Label(String),
}

/// One parsed line: an instruction whose offset may await a label.
struct Line {
    line: usize,
    op: Op,
    target: Option<Target>,
    /// Bits of the offset field: 16 (`off`) or 32 (`imm`).
    bits: u8,
}

/// Assembles a program.
pub fn assemble(src: &str) -> Result<Vec<Insn>, AsmError> {
    let mut lines = Vec::new();
    let mut labels = HashMap::new();
    let mut slot = 0i64;
    let mut slots = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let line = i + 1;
        let mut text = raw.split('#').next().unwrap_or("").trim();
        if let Some((label, rest)) = text.split_once(':') {
            let label = label.trim();
            if !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                labels.insert(label.to_string(), slot);
                text = rest.trim();
            }
        }
        if text.is_empty() {
            continue;
        }
        let parsed = parse_line(line, text)?;
        slots.push(slot);
        slot += i64::from(parsed.op.slots());
        lines.push(parsed);
    }
    if lines.is_empty() {
        return Err(AsmError::Empty);
    }
    let mut out = Vec::with_capacity(usize::try_from(slot).unwrap_or(0));
    for (idx, l) in lines.iter().enumerate() {
        let here = slots[idx];
        let op = match &l.target {
            None => l.op,
            Some(t) => {
                let rel = match t {
                    Target::Rel(r) => *r,
                    Target::Label(name) => {
                        let dest = labels
                            .get(name)
                            .copied()
                            .or_else(|| (name == "exit").then(|| exit_after(&lines, &slots, idx)).flatten())
                            .ok_or_else(|| AsmError::UnknownLabel { line: l.line, label: name.clone() })?;
                        dest - here - 1
                    }
                };
                with_offset(l, rel)?
            }
        };
        op.encode_into(&mut out);
    }
    Ok(out)
}

/// The slot of the first `exit` at or after instruction `idx`, else the last one before it.
fn exit_after(lines: &[Line], slots: &[i64], idx: usize) -> Option<i64> {
    let is_exit = |i: &usize| matches!(lines[*i].op, Op::Exit);
    (idx..lines.len()).find(is_exit).or_else(|| (0..idx).rev().find(is_exit)).map(|i| slots[i])
}

fn with_offset(l: &Line, rel: i64) -> Result<Op, AsmError> {
    let range = || AsmError::Range { line: l.line, text: rel.to_string(), bits: l.bits };
    let off = || i16::try_from(rel).map_err(|_| range());
    let imm = || i32::try_from(rel).map_err(|_| range());
    Ok(match l.op {
        Op::Ja { .. } => Op::Ja { off: off()? },
        Op::Jump { width, cond, dst, src, .. } => Op::Jump { width, cond, dst, src, off: off()? },
        Op::Gotol { .. } => Op::Gotol { imm: imm()? },
        Op::Call(CallTarget::Local(_)) => Op::Call(CallTarget::Local(imm()?)),
        other => other,
    })
}

fn alu_op(name: &str) -> Option<AluOp> {
    Some(match name {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::Sdiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "mod" => AluOp::Mod,
        "smod" => AluOp::Smod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

fn cond(name: &str) -> Option<Cond> {
    Some(match name {
        "jeq" => Cond::Eq,
        "jgt" => Cond::Gt,
        "jge" => Cond::Ge,
        "jset" => Cond::Set,
        "jne" => Cond::Ne,
        "jsgt" => Cond::Sgt,
        "jsge" => Cond::Sge,
        "jlt" => Cond::Lt,
        "jle" => Cond::Le,
        "jslt" => Cond::Slt,
        "jsle" => Cond::Sle,
        _ => return None,
    })
}

fn size(name: &str) -> Option<Size> {
    Some(match name {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

/// `name`, `name32` or `name64` → (base name, width).
fn split_width(m: &str) -> (&str, Width) {
    if let Some(base) = m.strip_suffix("32") {
        (base, Width::W32)
    } else if let Some(base) = m.strip_suffix("64") {
        (base, Width::W64)
    } else {
        (m, Width::W64)
    }
}

struct Operands<'a> {
    line: usize,
    mnemonic: &'a str,
    items: Vec<&'a str>,
}

impl<'a> Operands<'a> {
    fn expect(&self, n: usize) -> Result<(), AsmError> {
        if self.items.len() == n {
            Ok(())
        } else {
            Err(AsmError::OperandCount {
                line: self.line,
                mnemonic: self.mnemonic.to_string(),
                expected: n,
                found: self.items.len(),
            })
        }
    }

    fn bad(&self, expected: &'static str, text: &str) -> AsmError {
        AsmError::BadOperand { line: self.line, expected, text: text.to_string() }
    }

    fn reg(&self, i: usize) -> Result<Reg, AsmError> {
        parse_reg(self.items[i]).ok_or_else(|| self.bad("register", self.items[i]))
    }

    fn is_reg(&self, i: usize) -> bool {
        self.items[i].starts_with('%')
    }

    fn number(&self, text: &str) -> Result<i128, AsmError> {
        parse_number(text).ok_or_else(|| self.bad("immediate", text))
    }

    /// A 32-bit immediate: decimal in `i32`, hex up to `0xffffffff` as a bit pattern.
    fn imm32(&self, i: usize) -> Result<i32, AsmError> {
        let text = self.items[i];
        let v = self.number(text)?;
        let hex = text.trim_start_matches(['-', '+']).starts_with("0x");
        let fits = if hex { (-(1i128 << 31)..(1i128 << 32)).contains(&v) } else { i32::try_from(v).is_ok() };
        if !fits {
            return Err(AsmError::Range { line: self.line, text: text.to_string(), bits: 32 });
        }
        Ok(v as u32 as i32)
    }

    fn operand(&self, i: usize) -> Result<Operand, AsmError> {
        if self.is_reg(i) {
            Ok(Operand::Reg(self.reg(i)?))
        } else {
            Ok(Operand::Imm(self.imm32(i)?))
        }
    }

    /// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
    fn mem(&self, i: usize) -> Result<(Reg, i16), AsmError> {
        let text = self.items[i];
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or_else(|| self.bad("memory operand", text))?
            .trim();
        let split = inner.find(['+', '-']).unwrap_or(inner.len());
        let reg = parse_reg(inner[..split].trim()).ok_or_else(|| self.bad("memory operand", text))?;
        let off_text = inner[split..].trim();
        let off = if off_text.is_empty() {
            0
        } else {
            let v =
                parse_number(&off_text.replace(' ', "")).ok_or_else(|| self.bad("memory operand", text))?;
            i16::try_from(v).map_err(|_| AsmError::Range {
                line: self.line,
                text: text.to_string(),
                bits: 16,
            })?
        };
        Ok((reg, off))
    }

    fn target(&self, i: usize) -> Result<Target, AsmError> {
        let text = self.items[i];
        if text.starts_with(['+', '-']) || text.starts_with(|c: char| c.is_ascii_digit()) {
            let v = self.number(text)?;
            return i64::try_from(v).map(Target::Rel).map_err(|_| self.bad("jump target", text));
        }
        if text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') && !text.is_empty() {
            Ok(Target::Label(text.to_string()))
        } else {
            Err(self.bad("jump target", text))
        }
    }
}

fn parse_reg(text: &str) -> Option<Reg> {
    let n: u8 = text.strip_prefix("%r")?.parse().ok()?;
    Reg::new(n)
}

fn parse_number(text: &str) -> Option<i128> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => body.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn parse_line(line: usize, text: &str) -> Result<Line, AsmError> {
    let (mnemonic, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    // `lock [fetch] op[32] [mem], %r` and `call local name` carry words before the operands.
    if mnemonic == "lock" {
        return parse_lock(line, rest);
    }
    let items: Vec<&str> =
        if rest.is_empty() { Vec::new() } else { rest.split(',').map(str::trim).collect() };
    let o = Operands { line, mnemonic, items };
    let plain = |op: Op| Line { line, op, target: None, bits: 16 };
    let unknown = || AsmError::UnknownMnemonic { line, mnemonic: mnemonic.to_string() };

    if mnemonic == "exit" {
        o.expect(0)?;
        return Ok(plain(Op::Exit));
    }
    if mnemonic == "call" {
        if let Some(name) = rest.strip_prefix("local ") {
            let o = Operands { line, mnemonic, items: vec![name.trim()] };
            let target = o.target(0)?;
            return Ok(Line { line, op: Op::Call(CallTarget::Local(0)), target: Some(target), bits: 32 });
        }
        o.expect(1)?;
        if o.is_reg(0) {
            return Ok(plain(Op::Callx { reg: o.reg(0)? }));
        }
        return Ok(plain(Op::Call(CallTarget::Helper(o.imm32(0)?))));
    }
    if mnemonic == "ja" || mnemonic == "ja32" {
        o.expect(1)?;
        let (op, bits) = if mnemonic == "ja" { (Op::Ja { off: 0 }, 16) } else { (Op::Gotol { imm: 0 }, 32) };
        return Ok(Line { line, op, target: Some(o.target(0)?), bits });
    }
    if mnemonic == "lddw" {
        o.expect(2)?;
        let dst = o.reg(0)?;
        let v = o.number(o.items[1])?;
        if !(-(1i128 << 63)..(1i128 << 64)).contains(&v) {
            return Err(AsmError::Range { line, text: o.items[1].to_string(), bits: 64 });
        }
        let v = v as u64;
        let op = Op::LdImm64 {
            dst,
            src: LdImm64Src::Imm,
            imm: v as u32 as i32,
            next_imm: (v >> 32) as u32 as i32,
        };
        return Ok(plain(op));
    }
    if let Some(sz) = mnemonic.strip_prefix("ldxs").and_then(size) {
        o.expect(2)?;
        let (src, off) = o.mem(1)?;
        return Ok(plain(Op::Load { size: sz, signed: true, dst: o.reg(0)?, src, off }));
    }
    if let Some(sz) = mnemonic.strip_prefix("ldx").and_then(size) {
        o.expect(2)?;
        let (src, off) = o.mem(1)?;
        return Ok(plain(Op::Load { size: sz, signed: false, dst: o.reg(0)?, src, off }));
    }
    if let Some(sz) = mnemonic.strip_prefix("stx").and_then(size) {
        o.expect(2)?;
        let (dst, off) = o.mem(0)?;
        return Ok(plain(Op::Store { size: sz, dst, off, src: o.reg(1)? }));
    }
    if let Some(sz) = mnemonic.strip_prefix("st").and_then(size) {
        o.expect(2)?;
        let (dst, off) = o.mem(0)?;
        return Ok(plain(Op::StoreImm { size: sz, dst, off, imm: o.imm32(1)? }));
    }
    if let Some(sz) = mnemonic.strip_prefix("ldabs").and_then(size) {
        o.expect(1)?;
        return Ok(plain(Op::LdAbs { size: sz, imm: o.imm32(0)? }));
    }
    if let Some(sz) = mnemonic.strip_prefix("ldind").and_then(size) {
        o.expect(2)?;
        return Ok(plain(Op::LdInd { size: sz, src: o.reg(0)?, imm: o.imm32(1)? }));
    }
    for (prefix, swap) in
        [("le", Swap::ToLe), ("be", Swap::ToBe), ("bswap", Swap::Bswap), ("swap", Swap::Bswap)]
    {
        if let Some(bits) = mnemonic.strip_prefix(prefix).and_then(|b| b.parse::<u8>().ok()) {
            if ![16, 32, 64].contains(&bits) {
                return Err(unknown());
            }
            o.expect(1)?;
            return Ok(plain(Op::Endian { swap, bits, dst: o.reg(0)? }));
        }
    }
    if let Some(rest) = mnemonic.strip_prefix("movsx") {
        // movsx{8,16,32}{32,64}
        let (bits, width) = match rest {
            "832" => (8, Width::W32),
            "1632" => (16, Width::W32),
            "864" => (8, Width::W64),
            "1664" => (16, Width::W64),
            "3264" => (32, Width::W64),
            _ => return Err(unknown()),
        };
        o.expect(2)?;
        return Ok(plain(Op::Alu {
            width,
            op: AluOp::Movsx(bits),
            dst: o.reg(0)?,
            src: Operand::Reg(o.reg(1)?),
        }));
    }
    let (base, width) = split_width(mnemonic);
    if base == "neg" {
        o.expect(1)?;
        return Ok(plain(Op::Neg { width, dst: o.reg(0)? }));
    }
    if let Some(op) = alu_op(base) {
        o.expect(2)?;
        return Ok(plain(Op::Alu { width, op, dst: o.reg(0)?, src: o.operand(1)? }));
    }
    if let Some(c) = cond(base) {
        o.expect(3)?;
        let op = Op::Jump { width, cond: c, dst: o.reg(0)?, src: o.operand(1)?, off: 0 };
        return Ok(Line { line, op, target: Some(o.target(2)?), bits: 16 });
    }
    Err(unknown())
}

fn parse_lock(line: usize, rest: &str) -> Result<Line, AsmError> {
    let (fetch, rest) = match rest.strip_prefix("fetch ") {
        Some(r) => (true, r.trim()),
        None => (false, rest),
    };
    let (name, operands) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let items: Vec<&str> =
        if operands.trim().is_empty() { Vec::new() } else { operands.split(',').map(str::trim).collect() };
    let o = Operands { line, mnemonic: "lock", items };
    o.expect(2)?;
    let (base, width) = split_width(name);
    let op = match base {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => return Err(AsmError::UnknownMnemonic { line, mnemonic: format!("lock {rest}") }),
    };
    let size = if width == Width::W32 { Size::W } else { Size::DW };
    let (dst, off) = o.mem(0)?;
    Ok(Line { line, op: Op::Atomic { size, op, dst, src: o.reg(1)?, off }, target: None, bits: 16 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::op::decode_all;

    fn ops(src: &str) -> Vec<Op> {
        let insns = assemble(src).expect("assembles");
        decode_all(&insns).expect("decodes").into_iter().map(|(_, op)| op).collect()
    }

    #[test]
    fn mnemonics_assemble_to_their_ops() {
        let r = |n| Reg::new(n).expect("valid register");
        #[rustfmt::skip]
        let cases: &[(&str, Op)] = &[
            ("add %r1, 2", Op::Alu { width: Width::W64, op: AluOp::Add, dst: r(1), src: Operand::Imm(2) }),
            ("add32 %r1, %r2", Op::Alu { width: Width::W32, op: AluOp::Add, dst: r(1), src: Operand::Reg(r(2)) }),
            ("mov32 %r0, 0xffffffff", Op::Alu { width: Width::W32, op: AluOp::Mov, dst: r(0), src: Operand::Imm(-1) }),
            ("sdiv64 %r0, -4", Op::Alu { width: Width::W64, op: AluOp::Sdiv, dst: r(0), src: Operand::Imm(-4) }),
            ("movsx1632 %r0, %r1", Op::Alu { width: Width::W32, op: AluOp::Movsx(16), dst: r(0), src: Operand::Reg(r(1)) }),
            ("neg32 %r3", Op::Neg { width: Width::W32, dst: r(3) }),
            ("be16 %r0", Op::Endian { swap: Swap::ToBe, bits: 16, dst: r(0) }),
            ("swap64 %r0", Op::Endian { swap: Swap::Bswap, bits: 64, dst: r(0) }),
            ("ldxh %r0, [%r1+2]", Op::Load { size: Size::H, signed: false, dst: r(0), src: r(1), off: 2 }),
            ("stw [%r10-8], 0x11", Op::StoreImm { size: Size::W, dst: r(10), off: -8, imm: 0x11 }),
            ("stxdw [%r1], %r2", Op::Store { size: Size::DW, dst: r(1), off: 0, src: r(2) }),
            ("lock fetch xor32 [%r10-8], %r1", Op::Atomic { size: Size::W, op: AtomicOp::Xor { fetch: true }, dst: r(10), src: r(1), off: -8 }),
            ("lock cmpxchg [%r10-8], %r1", Op::Atomic { size: Size::DW, op: AtomicOp::Cmpxchg, dst: r(10), src: r(1), off: -8 }),
            ("jsge32 %r1, -1, +3", Op::Jump { width: Width::W32, cond: Cond::Sge, dst: r(1), src: Operand::Imm(-1), off: 3 }),
            ("ja -1", Op::Ja { off: -1 }),
            ("call 5", Op::Call(CallTarget::Helper(5))),
            ("call %r2", Op::Callx { reg: r(2) }),
            ("lddw %r0, -1", Op::LdImm64 { dst: r(0), src: LdImm64Src::Imm, imm: -1, next_imm: -1 }),
            ("exit", Op::Exit),
        ];
        for (src, want) in cases {
            assert_eq!(ops(src), vec![*want], "{src}");
        }
    }

    #[test]
    fn labels_resolve_across_ld_imm64() {
        let got = ops("ja L\nlddw %r0, 1\nL: exit\njne %r0, 0, exit\ncall local f\nf:\nexit");
        assert_eq!(got[0], Op::Ja { off: 2 });
        assert!(matches!(got[3], Op::Jump { off: 1, .. }));
        assert_eq!(got[4], Op::Call(CallTarget::Local(0)));
    }

    type Check = fn(&AsmError) -> bool;

    #[test]
    fn bad_input_is_refused_with_its_line() {
        #[rustfmt::skip]
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, AsmError::Empty)),
            ("# only a comment", |e| matches!(e, AsmError::Empty)),
            ("ldxq %r0, %r1", |e| matches!(e, AsmError::UnknownMnemonic { line: 1, .. })),
            ("exit\nor %r0, %r50", |e| matches!(e, AsmError::BadOperand { line: 2, .. })),
            ("lddw %r0", |e| matches!(e, AsmError::OperandCount { expected: 2, found: 1, .. })),
            ("lock or [%r10-8]", |e| matches!(e, AsmError::OperandCount { .. })),
            ("lock", |e| matches!(e, AsmError::OperandCount { .. })),
            ("mov32 %r0, 2147483648", |e| matches!(e, AsmError::Range { bits: 32, .. })),
            ("mov32 %r0, 0x100000000", |e| matches!(e, AsmError::Range { bits: 32, .. })),
            ("ldxb %r0, [%r1+0x10000]", |e| matches!(e, AsmError::Range { bits: 16, .. })),
            ("ldxb %r0, %r1", |e| matches!(e, AsmError::BadOperand { .. })),
            ("ja NOWHERE", |e| matches!(e, AsmError::UnknownLabel { .. })),
        ];
        for (src, ok) in cases {
            let err = assemble(src).expect_err(src);
            assert!(ok(&err), "{src}: {err}");
        }
    }
}
