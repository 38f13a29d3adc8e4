//! Library half of the `bpfpatch` command: the clap argument types, dispatch, output rendering and
//! atomic output files. Nothing here is needed by a loader embedding the libraries; that logic
//! lives in `bpf_patch`, `bpf_unroll` and `bpf_verifier_model`.
#![warn(missing_docs)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod cmd;
#[cfg(feature = "kernel")]
pub mod kernel;
pub mod output;
pub mod verifier_log;

/// Surgery on compiled BPF programs.
#[derive(Debug, Parser)]
#[command(name = "bpfpatch", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assemble llvm-objdump-19 syntax (with labels) into a raw instruction stream.
    Asm(cmd::asm::Args),
    /// Disassemble a raw instruction stream, one `INDEX: TEXT` line per instruction.
    Disasm(cmd::disasm::Args),
    /// The abstract verifier's verdict on each program, before loading.
    Check(cmd::check::Args),
    /// Run a bpf_conformance suite in the interpreter.
    Conformance(cmd::conformance::Args),
    /// Show two objects' programs side by side, aligned across inserted and removed instructions.
    Diff(cmd::diff::Args),
    /// What each driver does for each metadata kfunc, lowering and ABI, and its profile.
    Drivers(cmd::drivers::Args),
    /// Show an object's programs, relocations, line info and disassembly.
    Dump(cmd::dump::Args),
    /// Insert, replace or delete instructions of a program in a BPF object (one batch).
    Patch(cmd::patch::Args),
    /// Run a program of an object in the interpreter on one frame.
    Run(cmd::run::Args),
    /// Replace the XDP RX-metadata kfunc calls of an object by a driver's inline sequences.
    Unroll(cmd::unroll::Args),
    /// Load programs into the running kernel and report the verifier's verdicts.
    #[cfg(feature = "kernel")]
    Load(cmd::load::Args),
}

/// The error and its causes in one line, `outer: inner: ...`, skipping a cause whose text the
/// message before it already ends with (error types that print their source themselves).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut last = String::new();
    for cause in err.chain() {
        let msg = cause.to_string();
        if last.ends_with(&msg) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&msg);
        last = msg;
    }
    text
}

/// How a run that wrote its output ended: exit code 0, 1 when a program was rejected or a check
/// failed, 2 when some inputs were bad (the others still reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit code 0.
    Ok,
    /// Exit code 1.
    Failed,
    /// Exit code 2.
    BadInput,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        match s {
            Status::Ok => ExitCode::SUCCESS,
            Status::Failed => ExitCode::from(1),
            Status::BadInput => ExitCode::from(2),
        }
    }
}

/// Runs one command. `Err` means bad input or usage (exit code 2). `matches` are the parsed
/// arguments `cli` came from (commands whose flags' order matters read them).
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<Status> {
    let mut stdout = std::io::stdout().lock();
    let sub = matches.subcommand().map(|(_, m)| m).unwrap_or(matches);
    match cli.command {
        Command::Patch(args) => cmd::patch::run(&args, sub),
        Command::Dump(args) => cmd::dump::run(&args, &mut stdout),
        Command::Drivers(args) => cmd::drivers::run(&args, &mut stdout),
        Command::Diff(args) => cmd::diff::run(&args, &mut stdout),
        Command::Conformance(args) => cmd::conformance::run(&args, &mut stdout),
        Command::Asm(args) => cmd::asm::run(&args),
        Command::Check(args) => cmd::check::run(&args, &mut stdout),
        Command::Run(args) => cmd::run::run(&args, &mut stdout),
        Command::Disasm(args) => cmd::disasm::run(&args, &mut stdout),
        Command::Unroll(args) => cmd::unroll::run(&args, &mut stdout),
        #[cfg(feature = "kernel")]
        Command::Load(args) => cmd::load::run(&args, &mut stdout),
    }
}
