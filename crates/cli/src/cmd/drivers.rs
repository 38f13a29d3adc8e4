//! `bpfpatch drivers [--json] [--btf PATH [--base-btf PATH]]`: what each driver does for each
//! kfunc, lowering and ABI ([`bpf_unroll::matrix::matrix`], computed by the emitters), and the
//! provenance of each driver's bundled profile. The `loadable` column is for the kernel whose
//! BTF is given (default `/sys/kernel/btf/vmlinux`); without a readable one its cells say why.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bpf_unroll::matrix::{matrix, Matrix, Outcome, Target};
use bpf_unroll::profile::LoadedBtf;
use bpf_unroll::{Driver, KernelIds, Profile, ProfileError, UnrollError};
use serde_json::json;

use super::unroll::{profile_json, profile_text, VMLINUX};
use crate::Status;

/// Arguments of `bpfpatch drivers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the matrix as JSON.
    #[arg(long)]
    pub json: bool,
    /// The target kernel's BTF for the `loadable` column (default /sys/kernel/btf/vmlinux).
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// The vmlinux BTF a split module BTF given with `--btf` is based on.
    #[arg(long, requires = "btf")]
    pub base_btf: Option<PathBuf>,
}

/// The `loadable` target from `btf` (split on `base`), or why there is none.
pub fn target(btf: &Path, base: Option<&Path>) -> Result<Target, UnrollError> {
    let loaded = LoadedBtf::read(btf, base)?;
    let kernel = btf.display().to_string();
    let profile = Profile::from_btf(Driver::Default, &loaded.files(btf, base), &kernel)?;
    Ok(Target { ids: KernelIds::from_btf(&loaded.btf)?, profile })
}

/// The matrix as text: per driver its profile, then per ABI and kfunc one line per lowering.
pub fn matrix_text(m: &Matrix, target: &str) -> String {
    let mut out = format!("loadable target: {target}\n");
    for (driver, profile) in &m.profiles {
        let _ = writeln!(out, "\ndriver {driver}");
        for line in profile_text(profile.as_ref()).lines() {
            let _ = writeln!(out, "  {line}");
        }
        let mut last = None;
        for c in m.cells.iter().filter(|c| c.driver == *driver) {
            if last != Some((c.abi, c.kfunc)) {
                let _ = writeln!(out, "  {} {}", c.abi, c.kfunc);
                last = Some((c.abi, c.kfunc));
            }
            let _ = writeln!(out, "    {:<9} {}", c.lowering.name(), c.outcome.summary());
        }
    }
    out
}

/// The matrix as JSON: `{"target", "drivers": [{"driver", "profile", "cells": [...]}]}`.
pub fn matrix_json(m: &Matrix, target: &str) -> serde_json::Value {
    let drivers: Vec<serde_json::Value> = m
        .profiles
        .iter()
        .map(|(driver, profile)| {
            let cells: Vec<serde_json::Value> = m
                .cells
                .iter()
                .filter(|c| c.driver == *driver)
                .map(|c| {
                    let mut v = json!({
                        "abi": c.abi.name(),
                        "kfunc": c.kfunc.name(),
                        "lowering": c.lowering.name(),
                        "summary": c.outcome.summary(),
                    });
                    match &c.outcome {
                        Outcome::Sequence { insns, calls, results, stack_bytes } => {
                            v["insns"] = json!(insns);
                            v["calls"] = json!(calls);
                            v["results"] = json!(results);
                            v["stack_bytes"] = json!(stack_bytes);
                        }
                        Outcome::Error(e) => v["error"] = json!(e),
                    }
                    v
                })
                .collect();
            json!({ "driver": driver.name(), "profile": profile_json(profile.as_ref()), "cells": cells })
        })
        .collect();
    json!({ "target": target, "drivers": drivers })
}

/// Runs the command.
pub fn run(args: &Args, stdout: &mut impl Write) -> anyhow::Result<Status> {
    let btf = args.btf.clone().unwrap_or_else(|| PathBuf::from(VMLINUX));
    let target = target(&btf, args.base_btf.as_deref());
    let described = match (&target, &args.base_btf) {
        (Ok(_), None) => btf.display().to_string(),
        (Ok(_), Some(b)) => format!("{} on base {}", btf.display(), b.display()),
        (Err(e), _) => format!("none ({e})"),
    };
    // An explicit --btf that cannot be read is bad input; the default may be absent, and a
    // BTF without the casting kfuncs fills the loadable cells with that reason.
    if let (Err(e @ UnrollError::Profile(ProfileError::BtfRead { .. })), Some(_)) = (&target, &args.btf) {
        anyhow::bail!("{e}");
    }
    let m = matrix(target.as_ref()).context("building the driver matrix")?;
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&matrix_json(&m, &described)).context("JSON")?;
        t.push('\n');
        t
    } else {
        matrix_text(&m, &described)
    };
    stdout.write_all(text.as_bytes()).context("writing the matrix")?;
    Ok(Status::Ok)
}
