//! The `bpfpatch` command. Parsing and dispatch only; each command lives in `bpfpatch::cmd`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let matches = bpfpatch::Cli::command().get_matches();
    let cli = match bpfpatch::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match bpfpatch::run(cli, &matches) {
        Ok(status) => status.into(),
        Err(err) => {
            // Bad input or usage: the whole cause chain, then exit code 2.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("bpfpatch: {}", bpfpatch::error_text(&err));
            }
            ExitCode::from(2)
        }
    }
}
