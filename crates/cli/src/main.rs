//! The `bpfpatch` command. Parsing and dispatch only; each command lives in `bpfpatch::cmd`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bpfpatch::Cli::parse();
    match bpfpatch::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // Bad input or usage: the whole cause chain, then exit code 2.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("bpfpatch: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
