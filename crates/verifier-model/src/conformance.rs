//! The bpf_conformance runner: parses `.data` files (`-- asm`, `-- raw`, `-- mem`, `-- result`,
//! `-- error`, ignored `-- c` and `-- no register offset`), assembles the `%r` syntax
//! ([`asm`]), runs the program in the interpreter and compares with the expectation.
//!
//! Runtime contract (as the reference plugins): R1 = address of the `-- mem` bytes (a writable
//! region), R2 = their length, a 512-byte stack at R10, helper 5 returns its R1 (uBPF's "unwind"
//! helper without the unwinding: the suite only calls it with R1 = -1, which does not unwind),
//! and `callx` with a plain number calls that helper id.
//!
//! How files pass:
//! * a file with `-- result` passes when the run ends with that R0;
//! * a file with `-- error TEXT` passes when assembling, decoding or running fails with a message
//!   containing TEXT (an empty TEXT matches any error);
//! * a file under a directory named `negative` is a meta-test of the runner: each one must be
//!   rejected. One with `-- error` passes when it fails with that error (the `unused-*` raw
//!   files: any decode error, as their expected text is empty; `invalid_register`: the assembler
//!   message). The others pass when the rule above would not pass them, as upstream reports no
//!   PASS for them: a parse problem (no instructions, unknown directive, no expectation), an
//!   assembler error or a wrong result (`incorrect_return_value_high_bits`).
//!   [`FileOutcome::observed`] says which. `error.data` (`or %r0, %r10`, expected `Invalid`)
//!   passes through [`InterpError::FramePointerArithmetic`], whose message starts `Invalid`.
//!
//! Libraries do not print: [`run_dir`] returns one [`FileOutcome`] per file.

pub mod asm;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bpf_patch::{DecodeError, Endian, Insn};
use thiserror::Error;

use crate::interp::{InterpError, Memory, Program, RegionKind, Vm};
pub use asm::{assemble, AsmError};

/// A parsed `.data` file.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TestFile {
    /// The `-- asm` text, if any.
    pub asm: Option<String>,
    /// The `-- raw` instructions, if any (take precedence over `asm`, as upstream).
    pub raw: Option<Vec<Insn>>,
    /// The `-- mem` bytes.
    pub mem: Vec<u8>,
    /// The expected R0.
    pub result: Option<u64>,
    /// The expected error text (possibly empty).
    pub error: Option<String>,
}

/// Why a file cannot be run as a test (upstream reports these as SKIP).
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ParseError {
    /// A `--` line names no known section.
    #[error("line {line}: unknown directive `{text}`")]
    UnknownDirective {
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
    /// Neither `-- result` nor `-- error`.
    #[error("no result or error in the test file")]
    NoExpectation,
    /// Neither `-- asm` nor `-- raw` gives instructions.
    #[error("the test file has no BPF instructions")]
    NoInstructions,
    /// A `-- result`, `-- mem` or `-- raw` value is not a number.
    #[error("line {line}: bad number `{text}`")]
    BadNumber {
        /// 1-based line.
        line: usize,
        /// The token.
        text: String,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Ignore,
    Asm,
    Raw,
    Result,
    Mem,
    Error,
}

fn number(line: usize, s: &str) -> Result<u64, ParseError> {
    let bad = || ParseError::BadNumber { line, text: s.to_owned() };
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).map_err(|_| bad()),
        None => s.parse::<u64>().map_err(|_| bad()),
    }
}

