//! Parsing llvm-objdump-19 syntax (and the lossless extensions of [`super::disasm`]) back into
//! instructions, with labels for hand-written code.
//!
//! One instruction per line. Accepted around it: a leading `INDEX:` as printed by
//! `bpfpatch disasm` and llvm-objdump, a trailing `<sym+0x10>` branch annotation, comments
//! (`;`, `#`, `//` to the end of the line), and `name:` label definitions (alone on a line or
//! before an instruction). Labels are used as `goto <name>` (or `goto name`), in conditional
//! jumps, `gotol`, `may_goto` and `call <name>` (a bpf-to-bpf call); their offsets are resolved
//! with range checks, never truncated.

use std::collections::HashMap;

use crate::insn::Insn;
use crate::op::{AluOp, AtomicOp, CallTarget, Cond, LdImm64Src, Op, Operand, Reg, Size, Swap, Width};

/// Why a source text does not assemble. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    /// The line is not an instruction this syntax knows.
    #[error("line {line}, column {column}: {message}: `{text}`")]
    Syntax {
        /// Line number.
        line: usize,
        /// Column of the offending token.
        column: usize,
        /// What was expected or found.
        message: String,
        /// The line's text.
        text: String,
    },
    /// A label is used but never defined.
    #[error("line {line}: undefined label `{label}`")]
    UndefinedLabel {
        /// Line of the use.
        line: usize,
        /// The label.
        label: String,
    },
    /// A label is defined twice.
    #[error("line {line}: label `{label}` is already defined on line {first}")]
    DuplicateLabel {
        /// Line of the second definition.
        line: usize,
        /// The label.
        label: String,
        /// Line of the first definition.
        first: usize,
    },
    /// A resolved label offset does not fit the field.
    #[error("line {line}: jump to `{label}` needs offset {offset}, which does not fit in {field}")]
    OutOfRange {
        /// Line of the jump.
        line: usize,
        /// The label.
        label: String,
        /// The offset needed.
        offset: i64,
        /// `i16` (`off`) or `i32` (`imm`).
        field: &'static str,
    },
}

/// A jump or call waiting for its label.
struct Fixup {
    line: usize,
    /// Index of the instruction in `ops`.
    index: usize,
    /// Slot of the instruction.
    slot: i64,
    label: String,
}

/// Assembles source text into slots.
pub fn assemble(src: &str) -> Result<Vec<Insn>, AsmError> {
    let ops = assemble_ops(src)?;
    Ok(crate::op::encode_all(&ops))
}

/// Assembles source text into instructions.
pub fn assemble_ops(src: &str) -> Result<Vec<Op>, AsmError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut labels: HashMap<String, (i64, usize)> = HashMap::new();
    let mut fixups: Vec<Fixup> = Vec::new();
    let mut slot: i64 = 0;
    for (n, raw) in src.lines().enumerate() {
        let line_no = n + 1;
        let mut p = Parser::new(raw, line_no);
        p.skip_index_prefix();
        while let Some(label) = p.label_definition() {
            if let Some(&(_, first)) = labels.get(&label) {
                return Err(AsmError::DuplicateLabel { line: line_no, label, first });
            }
            labels.insert(label, (slot, line_no));
        }
        if p.at_end() {
            continue;
        }
        let (op, label) = p.instruction()?;
        if let Some(label) = label {
            fixups.push(Fixup { line: line_no, index: ops.len(), slot, label });
        }
        slot += i64::from(op.slots());
        ops.push(op);
    }
    for f in fixups {
        let &(target, _) = labels
            .get(&f.label)
            .ok_or_else(|| AsmError::UndefinedLabel { line: f.line, label: f.label.clone() })?;
        let rel = target - f.slot - 1;
        let out_of_range =
            |field| AsmError::OutOfRange { line: f.line, label: f.label.clone(), offset: rel, field };
        let op = &mut ops[f.index];
        match op {
            Op::Ja { off } | Op::MayGoto { off } | Op::Jump { off, .. } => {
                *off = i16::try_from(rel).map_err(|_| out_of_range("i16"))?;
            }
            Op::Gotol { imm } | Op::Call(CallTarget::Local(imm)) => {
                *imm = i32::try_from(rel).map_err(|_| out_of_range("i32"))?;
            }
            other => unreachable!("only jumps and calls take labels, not {other:?}"),
        }
    }
    Ok(ops)
}

