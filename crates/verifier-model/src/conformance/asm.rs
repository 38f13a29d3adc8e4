//! Assembler for the uBPF-style `%r` syntax of bpf_conformance `.data` files (`add32 %r0, 1`,
//! `ldxw %r0, [%r1+4]`, `lock fetch add [%r10-8], %r1`, `call local f`, labels, and the implicit
//! label `exit` at the first `exit`). Error messages use the reference assembler's wording
//! (`Invalid register: %r50`, `Invalid mnemonic: ldxq`, ...) so expected errors can be compared.
//! This is not the llvm-objdump syntax of `bpf_patch::text`.

use std::collections::HashMap;

use bpf_patch::opcode::*;
use bpf_patch::Insn;
use thiserror::Error;

/// An assembly error: the line (1-based within the `-- asm` section) and the reference message.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// Line within the assembly text (1-based; 0 for errors found after the last line).
    pub line: usize,
    /// Message in the reference assembler's wording.
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> AsmError {
    AsmError { line, message: message.into() }
}

/// Assembles `%r`-syntax text into slots. `#` starts a comment.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut out: Vec<Insn> = Vec::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut fixups: Vec<(usize, usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let code = raw.split('#').next().unwrap_or("");
        let mut words = code.split_whitespace();
        let Some(mnemonic) = words.next() else { continue };
        let operands: Vec<&str> = words.map(|w| w.trim_end_matches(',')).filter(|w| !w.is_empty()).collect();
        if let Some(label) = mnemonic.strip_suffix(':') {
            if labels.insert(label.to_owned(), out.len()).is_some() {
                return Err(err(line, format!("Duplicate label ({label})")));
            }
            continue;
        }
        if mnemonic == "exit" {
            labels.entry("exit".to_owned()).or_insert(out.len());
        }
        let a = Asm { line, operands: &operands };
        let at = out.len();
        let (insn, target) = a.encode(mnemonic, &mut out)?;
        if let Some(t) = target {
            fixups.push((at, line, t));
        }
        if let Some(insn) = insn {
            out.push(insn);
        }
    }
    for (at, line, label) in fixups {
        let to = *labels.get(&label).ok_or_else(|| err(line, format!("Invalid label: {label}")))?;
        let rel = to as i64 - at as i64 - 1;
        let insn = &mut out[at];
        if insn.code == BPF_JMP | BPF_CALL || insn.code == BPF_JMP32 | BPF_JA {
            insn.imm = rel as i32;
        } else {
            insn.off =
                i16::try_from(rel).map_err(|_| err(line, format!("Offset out of 16-bit range: {rel}")))?;
        }
    }
    Ok(out)
}

struct Asm<'a> {
    line: usize,
    operands: &'a [&'a str],
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => body.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

