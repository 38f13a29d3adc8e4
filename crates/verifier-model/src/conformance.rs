//! The bpf_conformance suite: its `.data` test format, an assembler for its `%r` syntax
//! ([`asm`]), and a runner that executes each test in the [interpreter](crate::interp) and
//! returns what happened as data.
//!
//! A `.data` file is a sequence of `-- name` sections: `asm` (the program), `raw` (its encoding:
//! one `0x…` 64-bit number or eight hex bytes per line), `mem` (hex bytes, passed to the program
//! as R1 = pointer, R2 = length), `result` (the expected R0) and `error` (the program must be
//! refused). Other sections (`-- c`, `-- no register offset`, unknown directives) are kept in
//! [`TestCase::other`] and do not change the run. When both `asm` and `raw` are present, `raw` is
//! run and our assembly of `asm` must equal it.
//!
//! Negative tests (any file under a directory named `negative`) pass when we refuse the program
//! at the stage its kind calls for: a `-- raw` program without `-- asm` must be refused when
//! loading (decoding and static checks, as the kernel's verifier would); an `-- asm` program may
//! be refused by the assembler, the loader or a runtime [`Fault`] (a
//! verifier-style refusal such as reading an unwritten register). A negative test without
//! `-- error` asserts a wrong `-- result`: it passes when we refuse or return something else.

pub mod asm;

use std::fmt;
use std::path::{Path, PathBuf};

use bpf_patch::insn::slots_from_bytes;
use bpf_patch::{Endian, Insn};

use crate::interp::{Exit, Fault, Interpreter, LoadError, Program, RegionKind};
use asm::AsmError;

/// Errors that stop the runner itself (a test that fails is an [`Outcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A malformed `.data` file.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// Line in the file, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One parsed `.data` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestCase {
    /// The `-- asm` section.
    pub asm: Option<String>,
    /// The `-- raw` section, decoded to slots.
    pub raw: Option<Vec<Insn>>,
    /// The `-- mem` bytes.
    pub mem: Option<Vec<u8>>,
    /// The `-- result` value.
    pub result: Option<u64>,
    /// The `-- error` text (possibly empty).
    pub error: Option<String>,
    /// Names of other sections.
    pub other: Vec<String>,
}

impl TestCase {
    /// Parses the text of a `.data` file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut case = TestCase::default();
        let mut sections: Vec<(String, usize, Vec<&str>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(name) = line.strip_prefix("-- ") {
                sections.push((name.trim().to_string(), i + 1, Vec::new()));
            } else if let Some((_, _, body)) = sections.last_mut() {
                body.push(line);
            }
        }
        for (name, line, body) in sections {
            let err = |message: String| ParseError { line, message };
            match name.as_str() {
                "asm" => case.asm = Some(body.join("\n")),
                "error" => case.error = Some(body.join("\n").trim().to_string()),
                "result" => {
                    let text = body.iter().map(|l| l.trim()).find(|l| !l.is_empty() && !l.starts_with('#'));
                    let text = text.ok_or_else(|| err("empty result".into()))?;
                    case.result = Some(parse_u64(text).ok_or_else(|| err(format!("bad result `{text}`")))?);
                }
                "mem" => {
                    let mut bytes = Vec::new();
                    for tok in body.iter().flat_map(|l| l.split_whitespace()) {
                        bytes
                            .push(u8::from_str_radix(tok, 16).map_err(|_| err(format!("bad byte `{tok}`")))?);
                    }
                    case.mem = Some(bytes);
                }
                "raw" => case.raw = Some(parse_raw(&body).map_err(err)?),
                _ => case.other.push(name),
            }
        }
        Ok(case)
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse::<u64>().ok().or_else(|| text.parse::<i64>().ok().map(|v| v as u64)),
    }
}