/// Parses the text of a `.data` file.
pub fn parse(text: &str) -> Result<TestFile, ParseError> {
    let mut file = TestFile::default();
    let mut section = Section::Ignore;
    let mut asm = String::new();
    let mut raw_words: Vec<u64> = Vec::new();
    let mut raw_bytes: Vec<u8> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.split('#').next().unwrap_or("").trim_end_matches('\r');
        if let Some(at) = line.find("--") {
            let d = line[at + 2..].trim();
            section = match d {
                "asm" => Section::Asm,
                "result" => Section::Result,
                "mem" => Section::Mem,
                "raw" => Section::Raw,
                "error" => Section::Error,
                "c" | "no register offset" => Section::Ignore,
                _ => return Err(ParseError::UnknownDirective { line: line_no, text: line.to_owned() }),
            };
            if section == Section::Error {
                file.error.get_or_insert_with(String::new);
            }
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match section {
            Section::Ignore => {}
            Section::Asm => {
                asm.push_str(line);
                asm.push('\n');
            }
            Section::Result => file.result = Some(number(line_no, t)?),
            Section::Error => file.error = Some(t.to_owned()),
            Section::Mem => {
                for tok in t.split_whitespace() {
                    let v = u8::from_str_radix(tok, 16)
                        .map_err(|_| ParseError::BadNumber { line: line_no, text: tok.to_owned() })?;
                    file.mem.push(v);
                }
            }
            Section::Raw => {
                // Either 64-bit words (`0x5566778800000018`, low byte = opcode) or single bytes.
                for tok in t.split_whitespace() {
                    if tok.len() == 2 && !tok.starts_with("0x") {
                        let v = u8::from_str_radix(tok, 16)
                            .map_err(|_| ParseError::BadNumber { line: line_no, text: tok.to_owned() })?;
                        raw_bytes.push(v);
                    } else {
                        raw_words.push(number(line_no, tok)?);
                    }
                }
            }
        }
    }
    if !raw_words.is_empty() || !raw_bytes.is_empty() {
        let mut bytes: Vec<u8> = raw_words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.extend(raw_bytes);
        let insns = bpf_patch::insn::slots_from_bytes(&bytes, Endian::Little)
            .map_err(|e| ParseError::BadNumber { line: 0, text: e.to_string() })?;
        file.raw = Some(insns);
    }
    if !asm.is_empty() {
        file.asm = Some(asm);
    }
    if file.result.is_none() && file.error.is_none() {
        return Err(ParseError::NoExpectation);
    }
    if file.raw.is_none() && file.asm.is_none() {
        return Err(ParseError::NoInstructions);
    }
    Ok(file)
}

/// What running a file produced.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Observed {
    /// The program ran and returned R0.
    Returned(u64),
    /// The file could not be used as a test.
    Parse(ParseError),
    /// The `-- asm` text did not assemble.
    Asm(AsmError),
    /// An instruction did not decode (e.g. a reserved field is set).
    Decode(DecodeError),
    /// The run faulted.
    Runtime(InterpError),
}

impl Observed {
    /// The error message, if this is an error.
    pub fn error_message(&self) -> Option<String> {
        match self {
            Observed::Returned(_) => None,
            Observed::Parse(e) => Some(e.to_string()),
            Observed::Asm(e) => Some(e.message.clone()),
            Observed::Decode(e) => Some(e.to_string()),
            Observed::Runtime(e) => Some(e.to_string()),
        }
    }
}

/// The outcome of one file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileOutcome {
    /// The file.
    pub path: PathBuf,
    /// Whether it is a negative (runner meta-) test.
    pub negative: bool,
    /// What happened.
    pub observed: Observed,
    /// The expected R0, if the file gives one.
    pub expected_result: Option<u64>,
    /// The expected error text, if the file gives one.
    pub expected_error: Option<String>,
    /// Whether the file passed (see the module docs).
    pub passed: bool,
}

/// Runs a parsed test and says what happened.
pub fn execute(file: &TestFile) -> Observed {
    let insns = match (&file.raw, &file.asm) {
        (Some(raw), _) => raw.clone(),
        (None, Some(text)) => match assemble(text) {
            Ok(i) => i,
            Err(e) => return Observed::Asm(e),
        },
        (None, None) => return Observed::Parse(ParseError::NoInstructions),
    };
    if insns.is_empty() {
        return Observed::Parse(ParseError::NoInstructions);
    }
    let program = match Program::new(&insns) {
        Ok(p) => p,
        Err(e) => return Observed::Decode(e),
    };
    let mut vm = Vm::new(program);
    let id = vm.memory.map(RegionKind::Plain, file.mem.clone(), true);
    vm.helpers.register(5, Rc::new(|_, args| Ok(args[0])));
    let args = [Memory::addr(id, 0), file.mem.len() as u64, 0, 0, 0];
    match vm.run(args) {
        Ok(o) => Observed::Returned(o.r0),
        Err(e) => Observed::Runtime(e),
    }
}