impl Asm<'_> {
    fn err(&self, m: impl Into<String>) -> AsmError {
        err(self.line, m)
    }

    fn count(&self, mnemonic: &str, n: usize) -> Result<(), AsmError> {
        if self.operands.len() == n {
            Ok(())
        } else {
            Err(self.err(format!("Invalid number of operands for mnemonic: {mnemonic}")))
        }
    }

    fn reg(&self, s: &str) -> Result<u8, AsmError> {
        s.strip_prefix("%r")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|&n| n <= 15 && !s[2..].starts_with('+'))
            .ok_or_else(|| self.err(format!("Invalid register: {s}")))
    }

    fn imm32(&self, s: &str) -> Result<i32, AsmError> {
        let bad = || self.err(format!("Immediate out of 32-bit range: {s}"));
        let v = parse_int(s).ok_or_else(|| self.err(format!("Invalid immediate: {s}")))?;
        if s.contains("0x") || s.contains("0X") {
            if !(0..=i128::from(u32::MAX)).contains(&v) {
                return Err(bad());
            }
            Ok(v as u32 as i32)
        } else {
            i32::try_from(v).map_err(|_| bad())
        }
    }

    fn off16(&self, s: &str) -> Result<i16, AsmError> {
        let bad = || self.err(format!("Offset out of 16-bit range: {s}"));
        let v = parse_int(s).ok_or_else(|| self.err(format!("Invalid offset: {s}")))?;
        if s.contains("0x") && v >= 0 {
            if v > i128::from(u16::MAX) {
                return Err(bad());
            }
            Ok(v as u16 as i16)
        } else {
            i16::try_from(v).map_err(|_| bad())
        }
    }

    /// `[%rN+off]`, `[%rN-off]` or `[%rN]`.
    fn mem(&self, s: &str) -> Result<(u8, i16), AsmError> {
        let bad = || self.err(format!("Failed to decode register and offset: {s}"));
        let inner = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).ok_or_else(bad)?;
        match inner.find(['+', '-']) {
            Some(i) => Ok((self.reg(&inner[..i])?, self.off16(&inner[i..])?)),
            None => Ok((self.reg(inner)?, 0)),
        }
    }

    /// A jump target: `+n`/`-n` or a label (fixed up later).
    fn target(&self, s: &str) -> Result<(i32, Option<String>), AsmError> {
        if s.starts_with(['+', '-']) {
            Ok((i32::from(self.off16(s)?), None))
        } else {
            Ok((0, Some(s.to_owned())))
        }
    }

    fn encode(&self, m: &str, out: &mut Vec<Insn>) -> Result<(Option<Insn>, Option<String>), AsmError> {
        let ops = self.operands;
        let size = |s: &str| match s {
            "b" => Some(BPF_B),
            "h" => Some(BPF_H),
            "w" => Some(BPF_W),
            "dw" => Some(BPF_DW),
            _ => None,
        };
        if m == "lddw" {
            self.count(m, 2)?;
            let v = parse_int(ops[1]).ok_or_else(|| self.err(format!("Invalid immediate: {}", ops[1])))?;
            let v = v as u64;
            out.push(Insn::new(LD_IMM64, self.reg(ops[0])?, 0, 0, v as u32 as i32));
            return Ok((Some(Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32)), None));
        }
        if let Some(rest) = m.strip_prefix("ldx") {
            let (signed, sz) = match rest.strip_prefix('s') {
                Some(s) if size(s).is_some() && s != "dw" => (true, size(s)),
                _ => (false, size(rest)),
            };
            let sz = sz.ok_or_else(|| self.err(format!("Invalid mnemonic: {m}")))?;
            self.count(m, 2)?;
            let (src, off) = self.mem(ops[1])?;
            let mode = if signed { BPF_MEMSX } else { BPF_MEM };
            return Ok((Some(Insn::new(BPF_LDX | mode | sz, self.reg(ops[0])?, src, off, 0)), None));
        }
        if let Some(sz) = m.strip_prefix("stx").and_then(size) {
            self.count(m, 2)?;
            let (dst, off) = self.mem(ops[0])?;
            return Ok((Some(Insn::new(BPF_STX | BPF_MEM | sz, dst, self.reg(ops[1])?, off, 0)), None));
        }
        if let Some(sz) = m.strip_prefix("st").and_then(size) {
            self.count(m, 2)?;
            let (dst, off) = self.mem(ops[0])?;
            return Ok((Some(Insn::new(BPF_ST | BPF_MEM | sz, dst, 0, off, self.imm32(ops[1])?)), None));
        }
        if m == "lock" {
            return self.lock().map(|i| (Some(i), None));
        }
        if let Some(r) = self.endian(m)? {
            return Ok((Some(r), None));
        }
        match m {
            "exit" => {
                self.count(m, 0)?;
                return Ok((Some(Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)), None));
            }
            "ja" | "ja32" => {
                self.count(m, 1)?;
                let (rel, label) = self.target(ops[0])?;
                let insn = if m == "ja" {
                    Insn::new(BPF_JMP | BPF_JA, 0, 0, rel as i16, 0)
                } else {
                    Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, rel)
                };
                return Ok((Some(insn), label));
            }
            "call" => return self.call(),
            _ => {}
        }
        let (base, class) = match (m.strip_suffix("32"), m.strip_suffix("64")) {
            (Some(b), _) if !b.starts_with("movsx") => (b, 32),
            (_, Some(b)) if !b.starts_with("movsx") => (b, 64),
            _ => (m, 64),
        };
        if let Some(j) = jmp_op(base) {
            self.count(m, 3)?;
            let cls = if class == 32 { BPF_JMP32 } else { BPF_JMP };
            let dst = self.reg(ops[0])?;
            let (rel, label) = self.target(ops[2])?;
            let insn = if ops[1].starts_with('%') {
                Insn::new(cls | j | BPF_X, dst, self.reg(ops[1])?, rel as i16, 0)
            } else {
                Insn::new(cls | j | BPF_K, dst, 0, rel as i16, self.imm32(ops[1])?)
            };
            return Ok((Some(insn), label));
        }
        self.alu(m, base, class).map(|i| (Some(i), None))
    }

    fn endian(&self, m: &str) -> Result<Option<Insn>, AsmError> {
        let (code, bits) = if let Some(b) = m.strip_prefix("be") {
            (BPF_ALU | BPF_END | BPF_TO_BE, b)
        } else if let Some(b) = m.strip_prefix("le") {
            (BPF_ALU | BPF_END | BPF_TO_LE, b)
        } else if let Some(b) = m.strip_prefix("bswap").or_else(|| m.strip_prefix("swap")) {
            (BPF_ALU64 | BPF_END | BPF_TO_LE, b)
        } else {
            return Ok(None);
        };
        if !matches!(bits, "16" | "32" | "64") {
            return Err(self.err(format!("Invalid mnemonic: {m}")));
        }
        self.count(m, 1)?;
        Ok(Some(Insn::new(code, self.reg(self.operands[0])?, 0, 0, self.imm32(bits)?)))
    }

    fn alu(&self, m: &str, base: &str, class: u32) -> Result<Insn, AsmError> {
        let cls = if class == 32 { BPF_ALU } else { BPF_ALU64 };
        let (op, off) = match base {
            "add" => (BPF_ADD, 0),
            "sub" => (BPF_SUB, 0),
            "mul" => (BPF_MUL, 0),
            "div" => (BPF_DIV, 0),
            "sdiv" => (BPF_DIV, 1),
            "or" => (BPF_OR, 0),
            "and" => (BPF_AND, 0),
            "lsh" => (BPF_LSH, 0),
            "rsh" => (BPF_RSH, 0),
            "neg" => (BPF_NEG, 0),
            "mod" => (BPF_MOD, 0),
            "smod" => (BPF_MOD, 1),
            "xor" => (BPF_XOR, 0),
            "mov" => (BPF_MOV, 0),
            "arsh" => (BPF_ARSH, 0),
            // movsx<from><to>: movsx864, movsx832, movsx1664, movsx1632, movsx3264
            _ => {
                let spec =
                    base.strip_prefix("movsx").ok_or_else(|| self.err(format!("Invalid mnemonic: {m}")))?;
                let (from, to) = match spec {
                    "864" => (8, 64),
                    "832" => (8, 32),
                    "1664" => (16, 64),
                    "1632" => (16, 32),
                    "3264" => (32, 64),
                    _ => return Err(self.err(format!("Invalid mnemonic: {m}"))),
                };
                self.count(m, 2)?;
                let c = if to == 32 { BPF_ALU } else { BPF_ALU64 };
                let (d, s) = (self.reg(self.operands[0])?, self.reg(self.operands[1])?);
                return Ok(Insn::new(c | BPF_MOV | BPF_X, d, s, from, 0));
            }
        };
        let ops = self.operands;
        if op == BPF_NEG {
            self.count(m, 1)?;
            return Ok(Insn::new(cls | op, self.reg(ops[0])?, 0, 0, 0));
        }
        self.count(m, 2)?;
        let dst = self.reg(ops[0])?;
        if ops[1].starts_with('%') {
            Ok(Insn::new(cls | op | BPF_X, dst, self.reg(ops[1])?, off, 0))
        } else {
            Ok(Insn::new(cls | op | BPF_K, dst, 0, off, self.imm32(ops[1])?))
        }
    }

    fn lock(&self) -> Result<Insn, AsmError> {
        let ops = self.operands;
        let bad = || self.err("Invalid number of operands for lock");
        let (fetch, rest) = match ops.first() {
            None => return Err(bad()),
            Some(&"fetch") => (true, &ops[1..]),
            Some(_) => (false, ops),
        };
        let [op, mem, src] = rest else { return Err(bad()) };
        let (base, sz) = match op.strip_suffix("32") {
            Some(b) => (b, BPF_W),
            None => (*op, BPF_DW),
        };
        let imm = match base {
            "add" => i32::from(BPF_ADD),
            "or" => i32::from(BPF_OR),
            "and" => i32::from(BPF_AND),
            "xor" => i32::from(BPF_XOR),
            "xchg" => BPF_XCHG,
            "cmpxchg" => BPF_CMPXCHG,
            _ => return Err(self.err(format!("Invalid mnemonic: {op}"))),
        };
        let imm = if fetch { imm | BPF_FETCH } else { imm };
        let (dst, off) = self.mem(mem)?;
        Ok(Insn::new(BPF_STX | BPF_ATOMIC | sz, dst, self.reg(src)?, off, imm))
    }

    fn call(&self) -> Result<(Option<Insn>, Option<String>), AsmError> {
        let ops = self.operands;
        let (mode, target) = match ops {
            [t] => ("helper", *t),
            [m, t] => (*m, *t),
            _ => return Err(self.err("Invalid number of operands for mnemonic: call")),
        };
        let call = BPF_JMP | BPF_CALL;
        match mode {
            "helper" if target.starts_with('%') => {
                Ok((Some(Insn::new(call | BPF_X, self.reg(target)?, 0, 0, 0)), None))
            }
            "helper" => Ok((Some(Insn::new(call, 0, 0, 0, self.imm32(target)?)), None)),
            "local" => {
                let (rel, label) = self.target(target)?;
                Ok((Some(Insn::new(call, 0, BPF_PSEUDO_CALL, 0, rel)), label))
            }
            "runtime" => Ok((Some(Insn::new(call, 0, BPF_PSEUDO_KFUNC_CALL, 0, self.imm32(target)?)), None)),
            _ => Err(self.err("Invalid call mode")),
        }
    }
}