/// `0x…` lines are one instruction each as a 64-bit number (opcode in the low byte); other lines
/// are hex bytes in memory order.
fn parse_raw(body: &[&str]) -> Result<Vec<Insn>, String> {
    let mut bytes = Vec::new();
    for line in body.iter().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
        if let Some(hex) = line.strip_prefix("0x") {
            let v = u64::from_str_radix(hex, 16).map_err(|_| format!("bad raw instruction `{line}`"))?;
            bytes.extend_from_slice(&v.to_le_bytes());
        } else {
            for tok in line.split_whitespace() {
                bytes.push(u8::from_str_radix(tok, 16).map_err(|_| format!("bad raw byte `{tok}`"))?);
            }
        }
    }
    slots_from_bytes(&bytes, Endian::Little).map_err(|e| e.to_string())
}

/// What running a test observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The file is malformed.
    Parse(ParseError),
    /// Neither `-- asm` nor `-- raw`.
    NoProgram,
    /// The assembler refused `-- asm`.
    Assemble(AsmError),
    /// Our assembly of `-- asm` differs from `-- raw` (at this slot).
    RawMismatch {
        /// First differing slot (or the shorter length).
        slot: usize,
    },
    /// Decoding or static checks refused the program.
    Load(LoadError),
    /// The run faulted.
    Fault(Fault),
    /// The program exited.
    Exit(Exit),
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Parse(e) => write!(f, "malformed test: {e}"),
            Observed::NoProgram => f.write_str("no program"),
            Observed::Assemble(e) => write!(f, "assembler: {e}"),
            Observed::RawMismatch { slot } => write!(f, "assembled asm differs from raw at slot {slot}"),
            Observed::Load(e) => write!(f, "load: {e}"),
            Observed::Fault(e) => write!(f, "fault: {e}"),
            Observed::Exit(e) => write!(f, "returned {:#x} after {} instructions", e.r0, e.insns),
        }
    }
}

/// The verdict on one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the file is a negative test.
    pub negative: bool,
    /// What happened.
    pub observed: Observed,
    /// Whether that is what the test expects.
    pub passed: bool,
}

/// Runs one parsed test; `negative` as for files under `negative/`.
pub fn run_case(case: &TestCase, negative: bool) -> Outcome {
    let observed = observe(case);
    let refused_at_load = matches!(observed, Observed::Load(_) | Observed::Parse(_) | Observed::NoProgram);
    let refused = refused_at_load || matches!(observed, Observed::Assemble(_) | Observed::Fault(_));
    let passed = if negative {
        if case.error.is_some() && case.asm.is_none() && case.raw.is_some() {
            refused_at_load
        } else if case.error.is_some() {
            refused
        } else {
            match &observed {
                Observed::Exit(e) => case.result != Some(e.r0),
                _ => refused,
            }
        }
    } else {
        match (&observed, case.result, &case.error) {
            (Observed::Exit(e), Some(want), None) => e.r0 == want,
            (_, None, Some(_)) => refused,
            _ => false,
        }
    };
    Outcome { negative, observed, passed }
}

fn observe(case: &TestCase) -> Observed {
    let assembled = match case.asm.as_deref().map(asm::assemble) {
        Some(Err(e)) => return Observed::Assemble(e),
        Some(Ok(insns)) => Some(insns),
        None => None,
    };
    let insns = match (assembled, &case.raw) {
        (Some(ours), Some(raw)) => {
            if let Some(slot) = first_difference(&ours, raw) {
                return Observed::RawMismatch { slot };
            }
            ours
        }
        (Some(ours), None) => ours,
        (None, Some(raw)) => raw.clone(),
        (None, None) => return Observed::NoProgram,
    };
    let program = match Program::new(&insns) {
        Ok(p) => p,
        Err(e) => return Observed::Load(e),
    };
    let mut vm = Interpreter::new(program);
    let mem = case.mem.clone().unwrap_or_default();
    let len = mem.len() as u64;
    let base = vm.memory.map(RegionKind::Buffer, mem, true);
    match vm.run(&[base, len]) {
        Ok(exit) => Observed::Exit(exit),
        Err(fault) => Observed::Fault(fault),
    }
}

