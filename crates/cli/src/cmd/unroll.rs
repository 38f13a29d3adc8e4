//! `bpfpatch unroll OBJ -o OUT --driver DRIVER [--lowering {kernel,stub,loadable}]
//! [--abi {mainline,rfc}] [--btf PATH [--base-btf PATH]] [--json] [--show]`: replaces every call
//! of an XDP RX-metadata kfunc by the driver's inline sequence ([`bpf_unroll::unroll`]) and
//! prints which profile gave the layouts (with each layout's provenance), then per site the
//! program, the instruction index (slots from the function's first instruction, in the output),
//! the kfunc, the instructions emitted, the registers written, the stack used and the kernel
//! routines called (mlx4 and bnxt timestamps, under the `xdp_kfunc_call_preserving_r1`
//! contract). `--show` adds, per site, the original call and the annotated sequence (and in JSON
//! the annotations and routine calls). The JSON also names the driver and lowering and, per site,
//! the declared scratch slots and allowed kfunc ids of a `loadable` sequence: what
//! `bpfpatch check --unrolled` holds the output to. ice, mlx4 and bnxt have no `loadable`
//! lowering on a BTF without their wrapper struct: an error names it.
//!
//! Layouts: with `--btf` (and `--base-btf` for a split module BTF) every layout is read from
//! that BTF, and a struct or field a sequence needs that it lacks is an error naming both;
//! without, the `kernel` and `stub` lowerings use the driver's bundled profile
//! ([`bpf_unroll::Profile::bundled`]) and `loadable` reads `/sys/kernel/btf/vmlinux`, whose ids
//! it needs anyway. The same BTF names the kfunc ids of calls already in resolved form.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bpf_patch::text::{format_op, Syntax};
use bpf_unroll::profile::{LoadedBtf, Origin};
use bpf_unroll::{unroll, Abi, Driver, KernelIds, KfuncIds, Lowering, Options, Profile, Report};
use serde_json::json;

use crate::output::write_atomic;
use crate::Status;

/// The running kernel's BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// `--driver`: any of [`Driver::ALL`] by name.
pub fn driver_parser() -> impl clap::builder::TypedValueParser<Value = Driver> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Driver::ALL.map(Driver::name))
        .map(|s| Driver::ALL.into_iter().find(|d| d.name() == s).expect("clap accepted one of the names"))
}

/// `--lowering`: any of [`Lowering::ALL`] by name.
pub fn lowering_parser() -> impl clap::builder::TypedValueParser<Value = Lowering> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Lowering::ALL.map(Lowering::name))
        .map(|s| Lowering::ALL.into_iter().find(|l| l.name() == s).expect("clap accepted one of the names"))
}

/// `--abi`: any of [`Abi::ALL`] by name.
pub fn abi_parser() -> impl clap::builder::TypedValueParser<Value = Abi> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Abi::ALL.map(Abi::name))
        .map(|s| Abi::ALL.into_iter().find(|a| a.name() == s).expect("clap accepted one of the names"))
}

/// Arguments of `bpfpatch unroll`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF ELF object to read (never modified).
    pub object: PathBuf,
    /// Where to write the rewritten object.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The driver whose kfunc implementations are inlined.
    #[arg(long, value_parser = driver_parser())]
    pub driver: Driver,
    /// How the sequences reach the driver's data: `kernel` (direct loads through the context,
    /// as the RFC emitted after verification), `stub` (the default result, out-parameters
    /// zeroed: loads without device binding), `loadable` (casts to the driver's wrapper,
    /// accepted by today's verifier; needs the target's BTF).
    #[arg(long, value_parser = lowering_parser(), default_value = "kernel")]
    pub lowering: Lowering,
    /// The kfunc ABI the object was written against: `mainline` (6.3+) or `rfc` (2022 RFC).
    #[arg(long, value_parser = abi_parser(), default_value = "mainline")]
    pub abi: Abi,
    /// The target kernel's BTF (raw, as in /sys/kernel/btf): every struct layout, the
    /// `loadable` lowering's ids, and the kfunc ids of calls already in resolved form
    /// (`src_reg = 2`). Default: the driver's bundled profile for the layouts,
    /// /sys/kernel/btf/vmlinux for the rest.
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// The vmlinux BTF a split module BTF given with `--btf` is based on.
    #[arg(long, requires = "btf")]
    pub base_btf: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print each site's original call and annotated sequence.
    #[arg(long)]
    pub show: bool,
}

/// The layouts and ids a run uses: the profile (`None`: the default driver with its bundled
/// profile, which reads no layouts) and the options.
fn setup(args: &Args) -> anyhow::Result<(Option<Profile>, Options)> {
    let mut options = Options::new(args.driver, args.lowering, args.abi);
    let vmlinux = Path::new(VMLINUX);
    let (btf_path, base) = match &args.btf {
        Some(p) => (Some(p.as_path()), args.base_btf.as_deref()),
        None if args.lowering == Lowering::Loadable || vmlinux.exists() => (Some(vmlinux), None),
        None => (None, None),
    };
    let loaded = btf_path.map(|p| LoadedBtf::read(p, base)).transpose()?;
    let profile = match (&loaded, btf_path) {
        (Some(l), Some(p)) if args.btf.is_some() || args.lowering == Lowering::Loadable => {
            let kernel = p.display().to_string();
            Some(Profile::from_btf(args.driver, &l.files(p, base), &kernel)?)
        }
        _ => Profile::bundled(args.driver)?,
    };
    if let Some(p) = &profile {
        options.layouts = p.layouts.clone();
    }
    if let Some(l) = &loaded {
        if args.lowering == Lowering::Loadable {
            options.kernel_ids = Some(KernelIds::from_btf(&l.btf)?);
        }
        options.resolved = Some(KfuncIds::from_btf(&l.btf));
    }
    Ok((profile, options))
}

