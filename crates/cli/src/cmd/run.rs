//! `bpfpatch run OBJ --prog NAME`: runs one program of an object in the interpreter on a frame,
//! as `BPF_PROG_TEST_RUN` would, and prints the return value, the output frame, the metadata
//! area and the instruction count; `--trace` first prints every executed instruction with the
//! registers it changed.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use bpf_patch::elf::BpfObject;
use bpf_patch::text::{format_op, Syntax};
use bpf_verifier_model::interp::{Helpers, Program, TraceStep, Vm};
use bpf_verifier_model::load::host::running_kconfig;
use bpf_verifier_model::load::{run_packet, LoadOptions, ObjectImage, PacketRun, ProgType, RunError};
use serde_json::json;

use crate::Status;

/// A 60-byte Ethernet + IPv4 + UDP frame (10.0.0.1:1234 → 10.0.0.2:5678, 18-byte payload),
/// used when no `--packet` is given.
pub const DEFAULT_FRAME: &str =
    "02000000000202000000000108004500002e00010000401166bc0a0000010a00000204d2162e001a0000\
                                 000102030405060708090a0b0c0d0e0f1011";

/// Arguments of `bpfpatch run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The BPF object.
    pub input: PathBuf,
    /// The entry program to run (may be left out when the object has only one).
    #[arg(long)]
    pub prog: Option<String>,
    /// The frame as hex (spaces and colons allowed); default: a 60-byte IPv4/UDP frame.
    #[arg(long, conflicts_with = "packet_file")]
    pub packet: Option<String>,
    /// Read the frame's raw bytes from a file.
    #[arg(long)]
    pub packet_file: Option<PathBuf>,
    /// Metadata bytes in front of the frame, as hex (tc programs: `data_meta .. data`).
    #[arg(long)]
    pub meta: Option<String>,
    /// Run this many times (maps keep their contents between runs, as with the kernel's
    /// `repeat`); the output is the last run's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Instruction budget of one run.
    #[arg(long, default_value_t = bpf_verifier_model::interp::DEFAULT_BUDGET)]
    pub budget: u64,
    /// Seed of `bpf_get_prandom_u32`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print each executed instruction with the registers it changed (of the last run).
    #[arg(long)]
    pub trace: bool,
    /// Value of a `__kconfig` extern, `NAME=VALUE` (repeatable); the default is the running
    /// kernel's (`LINUX_KERNEL_VERSION`, its config), 0 when unknown.
    #[arg(long, value_parser = parse_kconfig)]
    pub kconfig: Vec<(String, u64)>,
    /// The target kernel's BTF for CO-RE relocations (default: the running kernel's
    /// `/sys/kernel/btf/vmlinux`, read only when the object has relocations).
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_kconfig(s: &str) -> Result<(String, u64), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    let value = match value.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => value.parse::<u64>(),
    }
    .map_err(|e| format!("{name}: {e}"))?;
    Ok((name.to_owned(), value))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The name of a return value for the program type (`XDP_PASS`, `TC_ACT_SHOT`, ...).
pub fn return_name(ty: ProgType, r0: u64) -> Option<&'static str> {
    const XDP: [&str; 5] = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"];
    const TC: [&str; 8] = [
        "TC_ACT_OK",
        "TC_ACT_RECLASSIFY",
        "TC_ACT_SHOT",
        "TC_ACT_PIPE",
        "TC_ACT_STOLEN",
        "TC_ACT_QUEUED",
        "TC_ACT_REPEAT",
        "TC_ACT_REDIRECT",
    ];
    match ty {
        ProgType::Xdp => XDP.get(r0 as u32 as usize).copied(),
        t if t.is_tc() && r0 as u32 as i32 == -1 => Some("TC_ACT_UNSPEC"),
        t if t.is_tc() => TC.get(r0 as u32 as usize).copied(),
        _ => None,
    }
}