fn jmp_op(base: &str) -> Option<u8> {
    Some(match base {
        "jeq" => BPF_JEQ,
        "jgt" => BPF_JGT,
        "jge" => BPF_JGE,
        "jset" => BPF_JSET,
        "jne" => BPF_JNE,
        "jsgt" => BPF_JSGT,
        "jsge" => BPF_JSGE,
        "jlt" => BPF_JLT,
        "jle" => BPF_JLE,
        "jslt" => BPF_JSLT,
        "jsle" => BPF_JSLE,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_reference_assembler() {
        type Fields = (u8, u8, u8, i16, i32);
        let cases: &[(&str, Fields)] = &[
            ("add32 %r0, -3", (0x04, 0, 0, 0, -3)),
            ("mov %r1, %r2", (0xbf, 1, 2, 0, 0)),
            ("ldxh %r3, [%r1+12]", (0x69, 3, 1, 12, 0)),
            ("ldxsb %r3, [%r1-2]", (0x91, 3, 1, -2, 0)),
            ("stw [%r10-4], 0x7fffffff", (0x62, 10, 0, -4, 0x7fff_ffff)),
            ("stxdw [%r10-8], %r0", (0x7b, 10, 0, -8, 0)),
            ("jne32 %r3, 0x81, +2", (0x56, 3, 0, 2, 0x81)),
            ("be16 %r0", (0xdc, 0, 0, 0, 16)),
            ("bswap64 %r0", (0xd7, 0, 0, 0, 64)),
            ("sdiv32 %r0, %r1", (0x3c, 0, 1, 1, 0)),
            ("movsx1632 %r0, %r1", (0xbc, 0, 1, 16, 0)),
            ("lock fetch add32 [%r10-8], %r1", (0xc3, 10, 1, -8, 0x01)),
            ("lock cmpxchg [%r10-8], %r1", (0xdb, 10, 1, -8, 0xf1)),
            ("call 5", (0x85, 0, 0, 0, 5)),
            ("call %r2", (0x8d, 2, 0, 0, 0)),
            ("neg32 %r0", (0x84, 0, 0, 0, 0)),
        ];
        for &(text, (code, dst, src, off, imm)) in cases {
            assert_eq!(assemble(text), Ok(vec![Insn::new(code, dst, src, off, imm)]), "{text}");
        }
    }

    #[test]
    fn labels_and_the_implicit_exit_label_resolve() {
        let insns = assemble("ja L\nexit\nL:\njeq %r0, 0, exit\ncall local L\n").expect("valid");
        assert_eq!(insns[0].off, 1);
        assert_eq!(insns[2].off, -2);
        assert_eq!(insns[3].imm, -2);
    }

    #[test]
    fn errors_use_the_reference_wording() {
        let cases = [
            ("or %r0, %r50", "Invalid register: %r50"),
            ("ldxq %r0, %r1", "Invalid mnemonic: ldxq"),
            ("ldxb %r0, %r1", "Failed to decode register and offset: %r1"),
            ("ldxb %r0, [%r1+0x10000]", "Offset out of 16-bit range: +0x10000"),
            ("mov32 %r0, 2147483648", "Immediate out of 32-bit range: 2147483648"),
            ("mov32 %r0, 0x100000000", "Immediate out of 32-bit range: 0x100000000"),
            ("lddw %r0", "Invalid number of operands for mnemonic: lddw"),
            ("ja NOT_A_LABEL", "Invalid label: NOT_A_LABEL"),
            ("lock", "Invalid number of operands for lock"),
            ("lock or [%r10-8]", "Invalid number of operands for lock"),
        ];
        for (text, want) in cases {
            let e = assemble(text).expect_err(text);
            assert!(e.message.starts_with(want), "{text}: {e}");
        }
    }
}