/// A cursor over one line.
struct Parser<'a> {
    text: &'a str,
    /// The line without its comment.
    code: &'a str,
    pos: usize,
    line: usize,
}

fn strip_comment(s: &str) -> &str {
    let mut end = s.len();
    for pat in [";", "#", "//"] {
        if let Some(i) = s.find(pat) {
            end = end.min(i);
        }
    }
    &s[..end]
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, line: usize) -> Self {
        Parser { text, code: strip_comment(text), pos: 0, line }
    }

    fn rest(&self) -> &'a str {
        &self.code[self.pos..]
    }

    fn ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.code.len() - trimmed.len();
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.rest().is_empty()
    }

    fn error(&self, message: impl Into<String>) -> AsmError {
        AsmError::Syntax {
            line: self.line,
            column: self.pos + 1,
            message: message.into(),
            text: self.text.trim().to_owned(),
        }
    }

    /// Consumes `s` (after whitespace) if it is next.
    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes a keyword: `s` not followed by an identifier character.
    fn eat_word(&mut self, s: &str) -> bool {
        self.ws();
        let rest = self.rest();
        if rest.starts_with(s) && !rest[s.len()..].starts_with(is_ident) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), AsmError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{s}`")))
        }
    }

    fn skip_index_prefix(&mut self) {
        self.ws();
        let rest = self.rest();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(':') {
            self.pos += digits + 1;
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.ws();
        let rest = self.rest();
        if !rest.starts_with(is_ident_start) {
            return None;
        }
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        self.pos += len;
        Some(&rest[..len])
    }

    /// `name:` at the current position.
    fn label_definition(&mut self) -> Option<String> {
        let save = self.pos;
        if let Some(name) = self.ident() {
            if self.rest().starts_with(':') {
                self.pos += 1;
                return Some(name.to_owned());
            }
        }
        self.pos = save;
        None
    }

    /// A register `rN` / `wN`, with its width.
    fn reg(&mut self) -> Result<(Reg, Width), AsmError> {
        self.try_reg().ok_or_else(|| self.error("expected a register r0-r10 or w0-w10"))
    }

    fn try_reg(&mut self) -> Option<(Reg, Width)> {
        self.ws();
        let rest = self.rest();
        let width = match rest.as_bytes().first() {
            Some(b'r') => Width::W64,
            Some(b'w') => Width::W32,
            _ => return None,
        };
        let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || rest[1 + digits..].starts_with(is_ident) {
            return None;
        }
        let reg = rest[1..1 + digits].parse().ok().and_then(Reg::new)?;
        self.pos += 1 + digits;
        Some((reg, width))
    }

    fn reg_of(&mut self, width: Width) -> Result<Reg, AsmError> {
        let (r, w) = self.reg()?;
        if w != width {
            return Err(self.error(format!(
                "expected a {} register",
                if width == Width::W64 { "64-bit r" } else { "32-bit w" }
            )));
        }
        Ok(r)
    }

    /// A number: decimal or `0x` hex, optionally signed. Returned as i128 for range checks.
    fn try_number(&mut self) -> Option<i128> {
        self.ws();
        let rest = self.rest();
        let (neg, body) = match rest.as_bytes().first() {
            Some(b'-') => (true, rest[1..].trim_start()),
            Some(b'+') => (false, rest[1..].trim_start()),
            _ => (false, rest),
        };
        let consumed_sign = rest.len() - body.len();
        let (radix, digits_start) =
            if body.starts_with("0x") || body.starts_with("0X") { (16, 2) } else { (10, 0) };
        let digits = body[digits_start..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .count();
        if digits == 0 || body[digits_start + digits..].starts_with(is_ident) {
            return None;
        }
        let v = i128::from_str_radix(&body[digits_start..digits_start + digits], radix).ok()?;
        self.pos += consumed_sign + digits_start + digits;
        Some(if neg { -v } else { v })
    }

    fn number(&mut self, what: &str) -> Result<i128, AsmError> {
        self.try_number().ok_or_else(|| self.error(format!("expected {what}")))
    }

    /// A 32-bit immediate: any value in `i32::MIN..=u32::MAX` (hex spellings of negative
    /// numbers wrap).
    fn imm32(&mut self) -> Result<i32, AsmError> {
        let save = self.pos;
        let v = self.number("an immediate")?;
        if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
            self.pos = save;
            return Err(self.error(format!("immediate {v} does not fit in 32 bits")));
        }
        Ok(v as u32 as i32)
    }

    fn off16(&mut self, what: &str) -> Result<i16, AsmError> {
        let save = self.pos;
        let v = self.number(what)?;
        i16::try_from(v).map_err(|_| {
            self.pos = save;
            self.error(format!("{what} {v} does not fit in 16 bits"))
        })
    }

    /// `(rN + 0x8)` / `(rN - 0x8)` / `(rN)`.
    fn mem(&mut self) -> Result<(Reg, i16), AsmError> {
        self.expect("(")?;
        let (base, _) = self.reg()?;
        let off = self.mem_offset()?;
        self.expect(")")?;
        Ok((base, off))
    }

    /// ` + 0x8` / ` - 0x8` / nothing, as in `(r1 + 0x8)` and `xchg_64(r1 + 0x8, r2)`.
    fn mem_offset(&mut self) -> Result<i16, AsmError> {
        let neg = if self.eat("+") {
            false
        } else if self.eat("-") {
            true
        } else {
            return Ok(0);
        };
        let save = self.pos;
        let v = self.number("an offset")?;
        let v = if neg { -v } else { v };
        i16::try_from(v).map_err(|_| {
            self.pos = save;
            self.error(format!("offset {v} does not fit in 16 bits"))
        })
    }

    /// `*(u32 *)` / `*(s16 *)`: returns (size, signed).
    fn deref_type(&mut self) -> Result<(Size, bool), AsmError> {
        self.expect("*")?;
        self.cast()
    }

    /// `(u32 *)` / `(s16 *)`: returns (size, signed).
    fn cast(&mut self) -> Result<(Size, bool), AsmError> {
        self.expect("(")?;
        let (size, signed) = self.type_name()?;
        self.expect("*")?;
        self.expect(")")?;
        Ok((size, signed))
    }

    /// `(u64 *)(r1 + 0x8)`, the operand of the atomic, load-acquire and store-release forms:
    /// returns (size, base, offset). Signed types are refused.
    fn typed_address(&mut self) -> Result<(Size, Reg, i16), AsmError> {
        let (size, signed) = self.cast()?;
        if signed {
            return Err(self.error("atomic and ordered accesses take an unsigned type"));
        }
        let (base, off) = self.mem()?;
        Ok((size, base, off))
    }

    fn type_name(&mut self) -> Result<(Size, bool), AsmError> {
        let word = self.ident().ok_or_else(|| self.error("expected u8, u16, u32, u64 or s8, s16, s32"))?;
        let (signed, bits) = match word.split_at(1) {
            ("u", bits) => (false, bits),
            ("s", bits) => (true, bits),
            _ => return Err(self.error(format!("unknown type `{word}`"))),
        };
        let size = match bits {
            "8" => Size::B,
            "16" => Size::H,
            "32" => Size::W,
            "64" => Size::DW,
            _ => return Err(self.error(format!("unknown type `{word}`"))),
        };
        Ok((size, signed))
    }

    /// A branch target: an offset (`+0x2`, `-3`), optionally followed by an ignored `<sym+0x8>`
    /// annotation; or a label (`<name>` or `name`).
    fn target(&mut self) -> Result<(i128, Option<String>), AsmError> {
        if let Some(v) = self.try_number() {
            if self.eat("<") {
                let rest = self.rest();
                let close = rest.find('>').ok_or_else(|| self.error("unterminated `<...>`"))?;
                self.pos += close + 1;
            }
            return Ok((v, None));
        }
        let bracketed = self.eat("<");
        let name = self.ident().ok_or_else(|| self.error("expected an offset or a label"))?.to_owned();
        if bracketed {
            self.expect(">")?;
        }
        Ok((0, Some(name)))
    }

    fn branch16(&mut self) -> Result<(i16, Option<String>), AsmError> {
        let save = self.pos;
        let (v, label) = self.target()?;
        let off = i16::try_from(v).map_err(|_| {
            self.pos = save;
            self.error(format!("jump offset {v} does not fit in 16 bits"))
        })?;
        Ok((off, label))
    }

    fn finish(&mut self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.error("unexpected text after the instruction"))
        }
    }

    /// One instruction, and the label it refers to, if any.
    fn instruction(&mut self) -> Result<(Op, Option<String>), AsmError> {
        let (op, label) = self.instruction_body()?;
        self.finish()?;
        Ok((op, label))
    }

    fn instruction_body(&mut self) -> Result<(Op, Option<String>), AsmError> {
        if self.eat_word("exit") {
            return Ok((Op::Exit, None));
        }
        if self.eat_word("callx") {
            let (reg, _) = self.reg()?;
            return Ok((Op::Callx { reg }, None));
        }
        if self.eat_word("call") {
            return self.call();
        }
        if self.eat_word("goto") {
            let (off, label) = self.branch16()?;
            return Ok((Op::Ja { off }, label));
        }
        if self.eat_word("gotol") {
            let save = self.pos;
            let (v, label) = self.target()?;
            let imm = i32::try_from(v).map_err(|_| {
                self.pos = save;
                self.error(format!("jump offset {v} does not fit in 32 bits"))
            })?;
            return Ok((Op::Gotol { imm }, label));
        }
        if self.eat_word("may_goto") {
            let (off, label) = self.branch16()?;
            return Ok((Op::MayGoto { off }, label));
        }
        if self.eat_word("if") {
            return self.conditional();
        }
        if self.eat_word("lock") {
            return Ok((self.lock()?, None));
        }
        if self.eat_word("ld_pseudo") {
            return Ok((self.ld_pseudo()?, None));
        }
        if self.eat_word("store_release") {
            return Ok((self.store_release()?, None));
        }
        if self.rest().starts_with('*') {
            return Ok((self.store()?, None));
        }
        if let Some((dst, width)) = self.try_reg() {
            return Ok((self.assignment(dst, width)?, None));
        }
        Err(self.error("unknown instruction"))
    }

    fn call(&mut self) -> Result<(Op, Option<String>), AsmError> {
        if self.eat_word("local") {
            let imm = self.imm32()?;
            return Ok((Op::Call(CallTarget::Local(imm)), None));
        }
        if self.eat_word("kfunc") {
            let btf_id = self.imm32()?;
            let off = if self.eat(",") { self.off16("a BTF fd index")? } else { 0 };
            return Ok((Op::Call(CallTarget::Kfunc { btf_id, off }), None));
        }
        if let Some(v) = self.try_number() {
            let imm = i32::try_from(v)
                .or_else(|_| u32::try_from(v).map(|u| u as i32))
                .map_err(|_| self.error(format!("helper number {v} does not fit in 32 bits")))?;
            return Ok((Op::Call(CallTarget::Helper(imm)), None));
        }
        let bracketed = self.eat("<");
        let name = self.ident().ok_or_else(|| self.error("expected a helper number or a label"))?.to_owned();
        if bracketed {
            self.expect(">")?;
        }
        Ok((Op::Call(CallTarget::Local(0)), Some(name)))
    }

    fn conditional(&mut self) -> Result<(Op, Option<String>), AsmError> {
        let (dst, width) = self.reg()?;
        let cond = self.cond()?;
        let src = match self.try_reg() {
            Some((r, w)) if w == width => Operand::Reg(r),
            Some(_) => return Err(self.error("both operands of a comparison must have the same width")),
            None => Operand::Imm(self.imm32()?),
        };
        if !self.eat_word("goto") {
            return Err(self.error("expected `goto`"));
        }
        let (off, label) = self.branch16()?;
        Ok((Op::Jump { width, cond, dst, src, off }, label))
    }

    fn cond(&mut self) -> Result<Cond, AsmError> {
        // Longest first.
        const CONDS: [(&str, Cond); 11] = [
            ("s>=", Cond::Sge),
            ("s<=", Cond::Sle),
            ("s>", Cond::Sgt),
            ("s<", Cond::Slt),
            ("==", Cond::Eq),
            ("!=", Cond::Ne),
            (">=", Cond::Ge),
            ("<=", Cond::Le),
            (">", Cond::Gt),
            ("<", Cond::Lt),
            ("&", Cond::Set),
        ];
        for (s, c) in CONDS {
            if self.eat(s) {
                return Ok(c);
            }
        }
        Err(self.error("expected a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)"))
    }

    /// `lock *(u64 *)(r1 + 0x0) += r2`.
    fn lock(&mut self) -> Result<Op, AsmError> {
        let (size, signed) = self.deref_type()?;
        if signed || !matches!(size, Size::W | Size::DW) {
            return Err(self.error("atomic operations take u32 or u64"));
        }
        let (dst, off) = self.mem()?;
        let op = if self.eat("+=") {
            AtomicOp::Add { fetch: false }
        } else if self.eat("|=") {
            AtomicOp::Or { fetch: false }
        } else if self.eat("&=") {
            AtomicOp::And { fetch: false }
        } else if self.eat("^=") {
            AtomicOp::Xor { fetch: false }
        } else {
            return Err(self.error("expected +=, |=, &= or ^="));
        };
        let (src, _) = self.reg()?;
        Ok(Op::Atomic { size, op, dst, src, off })
    }

    /// `ld_pseudo r1, 0x2, 0x7[, 0x3]`.
    fn ld_pseudo(&mut self) -> Result<Op, AsmError> {
        let dst = self.reg_of(Width::W64)?;
        self.expect(",")?;
        let save = self.pos;
        let code = self.number("a pseudo source")?;
        let src = u8::try_from(code).ok().and_then(LdImm64Src::from_code).ok_or_else(|| {
            self.pos = save;
            self.error(format!("unknown ld_imm64 pseudo source {code}"))
        })?;
        self.expect(",")?;
        let imm = self.imm32()?;
        let next_imm = if self.eat(",") { self.imm32()? } else { 0 };
        Ok(Op::LdImm64 { dst, src, imm, next_imm })
    }

    /// `store_release((u64 *)(r1 + 0x0), r2)`.
    fn store_release(&mut self) -> Result<Op, AsmError> {
        self.expect("(")?;
        let (size, dst, off) = self.typed_address()?;
        self.expect(",")?;
        let (src, _) = self.reg()?;
        self.expect(")")?;
        Ok(Op::Atomic { size, op: AtomicOp::StoreRelease, dst, src, off })
    }

    /// `*(u32 *)(r10 - 0x4) = r1` or `= 0x3`.
    fn store(&mut self) -> Result<Op, AsmError> {
        let (size, signed) = self.deref_type()?;
        if signed {
            return Err(self.error("stores take an unsigned type"));
        }
        let (dst, off) = self.mem()?;
        self.expect("=")?;
        if let Some((src, _)) = self.try_reg() {
            return Ok(Op::Store { size, dst, off, src });
        }
        let imm = self.imm32()?;
        Ok(Op::StoreImm { size, dst, off, imm })
    }

    /// Everything of the form `rN op ...` / `wN op ...`.
    fn assignment(&mut self, dst: Reg, width: Width) -> Result<Op, AsmError> {
        const COMPOUND: [(&str, AluOp); 13] = [
            ("s>>=", AluOp::Arsh),
            ("s/=", AluOp::Sdiv),
            ("s%=", AluOp::Smod),
            ("<<=", AluOp::Lsh),
            (">>=", AluOp::Rsh),
            ("+=", AluOp::Add),
            ("-=", AluOp::Sub),
            ("*=", AluOp::Mul),
            ("/=", AluOp::Div),
            ("%=", AluOp::Mod),
            ("|=", AluOp::Or),
            ("&=", AluOp::And),
            ("^=", AluOp::Xor),
        ];
        for (s, op) in COMPOUND {
            if self.eat(s) {
                let src = match self.try_reg() {
                    Some((r, w)) if w == width => Operand::Reg(r),
                    Some(_) => return Err(self.error("both operands must have the same width")),
                    None => Operand::Imm(self.imm32()?),
                };
                return Ok(Op::Alu { width, op, dst, src });
            }
        }
        self.expect("=")?;
        self.ws();
        let rest = self.rest();
        if rest.starts_with('-') && !rest[1..].trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            self.pos += 1;
            let (r, w) = self.reg()?;
            if r != dst || w != width {
                return Err(self.error("negation is in place: `rN = -rN`"));
            }
            return Ok(Op::Neg { width, dst });
        }
        if rest.starts_with('*') {
            return self.load(dst, width);
        }
        if self.eat("(") {
            // Sign-extending move `r0 = (s8)r1`.
            let (size, signed) = self.type_name()?;
            self.expect(")")?;
            let bits = match (signed, size) {
                (true, Size::B) => 8,
                (true, Size::H) => 16,
                (true, Size::W) if width == Width::W64 => 32,
                _ => return Err(self.error("sign-extending moves take s8, s16 or (64-bit only) s32")),
            };
            let src = self.reg_of(width)?;
            return Ok(Op::Alu { width, op: AluOp::Movsx(bits), dst, src: Operand::Reg(src) });
        }
        for (name, swap) in [("bswap", Swap::Bswap), ("be", Swap::ToBe), ("le", Swap::ToLe)] {
            if self.rest().starts_with(name) {
                let save = self.pos;
                self.pos += name.len();
                let rest = self.rest();
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 && !rest[digits..].starts_with(is_ident) {
                    let bits: u8 = rest[..digits].parse().map_err(|_| self.error("bad byte-swap width"))?;
                    if !matches!(bits, 16 | 32 | 64) {
                        return Err(self.error("byte swaps take 16, 32 or 64"));
                    }
                    self.pos += digits;
                    let (r, _) = self.reg()?;
                    if r != dst {
                        return Err(self.error("byte swaps are in place: `rN = be16 rN`"));
                    }
                    return Ok(Op::Endian { swap, bits, dst });
                }
                self.pos = save;
            }
        }
        for (name, fetch_op) in [
            ("atomic_fetch_add", AtomicOp::Add { fetch: true }),
            ("atomic_fetch_or", AtomicOp::Or { fetch: true }),
            ("atomic_fetch_and", AtomicOp::And { fetch: true }),
            ("atomic_fetch_xor", AtomicOp::Xor { fetch: true }),
        ] {
            if self.eat_word(name) {
                self.expect("(")?;
                let (size, base, off) = self.typed_address()?;
                if !matches!(size, Size::W | Size::DW) {
                    return Err(self.error("atomic operations take u32 or u64"));
                }
                self.expect(",")?;
                let (src, _) = self.reg()?;
                self.expect(")")?;
                if src != dst {
                    return Err(self.error("atomic_fetch_* returns into its source register"));
                }
                return Ok(Op::Atomic { size, op: fetch_op, dst: base, src, off });
            }
        }
        for (name, size) in [("xchg_64", Size::DW), ("xchg32_32", Size::W)] {
            if self.eat_word(name) {
                self.expect("(")?;
                let (base, _) = self.reg()?;
                let off = self.mem_offset()?;
                self.expect(",")?;
                let (src, _) = self.reg()?;
                self.expect(")")?;
                return Ok(Op::Atomic { size, op: AtomicOp::Xchg, dst: base, src, off });
            }
        }
        for (name, size) in [("cmpxchg_64", Size::DW), ("cmpxchg32_32", Size::W)] {
            if self.eat_word(name) {
                self.expect("(")?;
                let (base, _) = self.reg()?;
                let off = self.mem_offset()?;
                self.expect(",")?;
                let (r0, _) = self.reg()?;
                if r0 != Reg::R0 || dst != Reg::R0 {
                    return Err(self.error("cmpxchg compares with and returns into r0"));
                }
                self.expect(",")?;
                let (src, _) = self.reg()?;
                self.expect(")")?;
                return Ok(Op::Atomic { size, op: AtomicOp::Cmpxchg, dst: base, src, off });
            }
        }
        if self.eat_word("load_acquire") {
            self.expect("(")?;
            let (size, base, off) = self.typed_address()?;
            self.expect(")")?;
            return Ok(Op::Atomic { size, op: AtomicOp::LoadAcquire, dst, src: base, off });
        }
        if let Some((src, w)) = self.try_reg() {
            if w != width {
                return Err(self.error("both operands must have the same width"));
            }
            return Ok(Op::Alu { width, op: AluOp::Mov, dst, src: Operand::Reg(src) });
        }
        let save = self.pos;
        let v = self.number("a register, an immediate or a memory operand")?;
        if self.eat_word("ll") {
            if width != Width::W64 {
                return Err(self.error("ld_imm64 needs a 64-bit register"));
            }
            if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
                self.pos = save;
                return Err(self.error(format!("immediate {v} does not fit in 64 bits")));
            }
            let v = v as u64;
            return Ok(Op::LdImm64 {
                dst,
                src: LdImm64Src::Imm,
                imm: v as u32 as i32,
                next_imm: (v >> 32) as u32 as i32,
            });
        }
        if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
            self.pos = save;
            return Err(
                self.error(format!("immediate {v} does not fit in 32 bits (use `ll` for 64-bit constants)"))
            );
        }
        Ok(Op::Alu { width, op: AluOp::Mov, dst, src: Operand::Imm(v as u32 as i32) })
    }

    /// `r0 = *(u32 *)(r1 + 0x4)`, `r0 = *(s8 *)...`, `r0 = *(u16 *)skb[...]`.
    fn load(&mut self, dst: Reg, _width: Width) -> Result<Op, AsmError> {
        let (size, signed) = self.deref_type()?;
        if self.eat("skb") {
            if dst != Reg::R0 || signed || size == Size::DW {
                return Err(self.error("legacy packet loads are `r0 = *(u8|u16|u32 *)skb[...]`"));
            }
            self.expect("[")?;
            let op = if let Some((src, _)) = self.try_reg() {
                let neg = if self.eat("+") {
                    Some(false)
                } else if self.eat("-") {
                    Some(true)
                } else {
                    None
                };
                let imm = match neg {
                    None => 0,
                    Some(neg) => {
                        let v = self.imm32()?;
                        if neg {
                            v.wrapping_neg()
                        } else {
                            v
                        }
                    }
                };
                Op::LdInd { size, src, imm }
            } else {
                Op::LdAbs { size, imm: self.imm32()? }
            };
            self.expect("]")?;
            return Ok(op);
        }
        let (src, off) = self.mem()?;
        if signed && size == Size::DW {
            return Err(self.error("there is no sign-extending 64-bit load"));
        }
        Ok(Op::Load { size, signed, dst, src, off })
    }
}
