//! `bpfpatch conformance DIR [--json]`: runs every bpf_conformance `.data` file under DIR in the
//! interpreter and ends with `N passed, M failed`; exit 1 if any failed.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use bpf_verifier_model::conformance::{run_dir, Observed};
use serde_json::json;

use crate::Status;

/// Arguments of `bpfpatch conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of `.data` files (searched recursively; `negative/` holds the negative tests).
    pub dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn observed(o: &Observed) -> String {
    match o {
        Observed::Returned(v) => format!("returned {v:#x}"),
        other => other.error_message().unwrap_or_default(),
    }
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let outcomes = run_dir(&args.dir).with_context(|| format!("{}", args.dir.display()))?;
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed = outcomes.len() - passed;
    let text = if args.json {
        let files: Vec<_> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "file": o.path.display().to_string(), "negative": o.negative, "passed": o.passed,
                    "observed": observed(&o.observed), "expected_result": o.expected_result,
                    "expected_error": o.expected_error,
                })
            })
            .collect();
        serde_json::to_string_pretty(&json!({"files": files, "passed": passed, "failed": failed}))? + "\n"
    } else {
        let mut s = String::new();
        for o in outcomes.iter().filter(|o| !o.passed) {
            let want = match (&o.expected_result, &o.expected_error) {
                (Some(r), _) => format!("expected {r:#x}"),
                (None, Some(e)) => format!("expected error `{e}`"),
                (None, None) => "expected a refusal".to_owned(),
            };
            let _ = writeln!(s, "FAIL {}: {}, {want}", o.path.display(), observed(&o.observed));
        }
        let _ = writeln!(s, "{passed} passed, {failed} failed");
        s
    };
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(if failed == 0 { Status::Ok } else { Status::Failed })
}
