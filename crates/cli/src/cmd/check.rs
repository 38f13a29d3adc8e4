//! `bpfpatch check OBJ... [--prog NAME] [--json] [--kernel]`: the abstract verifier's verdict
//! on each program, before loading; with `--kernel` (feature `kernel`) the running kernel's
//! verdict next to it. Exit 1 when a program is rejected.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use bpf_patch::elf::BpfObject;
use std::cell::OnceCell;

use bpf_patch::co_re::{Btf, Target};
use bpf_verifier_model::load::host::running_kconfig;
use bpf_verifier_model::load::{LoadOptions, VMLINUX_BTF};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::object::{check_object, ProgramCheck};
use serde_json::{json, Value};

use crate::Status;

/// Arguments of `bpfpatch check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF objects.
    #[arg(required = true)]
    pub objects: Vec<PathBuf>,
    /// Check only this program (function name).
    #[arg(long)]
    pub prog: Option<String>,
    /// Target kernel BTF for CO-RE (default: the running kernel's, when the object needs it).
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Also load each program into the running kernel and show its verdict.
    #[cfg(feature = "kernel")]
    #[arg(long)]
    pub kernel: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn verdict(c: &ProgramCheck) -> (&'static str, Value) {
    match &c.report {
        Ok(r) => match &r.outcome {
            Outcome::Accept => ("accept", Value::Null),
            Outcome::Reject(d) => ("reject", json!({"insn": d.insn, "message": d.message, "regs": d.regs})),
            Outcome::Unsupported { insn, what } => {
                ("unknown", json!({"insn": insn, "message": format!("not modelled yet: {what}")}))
            }
        },
        Err(e) => ("unknown", json!({"insn": null, "message": e})),
    }
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let mut files = Vec::new();
    let mut rejected = false;
    // The target BTF is read and indexed once, when the first object needs CO-RE.
    let btf_path = args.btf.clone().unwrap_or_else(|| PathBuf::from(VMLINUX_BTF));
    let btf: OnceCell<Btf> = OnceCell::new();
    let target: OnceCell<Target<'_>> = OnceCell::new();
    let kconfig = running_kconfig();
    for path in &args.objects {
        let file = path.display().to_string();
        let bytes = super::read_bytes(path)?;
        let obj = BpfObject::parse(&bytes).with_context(|| file.clone())?;
        let mut options = LoadOptions { kconfig: kconfig.clone(), ..LoadOptions::default() };
        if LoadOptions::has_core(&obj).with_context(|| file.clone())? {
            if btf.get().is_none() {
                let parsed =
                    Btf::from_file(&btf_path).map_err(|e| anyhow::anyhow!("{}: {e}", btf_path.display()))?;
                let _ = btf.set(parsed);
            }
            let t = target.get_or_init(|| Target::new(btf.get().expect("set above")));
            options.sections = Some(LoadOptions::resolve_core(&obj, t).with_context(|| file.clone())?);
        }
        let mut checks = match check_object(&obj, &options) {
            Ok(c) => c,
            Err(e) => {
                // The model cannot prepare the object (e.g. a map type it does not model):
                // no verdict, but the other files are still checked.
                files.push(json!({"file": file, "programs": [], "error": format!("not modelled yet: {e}")}));
                continue;
            }
        };
        if let Some(p) = &args.prog {
            checks.retain(|c| &c.name == p);
            if checks.is_empty() {
                anyhow::bail!("{file}: no program {p}");
            }
        }
        #[cfg(feature = "kernel")]
        let kernel = if args.kernel {
            let opts = crate::kernel::LoadOptions { prog: args.prog.clone(), ..Default::default() };
            Some(crate::kernel::load_each(&bytes, &opts).with_context(|| file.clone())?)
        } else {
            None
        };
        let mut programs = Vec::new();
        for c in &checks {
            let (v, error) = verdict(c);
            rejected |= v == "reject";
            let (insns, states) = c.report.as_ref().map_or((0, 0), |r| (r.insns_processed, r.states));
            #[allow(unused_mut)]
            let mut p = json!({
                "name": c.name, "section": c.section, "verdict": v, "error": error,
                "insns_processed": insns, "states": states, "time_us": c.time_us,
            });
            #[cfg(feature = "kernel")]
            if let Some(k) = kernel.as_ref().and_then(|k| k.iter().find(|l| l.name == c.name)) {
                p["kernel"] = json!({
                    "verdict": if k.accepted { "accept" } else { "reject" },
                    "message": k.summary.message,
                    "verification_time_us": k.summary.verification_time_us,
                    "insns_processed": k.summary.insns_processed,
                });
            }
            programs.push(p);
        }
        files.push(json!({"file": file, "programs": programs}));
    }
    if args.json {
        let doc = if files.len() == 1 { files.remove(0) } else { json!({"files": files}) };
        writeln!(out, "{doc}").context("writing to standard output")?;
    } else {
        let mut text = String::new();
        for f in &files {
            let _ = writeln!(text, "{}", f["file"].as_str().unwrap_or(""));
            if let Some(e) = f["error"].as_str() {
                let _ = writeln!(text, "  (no verdict) {e}");
            }
            for p in f["programs"].as_array().into_iter().flatten() {
                let msg = p["error"]["message"].as_str().map(|m| {
                    let at = p["error"]["insn"].as_u64().map(|i| format!(" at insn {i}")).unwrap_or_default();
                    format!(":{at} {m}")
                });
                let _ = write!(
                    text,
                    "  {:<24} {:<8}{}  ({} insns, {} µs)",
                    p["name"].as_str().unwrap_or(""),
                    p["verdict"].as_str().unwrap_or(""),
                    msg.unwrap_or_default(),
                    p["insns_processed"],
                    p["time_us"]
                );
                if let Some(k) = p.get("kernel") {
                    let km = k["message"].as_str().map(|m| format!(": {m}")).unwrap_or_default();
                    let _ = write!(
                        text,
                        "  | kernel {}{km} ({} insns, {} µs)",
                        k["verdict"].as_str().unwrap_or(""),
                        k["insns_processed"],
                        k["verification_time_us"]
                    );
                }
                text.push('\n');
            }
        }
        out.write_all(text.as_bytes()).context("writing to standard output")?;
    }
    Ok(if rejected { Status::Failed } else { Status::Ok })
}