/// Renders a trace: one line per step, a `; function` header where the function changes.
fn render_trace(
    image: &ObjectImage,
    obj: &BpfObject,
    main: &str,
    vm: &Vm,
    trace: &[TraceStep],
) -> Vec<String> {
    let names = image.program_ids(main);
    let mut lines = Vec::with_capacity(trace.len());
    let mut last_function = None;
    for step in trace {
        let name = names.get(step.program as usize).copied().unwrap_or("?");
        let linked = image.program(name);
        let origin = linked.and_then(|l| l.origin.get(step.slot.index()));
        if let Some(o) = origin {
            if last_function != Some((step.program, o.function)) {
                last_function = Some((step.program, o.function));
                lines.push(format!("; {} ({})", obj.programs[o.function].name, name));
            }
        }
        let text = vm
            .program_by_id(step.program)
            .and_then(|p: &Program| p.ops().iter().find(|(s, _)| *s == step.slot))
            .map_or_else(String::new, |(_, op)| format_op(op, Syntax::Llvm));
        let changed =
            step.changed.iter().map(|(r, v)| format!("r{}={v:#x}", r.num())).collect::<Vec<_>>().join(" ");
        lines.push(format!("{:>6}: {text:<40} {changed}", step.slot.0).trim_end().to_owned());
    }
    lines
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let file = args.input.display().to_string();
    let bytes = super::read_bytes(&args.input)?;
    let obj = BpfObject::parse(&bytes).with_context(|| file.clone())?;
    let mut options = match &args.btf {
        Some(btf) => LoadOptions::for_btf(&obj, btf).map(|o| LoadOptions { kconfig: running_kconfig(), ..o }),
        None => LoadOptions::for_running_kernel(&obj),
    }
    .with_context(|| file.clone())?;
    options.kconfig.extend(args.kconfig.iter().cloned());
    let image = ObjectImage::new(&obj, &options).with_context(|| file.clone())?;
    let name = match &args.prog {
        Some(n) => n.clone(),
        None => {
            let entries: Vec<&String> = image.programs.keys().chain(image.failed.keys()).collect();
            match entries.as_slice() {
                [one] => (*one).clone(),
                _ => bail!(
                    "{file}: the object has {} programs; choose one with --prog ({})",
                    entries.len(),
                    entries.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };
    let linked = image.require(&name).with_context(|| format!("{file}: program {name}"))?;
    let ty = ProgType::of_section(&linked.section);
    let frame = match (&args.packet, &args.packet_file) {
        (Some(h), _) => super::parse_hex(h).context("--packet")?,
        (None, Some(p)) => std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?,
        (None, None) => super::parse_hex(DEFAULT_FRAME).context("default frame")?,
    };
    let meta =
        args.meta.as_deref().map(|m| super::parse_hex(m).context("--meta")).transpose()?.unwrap_or_default();
    let mut vm =
        image.vm(&name, Helpers::kernel(args.seed)).with_context(|| format!("{file}: program {name}"))?;
    vm.budget = args.budget;
    let started = Instant::now();
    let mut result: Option<PacketRun> = None;
    for i in 0..args.repeat {
        if args.trace && i + 1 == args.repeat {
            vm.trace = Some(Vec::new());
        }
        let run =
            run_packet(&mut vm, ty, &frame, &meta).map_err(|e| fault(&file, &image, &obj, &name, &vm, e))?;
        result = Some(run);
    }
    let ns_per_run = started.elapsed().as_nanos() / u128::from(args.repeat);
    let r = result.expect("repeat is at least 1");
    let trace = vm.trace.take().map(|t| render_trace(&image, &obj, &name, &vm, &t)).unwrap_or_default();
    let ret_name = return_name(ty, r.r0);
    if args.json {
        let v = json!({
            "file": file,
            "program": name,
            "section": linked.section,
            "return": r.r0,
            "return_name": ret_name,
            "packet": hex(&r.packet),
            "metadata": hex(&r.meta),
            "instructions": r.insns,
            "runs": args.repeat,
            "ns_per_run": ns_per_run as u64,
            "trace": trace,
        });
        writeln!(out, "{v}").context("writing to standard output")?;
        return Ok(Status::Ok);
    }
    let mut text = String::new();
    for line in &trace {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(text, "program: {name} (section {})", linked.section);
    let named = ret_name.map(|n| format!(" ({n})")).unwrap_or_default();
    let _ = writeln!(text, "return: {}{named}", r.r0 as i64);
    let _ = writeln!(text, "packet ({} bytes): {}", r.packet.len(), hex(&r.packet));
    let _ = writeln!(text, "metadata ({} bytes): {}", r.meta.len(), hex(&r.meta));
    let _ = writeln!(text, "instructions: {}", r.insns);
    if args.repeat > 1 {
        let _ = writeln!(text, "runs: {}, {ns_per_run} ns per run", args.repeat);
    }
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(Status::Ok)
}

/// A fault as an error naming the file, the program, its section and the original slot.
fn fault(
    file: &str,
    image: &ObjectImage,
    obj: &BpfObject,
    main: &str,
    vm: &Vm,
    e: RunError,
) -> anyhow::Error {
    let RunError::Fault(f) = &e else { return anyhow::anyhow!("{file}: program {main}: {e}") };
    let names = image.program_ids(main);
    let prog = names.get(vm.stopped_in() as usize).copied().unwrap_or(main);
    let origin = image.program(prog).and_then(|l| l.origin.get(f.slot().index()));
    let place = origin.map_or_else(String::new, |o| {
        format!(
            ", section {} slot {} (function {})",
            obj.sections[o.section].name, o.slot, obj.programs[o.function].name
        )
    });
    anyhow::anyhow!("{file}: program {prog}{place}: {f}")
}
