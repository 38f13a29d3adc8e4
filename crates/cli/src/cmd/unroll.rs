//! `bpfpatch unroll OBJ -o OUT --driver {veth,ice,mlx4,bnxt,default}
//! [--lowering {kernel,stub,loadable}] [--abi {mainline,rfc}] [--btf PATH] [--json] [--show]`:
//! replaces every call of an XDP RX-metadata kfunc by the driver's inline sequence
//! ([`bpf_unroll::unroll`]) and prints, per site, the program, the instruction index (slots from
//! the function's first instruction, in the output), the kfunc, the instructions emitted, the
//! registers written, the stack used and the kernel routines called (mlx4 and bnxt timestamps,
//! under the `xdp_kfunc_call_preserving_r1` contract). `--show` adds, per site, the original
//! call and the annotated sequence (and in JSON the annotations and routine calls). ice, mlx4
//! and bnxt have no `loadable` lowering on a BTF without their wrapper struct: an error names it. Layouts: the bundled 6.18 profile; `loadable`
//! takes its BTF ids from `--btf` (default `/sys/kernel/btf/vmlinux`), which also names the
//! calls already in resolved form.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use bpf_patch::text::{format_op, Syntax};
use bpf_unroll::{unroll, Abi, Driver, KernelIds, KfuncIds, Lowering, Options, Report};

/// The running kernel's BTF.
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
use serde_json::json;

use crate::output::write_atomic;
use crate::Status;

/// `--driver`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DriverArg {
    /// veth.
    Veth,
    /// Intel ice: everything inline.
    Ice,
    /// Mellanox mlx4: hash inline, timestamp through a kernel routine, no VLAN.
    Mlx4,
    /// Broadcom bnxt (the RFC's wrapper): timestamp through a kernel routine only.
    Bnxt,
    /// No metadata support: -EOPNOTSUPP (mainline) or 0 (RFC).
    Default,
}

/// `--lowering`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoweringArg {
    /// Direct loads through the context, as the RFC emitted after verification.
    Kernel,
    /// The default result, out-parameters zeroed: loads without device binding.
    Stub,
    /// Accepted by today's verifier (casts to the driver's wrapper; needs the target's BTF).
    Loadable,
}

/// `--abi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AbiArg {
    /// Mainline (6.3+) kfuncs.
    Mainline,
    /// The 2022 RFC's kfuncs.
    Rfc,
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
    #[arg(long, value_enum)]
    pub driver: DriverArg,
    /// How the sequences reach the driver's data.
    #[arg(long, value_enum, default_value = "kernel")]
    pub lowering: LoweringArg,
    /// The kfunc ABI the object was written against.
    #[arg(long, value_enum, default_value = "mainline")]
    pub abi: AbiArg,
    /// The target kernel's BTF (default `/sys/kernel/btf/vmlinux`): the `loadable` lowering's
    /// ids, and the kfunc ids of calls already in resolved form (`src_reg = 2`).
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print each site's original call and annotated sequence.
    #[arg(long)]
    pub show: bool,
}

impl Args {
    fn options(&self) -> anyhow::Result<Options> {
        let driver = match self.driver {
            DriverArg::Veth => Driver::Veth,
            DriverArg::Ice => Driver::Ice,
            DriverArg::Mlx4 => Driver::Mlx4,
            DriverArg::Bnxt => Driver::Bnxt,
            DriverArg::Default => Driver::Default,
        };
        let lowering = match self.lowering {
            LoweringArg::Kernel => Lowering::Kernel,
            LoweringArg::Stub => Lowering::Stub,
            LoweringArg::Loadable => Lowering::Loadable,
        };
        let abi = match self.abi {
            AbiArg::Mainline => Abi::Mainline,
            AbiArg::Rfc => Abi::Rfc,
        };
        let mut options = Options::new(driver, lowering, abi);
        let default = PathBuf::from(VMLINUX);
        let btf = self.btf.as_ref().unwrap_or(&default);
        if lowering == Lowering::Loadable {
            options.kernel_ids = Some(KernelIds::from_file(btf)?);
        }
        // Resolved calls: with an explicit --btf always, with the default only when present.
        if self.btf.is_some() || default.exists() {
            options.resolved = Some(KfuncIds::from_file(btf)?);
        }
        Ok(options)
    }
}

fn regs(s: &bpf_unroll::SiteReport) -> Vec<String> {
    s.regs_written.iter().map(ToString::to_string).collect()
}

/// The report as the JSON document (`annotations` added with `--show`).
pub fn report_json(report: &Report, show: bool) -> serde_json::Value {
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
    json!({ "sites": sites })
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
    let (out, report) = unroll(&input, &args.options()?).with_context(|| file.clone())?;
    write_atomic(&args.output, &out)?;
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&report_json(&report, args.show)).context("JSON")?;
        t.push('\n');
        t
    } else {
        report_text(&report, args.show)
    };
    stdout.write_all(text.as_bytes()).context("writing the report")?;
    Ok(Status::Ok)
}