fn first_difference(a: &[Insn], b: &[Insn]) -> Option<usize> {
    let differ = a.iter().zip(b).position(|(x, y)| x != y);
    differ.or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Whether `path` lies under a directory named `negative`.
pub fn is_negative(path: &Path) -> bool {
    path.parent().is_some_and(|p| p.components().any(|c| c.as_os_str() == "negative"))
}

/// Parses and runs one `.data` file.
pub fn run_file(path: &Path) -> Result<Outcome, ConformanceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConformanceError::Io { path: path.to_path_buf(), source })?;
    let negative = is_negative(path);
    Ok(match TestCase::parse(&text) {
        Ok(case) => run_case(&case, negative),
        Err(e) => Outcome { negative, passed: negative, observed: Observed::Parse(e) },
    })
}

/// Runs every `.data` file under `dir` (recursively, in path order).
pub fn run_dir(dir: &Path) -> Result<Vec<(PathBuf, Outcome)>, ConformanceError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    files.into_iter().map(|p| run_file(&p).map(|o| (p, o))).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ConformanceError> {
    let io = |source| ConformanceError::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "data") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse() {
        let text = "# header\n-- asm\nmov %r0, 1 # c\nexit\n-- mem\naa bb\n0c\n-- raw\n0x00000001000000b7\n\
                    95 00 00 00 00 00 00 00\n-- result\n0x1\n-- no register offset\ncall instruction\n";
        let case = TestCase::parse(text).expect("parses");
        assert_eq!(case.asm.as_deref(), Some("mov %r0, 1 # c\nexit"));
        assert_eq!(case.mem, Some(vec![0xaa, 0xbb, 0x0c]));
        assert_eq!(case.result, Some(1));
        assert_eq!(case.error, None);
        assert_eq!(case.other, vec!["no register offset".to_string()]);
        let raw = case.raw.clone().expect("raw present");
        assert_eq!((raw.len(), raw[0].code, raw[0].imm, raw[1].code), (2, 0xb7, 1, 0x95));
        assert!(run_case(&case, false).passed);
        assert!(TestCase::parse("-- mem\nzz\n").is_err());
        assert!(TestCase::parse("-- result\nnope\n").is_err());
    }

    /// (what, file text, negative, expected verdict).
    #[test]
    fn verdict_rules() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool, bool)] = &[
            ("right result", "-- asm\nmov %r0, 2\nexit\n-- result\n0x2", false, true),
            ("wrong result", "-- asm\nmov %r0, 3\nexit\n-- result\n0x2", false, false),
            ("fault in a positive test", "-- asm\nexit\n-- result\n0x0", false, false),
            ("asm disagrees with raw", "-- asm\nmov %r0, 2\nexit\n-- raw\n95 00 00 00 00 00 00 00\n-- result\n0x2", false, false),
            ("negative: assembler refuses", "-- asm\nbogus\n-- error\nx", true, true),
            ("negative: runtime fault", "-- asm\nexit\n-- error\nx", true, true),
            ("negative: accepted", "-- asm\nmov %r0, 0\nexit\n-- error\nx", true, false),
            ("negative raw: refused at load", "-- raw\n95 01 00 00 00 00 00 00\n-- error\n", true, true),
            ("negative raw: only faults at run", "-- raw\n95 00 00 00 00 00 00 00\n-- error\n", true, false),
            ("negative result: differs", "-- asm\nmov %r0, 1\nexit\n-- result\n0x2", true, true),
            ("negative result: matches", "-- asm\nmov %r0, 2\nexit\n-- result\n0x2", true, false),
            ("negative: empty", "# nothing", true, true),
            ("positive: empty", "# nothing", false, false),
        ];
        for (what, text, negative, want) in cases {
            let case = TestCase::parse(text).expect("parses");
            let outcome = run_case(&case, *negative);
            assert_eq!(outcome.passed, *want, "{what}: {}", outcome.observed);
        }
    }

    #[test]
    fn negative_is_decided_by_directory() {
        assert!(is_negative(Path::new("corpus/negative/x.data")));
        assert!(!is_negative(Path::new("corpus/tests/negative.data")));
    }
}