/// The profile as JSON: driver, kernel, origin and per listed layout its sources and notes
/// (`null` for a driver without one).
pub fn profile_json(profile: Option<&Profile>) -> serde_json::Value {
    let Some(p) = profile else { return serde_json::Value::Null };
    let layouts: Vec<serde_json::Value> = p
        .sources
        .iter()
        .map(|s| {
            let parts: Vec<serde_json::Value> = s
                .parts
                .iter()
                .map(|part| json!({ "source": p.describe(&part.source), "fields": part.fields }))
                .collect();
            json!({ "layout": s.layout, "parts": parts, "notes": s.notes })
        })
        .collect();
    json!({ "driver": p.driver, "kernel": p.kernel, "origin": p.origin.to_string(), "layouts": layouts })
}

/// The profile as text: a header line, then one line per layout source.
pub fn profile_text(profile: Option<&Profile>) -> String {
    let Some(p) = profile else { return "profile: none (the driver reads no layouts)\n".to_owned() };
    let mut out = match &p.origin {
        Origin::Files { .. } => format!("profile: {}, read from {}\n", p.driver, p.origin),
        _ => format!("profile: {} (bundled), kernel {}\n", p.driver, p.kernel),
    };
    for line in p.provenance() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn regs(s: &bpf_unroll::SiteReport) -> Vec<String> {
    s.regs_written.iter().map(ToString::to_string).collect()
}

/// The report as the JSON document, with the profile (`annotations` added with
/// `--show`).
pub fn report_json(report: &Report, profile: Option<&Profile>, show: bool) -> serde_json::Value {
    let sites: Vec<serde_json::Value> = report
        .sites
        .iter()
        .map(|s| {
            let mut v = json!({
                "program": s.program,
                "insn": s.insn.0,
                "kfunc": s.kfunc.name(),
                "emitted": s.emitted(),
                "regs_written": regs(s),
                "stack_bytes": s.stack_bytes,
                "scratch": s.scratch.map(|(lo, hi)| json!({ "lo": lo, "hi": hi })),
                "kfunc_ids": s.kfunc_ids,
            });
            if show {
                v["annotations"] = json!(s.annotations);
                let calls: Vec<serde_json::Value> = s
                    .calls
                    .iter()
                    .map(|&(at, name)| json!({ "insn": s.insn.0 + at.0, "routine": name }))
                    .collect();
                v["calls"] = json!(calls);
            }
            v
        })
        .collect();
    json!({
        "driver": report.driver.name(),
        "lowering": report.lowering.name(),
        "profile": profile_json(profile),
        "sites": sites,
    })
}

/// The report as text: one line per site, and with `show` the call and the annotated sequence.
pub fn report_text(report: &Report, show: bool) -> String {
    let mut out = String::new();
    for s in &report.sites {
        let _ = writeln!(
            out,
            "{} insn {}: {} -> {} insns, writes {}, stack {} bytes",
            s.program,
            s.insn,
            s.kfunc,
            s.emitted(),
            regs(s).join(","),
            s.stack_bytes
        );
        for &(at, name) in &s.calls {
            let _ = writeln!(
                out,
                "  calls {name} at insn {} (kernel routine, relocated by name)",
                s.insn.0 + at.0
            );
        }
        if show {
            let call = bpf_patch::Op::decode(&[s.call], bpf_patch::Slot(0))
                .map_or_else(|e| e.to_string(), |op| format_op(&op, Syntax::Llvm));
            let _ = writeln!(out, "  was {}: {call}  ; {}", s.original_insn, s.kfunc);
            let listing = bpf_patch::text::disassemble(&s.code, Syntax::Llvm).unwrap_or_default();
            let width = listing.iter().map(|(_, t)| t.len()).max().unwrap_or(0);
            for ((slot, text), note) in listing.iter().zip(&s.annotations) {
                let _ = writeln!(out, "  {:>4}: {text:<width$}  ; {note}", s.insn.0 + slot.0);
            }
        }
    }
    if report.sites.is_empty() {
        out.push_str("no metadata kfunc calls\n");
    }
    out
}

/// Runs the command.
pub fn run(args: &Args, stdout: &mut impl Write) -> anyhow::Result<Status> {
    let file = args.object.display().to_string();
    let input = std::fs::read(&args.object).with_context(|| format!("{file}: cannot read"))?;
    let (profile, options) = setup(args)?;
    let (out, report) = unroll(&input, &options)
        .map_err(|e| match &profile {
            Some(p) => p.explain(e),
            None => e,
        })
        .with_context(|| file.clone())?;
    write_atomic(&args.output, &out)?;
    let text = if args.json {
        let doc = report_json(&report, profile.as_ref(), args.show);
        let mut t = serde_json::to_string_pretty(&doc).context("JSON")?;
        t.push('\n');
        t
    } else {
        profile_text(profile.as_ref()) + &report_text(&report, args.show)
    };
    stdout.write_all(text.as_bytes()).context("writing the report")?;
    Ok(Status::Ok)
}