/// Runs the file text at `path` (its path decides whether it is negative).
pub fn run_text(path: &Path, text: &str) -> FileOutcome {
    let negative = path.components().any(|c| c.as_os_str() == "negative");
    let (observed, expected_result, expected_error) = match parse(text) {
        Ok(f) => (execute(&f), f.result, f.error),
        Err(e) => (Observed::Parse(e), None, None),
    };
    let positive_pass = match (&observed, &expected_error, expected_result) {
        (Observed::Parse(_), _, _) => false,
        (o, Some(want), _) => o.error_message().is_some_and(|m| m.contains(want.as_str())),
        (Observed::Returned(r0), None, Some(want)) => *r0 == want,
        _ => false,
    };
    let names_error = expected_error.is_some();
    FileOutcome {
        path: path.to_owned(),
        negative,
        observed,
        expected_result,
        expected_error,
        // A negative file passes when it is rejected: with its expected error if it names one,
        // otherwise in any way the upstream runner would not report as PASS.
        passed: if negative && !names_error { !positive_pass } else { positive_pass },
    }
}

/// Failure to read the test directory.
#[derive(Debug, Error)]
#[error("{path}: {source}")]
pub struct RunDirError {
    /// The path that failed.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Runs every `.data` file under `dir` (recursively, sorted by path).
pub fn run_dir(dir: &Path) -> Result<Vec<FileOutcome>, RunDirError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).map_err(|source| RunDirError { path: p.clone(), source })?;
            Ok(run_text(&p, &text))
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), RunDirError> {
    let io = |source| RunDirError { path: dir.to_owned(), source };
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
    fn parses_sections_and_raw_words_and_bytes() {
        let f = parse("# c\n-- asm\nmov %r0, 1 # one\nexit\n-- mem\n00 ff\n-- result\n0x1\n").expect("valid");
        assert_eq!(
            (f.asm.as_deref(), f.mem.as_slice(), f.result),
            (Some("mov %r0, 1 \nexit\n"), &[0, 0xff][..], Some(1))
        );
        let f = parse("-- raw\n0x0000000000000095\n-- result\n0").expect("valid");
        assert_eq!(f.raw, Some(vec![Insn::new(0x95, 0, 0, 0, 0)]));
        let f = parse("-- raw\n07 10 00 00 01 00 00 00\n-- error\n").expect("valid");
        assert_eq!((f.raw, f.error), (Some(vec![Insn::new(0x07, 0, 1, 0, 1)]), Some(String::new())));
        assert_eq!(parse("-- result\n0x0"), Err(ParseError::NoInstructions));
        assert_eq!(parse(""), Err(ParseError::NoExpectation));
        assert!(matches!(
            parse("-- asm\n-- Unknown directive"),
            Err(ParseError::UnknownDirective { line: 2, .. })
        ));
    }

    #[test]
    fn positive_and_negative_rules() {
        let ok = "-- asm\nmov %r0, %r2\nexit\n-- mem\n01 02 03\n-- result\n0x3\n";
        assert!(run_text(Path::new("tests/a.data"), ok).passed);
        assert!(!run_text(Path::new("negative/a.data"), ok).passed, "a passing test is not rejected");
        let wrong = ok.replace("0x3", "0x4");
        assert!(!run_text(Path::new("tests/a.data"), &wrong).passed);
        assert!(run_text(Path::new("negative/a.data"), &wrong).passed);
        let asm_err = "-- asm\nor %r0, %r50\nexit\n-- error\nInvalid register";
        assert!(run_text(Path::new("tests/e.data"), asm_err).passed);
        assert!(run_text(Path::new("negative/e.data"), asm_err).passed);
        let raw = "-- raw\n07 10 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n-- error\n";
        let o = run_text(Path::new("negative/unused.data"), raw);
        assert!(o.passed && matches!(o.observed, Observed::Decode(_)), "{o:?}");
    }
}
