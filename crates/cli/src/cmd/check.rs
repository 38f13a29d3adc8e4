//! `bpfpatch check OBJ|DIR... [--prog NAME] [--prog-type T] [--log-level N] [--json] [--kernel]
//! [--dev-bound] [--btf FILE] [--kfuncs VERSION] [--unrolled REPORT.json]`:
//! the abstract verifier's verdict on each program, before loading; with `--kernel` (feature
//! `kernel`) the running kernel's verdict next to it. Directories are searched for BPF ELF
//! objects. Over several files, progress goes to stderr when it is a terminal and a summary
//! ends the output. Exit 1 when a program is rejected; exit 2 when an input is not a
//! readable BPF object (with one input, nothing else is printed). With `--unrolled`, the
//! regions an `unroll --json` report names are also held to their lowering's discipline
//! ([`super::unrolled`]); a breach rejects the program. A `kernel` lowering's regions are
//! verified in the trusted-region mode (their context loads typed through the driver's
//! wrapper), so that the rest of the program gets a verdict.

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use bpf_patch::co_re::{Btf, Target};
use bpf_patch::elf::BpfObject;
use bpf_verifier_model::load::host::running_kconfig;
use bpf_verifier_model::load::{LoadOptions, ProgType, VMLINUX_BTF};
use bpf_verifier_model::verifier::explore::Outcome;
use bpf_verifier_model::verifier::object::{check_object_with, CheckOptions, KfuncCache, ProgramCheck};
use serde_json::{json, Value};

use crate::Status;

/// Arguments of `bpfpatch check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF objects, or directories searched recursively for BPF ELF objects.
    #[arg(required = true)]
    pub objects: Vec<PathBuf>,
    /// Check only this program (function name).
    #[arg(long)]
    pub prog: Option<String>,
    /// Verify every program as this type (xdp, sched_cls, socket_filter, cgroup_skb, ...)
    /// instead of the type its section names.
    #[arg(long, value_parser = parse_prog_type)]
    pub prog_type: Option<ProgType>,
    /// Check every function, `.text` ones included, and type sections as pre-libbpf loaders
    /// did (`xdp_prog` is XDP, `socket1` a socket filter, other bare names SCHED_CLS):
    /// PREVAIL's convention, for objects such as the ebpf-samples corpus.
    #[arg(long)]
    pub legacy: bool,
    /// Target kernel BTF for CO-RE and kfunc prototypes (default: the running kernel's, when
    /// the object needs it).
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Take kfunc prototypes from the table bundled for this kernel version (e.g. 6.18.44)
    /// instead of a BTF. Without it, `--btf` or the running kernel's BTF is read; when neither
    /// is readable, the newest bundled table is used and the output says so.
    #[arg(long = "kfuncs", visible_alias = "kernel-version", value_name = "VERSION")]
    pub kfuncs: Option<String>,
    /// Model a device-bound XDP load (`BPF_F_XDP_DEV_BOUND_ONLY`), which the XDP metadata
    /// kfuncs require.
    #[arg(long)]
    pub dev_bound: bool,
    /// Also load each program into the running kernel and show its verdict.
    #[cfg(feature = "kernel")]
    #[arg(long)]
    pub kernel: bool,
    /// The `unroll --json` report of the (single) object: check each unrolled region against
    /// its lowering's discipline; a breach is a rejection. A `kernel` lowering's regions are
    /// also verified in the trusted-region mode: their context loads are typed through the
    /// driver's wrapper, as the RFC's kernel trusted them.
    #[arg(long)]
    pub unrolled: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// 0: verdicts only. 1: also the path to each rejection, one instruction per line, and the
    /// registers there. 2: the state before every explored instruction (the kernel's level 2).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub log_level: u8,
}

fn parse_prog_type(s: &str) -> Result<ProgType, String> {
    ProgType::from_name(s).ok_or_else(|| format!("unknown program type `{s}`"))
}

/// Whether `path` starts like a BPF ELF object (magic, then `e_machine` = `EM_BPF` in the
/// file's byte order).
fn is_bpf_elf(path: &Path) -> bool {
    let mut head = [0u8; 20];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    const EM_BPF: u16 = 247;
    read.is_ok()
        && head[..4] == *b"\x7fELF"
        && match head[5] {
            1 => u16::from_le_bytes([head[18], head[19]]) == EM_BPF,
            2 => u16::from_be_bytes([head[18], head[19]]) == EM_BPF,
            _ => false,
        }
}

/// The inputs: files as given, directories walked for BPF ELF objects (sorted, so runs
/// compare).
fn inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        let mut stack = vec![p.clone()];
        while let Some(dir) = stack.pop() {
            let entries =
                std::fs::read_dir(&dir).with_context(|| format!("{}: cannot list", dir.display()))?;
            for e in entries {
                let path = e.with_context(|| format!("{}: cannot list", dir.display()))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if is_bpf_elf(&path) {
                    found.push(path);
                }
            }
        }
        if found.is_empty() {
            anyhow::bail!("{}: no BPF ELF objects in this directory", p.display());
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Instructions of a rejection's path given in JSON (its end).
const PATH_TAIL: usize = 200;

fn verdict(c: &ProgramCheck) -> (&'static str, Value) {
    match &c.report {
        Ok(r) => match &r.outcome {
            Outcome::Accept => ("accept", Value::Null),
            Outcome::Reject(d) => {
                // The path's last instructions (all of it unless it is long), and its length.
                let tail = &d.path[d.path.len().saturating_sub(PATH_TAIL)..];
                let error = json!({
                    "insn": d.insn, "message": d.message, "regs": d.regs, "path": tail, "path_len": d.path.len(),
                });
                ("reject", error)
            }
            Outcome::Unsupported { insn, what } => {
                ("unknown", json!({"insn": insn, "message": format!("not modelled yet: {what}")}))
            }
        },
        Err(e) => ("unknown", json!({"insn": null, "message": e})),
    }
}

/// Shared across files: the target BTF is read and indexed once, when an object needs CO-RE.
struct Session<'a> {
    args: &'a Args,
    btf_path: PathBuf,
    btf: &'a OnceCell<Btf>,
    target: &'a OnceCell<Target<'a>>,
    kconfig: std::collections::BTreeMap<String, u64>,
    /// The regions of `--unrolled`.
    unrolled: Option<super::unrolled::Unrolled>,
    /// The kfunc prototypes, made once for all the files.
    kfunc_cache: KfuncCache,
}

/// Why a file has no verdicts.
enum FileError {
    /// Not a readable BPF object: bad input (exit 2).
    Input(anyhow::Error),
    /// Something the model does not cover yet (no verdict, not an input error).
    NotModelled(String),
}

impl Session<'_> {
    fn check_file(&self, path: &Path) -> Result<Value, FileError> {
        let args = self.args;
        let file = path.display().to_string();
        let bytes = super::read_bytes(path).map_err(FileError::Input)?;
        let obj = BpfObject::parse(&bytes).with_context(|| file.clone()).map_err(FileError::Input)?;
        let mut options = LoadOptions {
            kconfig: self.kconfig.clone(),
            all_functions: args.legacy,
            ..LoadOptions::default()
        };
        if LoadOptions::has_core(&obj).with_context(|| file.clone()).map_err(FileError::Input)? {
            if self.btf.get().is_none() {
                let parsed = Btf::from_file(&self.btf_path)
                    .map_err(|e| FileError::Input(anyhow::anyhow!("{}: {e}", self.btf_path.display())))?;
                let _ = self.btf.set(parsed);
            }
            let t = self.target.get_or_init(|| Target::new(self.btf.get().expect("set above")));
            let sections = LoadOptions::resolve_core(&obj, t)
                .map_err(|e| FileError::NotModelled(format!("CO-RE: {e}")))?;
            options.sections = Some(sections);
        }
        let check = CheckOptions {
            only: args.prog.clone(),
            prog_type: args.prog_type,
            log_level: args.log_level,
            legacy_sections: args.legacy,
            dev_bound: args.dev_bound,
            kernel_btf: args.btf.clone(),
            trusted: self.unrolled.as_ref().and_then(|u| u.trusted.clone()),
            kernel_version: args.kfuncs.clone(),
            kfunc_cache: self.kfunc_cache.clone(),
        };
        let checks = check_object_with(&obj, &options, &check)
            .map_err(|e| FileError::NotModelled(format!("not modelled yet: {e}")))?;
        if let (Some(p), true) = (&args.prog, checks.is_empty()) {
            return Err(FileError::Input(anyhow::anyhow!("{file}: no program {p}")));
        }
        let mut doc = json!({"file": file, "programs": checks.iter().map(program_json).collect::<Vec<_>>()});
        if let Some(from) = checks.iter().find_map(|c| c.kfuncs_from.as_deref()) {
            let fallback = args.btf.is_none() && args.kfuncs.is_none() && from.starts_with("the bundled");
            let why =
                if fallback { format!("; no --btf and no readable {VMLINUX_BTF}") } else { String::new() };
            doc["kfuncs_from"] = json!(format!("{from}{why}"));
        }
        if let Some(u) = &self.unrolled {
            let diags = super::unrolled::diagnostics(&bytes, &u.regions)
                .with_context(|| file.clone())
                .map_err(FileError::Input)?;
            super::unrolled::reject_programs(&mut doc, &diags);
            doc["unrolled"] = json!(diags);
        }
        #[cfg(feature = "kernel")]
        if args.kernel {
            self.add_kernel(&bytes, &mut doc);
        }
        Ok(doc)
    }

    /// Loads the file's programs into the running kernel and puts its verdicts next to ours.
    #[cfg(feature = "kernel")]
    fn add_kernel(&self, bytes: &[u8], doc: &mut Value) {
        let opts = crate::kernel::LoadOptions {
            prog: self.args.prog.clone(),
            prog_type: self.args.prog_type.and_then(ProgType::number),
            ..Default::default()
        };
        let loads = match crate::kernel::load_each(bytes, &opts) {
            Ok(l) => l,
            Err(e) => {
                doc["kernel_error"] = json!(e.to_string());
                return;
            }
        };
        for p in doc["programs"].as_array_mut().into_iter().flatten() {
            if let Some(k) = loads.iter().find(|l| p["name"] == l.name.as_str()) {
                // A program libbpf refused before the verifier ran (map creation, BTF, a
                // big-endian object) has no kernel verdict.
                let verified = k.accepted || k.summary.insns_processed.is_some();
                p["kernel"] = json!({
                    "verdict": if k.accepted { "accept" } else if verified { "reject" } else { "not_verified" },
                    "message": k.summary.message,
                    "verification_time_us": k.summary.verification_time_us,
                    "insns_processed": k.summary.insns_processed,
                });
            }
        }
    }
}

fn program_json(c: &ProgramCheck) -> Value {
    let (v, error) = verdict(c);
    let (insns, states) = c.report.as_ref().map_or((0, 0), |r| (r.insns_processed, r.states));
    let mut p = json!({
        "name": c.name, "section": c.section, "prog_type": c.prog_type.name(), "verdict": v, "error": error,
        "insns_processed": insns, "states": states, "time_us": c.time_us,
    });
    if !c.log.is_empty() {
        p["log"] = json!(c.log);
    }
    p
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let started = Instant::now();
    if let Some(v) = &args.kfuncs {
        bpf_verifier_model::verifier::kfunc::KfuncTable::bundled(v).context("--kfuncs")?;
    }
    let paths = inputs(&args.objects)?;
    let unrolled = match &args.unrolled {
        Some(report) if paths.len() != 1 => {
            anyhow::bail!("{}: --unrolled describes one object, {} given", report.display(), paths.len())
        }
        Some(report) => Some(super::unrolled::read_report(report, args.btf.as_deref())?),
        None => None,
    };
    let btf = OnceCell::new();
    let target = OnceCell::new();
    let session = Session {
        args,
        btf_path: args.btf.clone().unwrap_or_else(|| PathBuf::from(VMLINUX_BTF)),
        btf: &btf,
        target: &target,
        kconfig: running_kconfig(),
        unrolled,
        kfunc_cache: KfuncCache::default(),
    };
    let progress = paths.len() > 1 && std::io::stderr().is_terminal();
    let mut files = Vec::with_capacity(paths.len());
    let mut bad_input = false;
    for (i, path) in paths.iter().enumerate() {
        if progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K[{}/{}] {}", i + 1, paths.len(), path.display());
            let _ = err.flush();
        }
        let file = path.display().to_string();
        match session.check_file(path) {
            Ok(doc) => files.push(doc),
            Err(FileError::Input(e)) if paths.len() == 1 => return Err(e),
            Err(FileError::Input(e)) => {
                bad_input = true;
                let error = crate::error_text(&e);
                files.push(json!({"file": file, "programs": [], "error": error, "bad_input": true}));
            }
            Err(FileError::NotModelled(e)) => files.push(json!({"file": file, "programs": [], "error": e})),
        }
    }
    if progress {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    let summary = summarize(&files, started.elapsed().as_secs_f64());
    let rejected = summary["ours"]["reject"].as_u64().unwrap_or(0) > 0
        || files.iter().any(|f| f["unrolled"].as_array().is_some_and(|d| !d.is_empty()));
    let text = if args.json {
        let mut doc = if files.len() == 1 { files.remove(0) } else { json!({"files": files}) };
        if paths.len() > 1 {
            doc["summary"] = summary;
        }
        format!("{doc}\n")
    } else {
        let mut text = render_files(&files);
        if paths.len() > 1 {
            text.push_str(&render_summary(&summary));
        }
        text
    };
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(if bad_input {
        Status::BadInput
    } else if rejected {
        Status::Failed
    } else {
        Status::Ok
    })
}

fn render_files(files: &[Value]) -> String {
    let mut text = String::new();
    for f in files {
        let _ = writeln!(text, "{}", f["file"].as_str().unwrap_or(""));
        if let Some(e) = f["error"].as_str() {
            let _ = writeln!(text, "  (no verdict) {e}");
        }
        if f["error"].is_null() && f["programs"].as_array().is_some_and(|p| p.is_empty()) {
            let _ = writeln!(text, "  (no programs libbpf would load; --legacy checks every function)");
        }
        if let Some(from) = f["kfuncs_from"].as_str().filter(|f| f.starts_with("the bundled")) {
            let _ = writeln!(text, "  (kfunc prototypes from {from})");
        }
        if let Some(e) = f["kernel_error"].as_str() {
            let _ = writeln!(text, "  (kernel did not load the object) {e}");
        }
        for d in f["unrolled"].as_array().into_iter().flatten() {
            let _ = writeln!(text, "  unrolled: {}", d["text"].as_str().unwrap_or(""));
        }
        for p in f["programs"].as_array().into_iter().flatten() {
            let msg = p["error"]["message"].as_str().map(|m| {
                let at = p["error"]["insn"].as_u64().map(|i| format!(" at insn {i}")).unwrap_or_default();
                format!("{at}: {m}")
            });
            let _ = write!(
                text,
                "  {:<24} {}{}  ({} insns, {} µs)",
                p["name"].as_str().unwrap_or(""),
                p["verdict"].as_str().unwrap_or(""),
                msg.unwrap_or_default(),
                p["insns_processed"],
                p["time_us"]
            );
            if let Some(k) = p.get("kernel") {
                let km = k["message"].as_str().map(|m| format!(": {m}")).unwrap_or_default();
                let _ = write!(text, "  | kernel {}{km}", k["verdict"].as_str().unwrap_or(""));
                if let (Some(n), Some(us)) =
                    (k["insns_processed"].as_u64(), k["verification_time_us"].as_u64())
                {
                    let _ = write!(text, " ({n} insns, {us} µs)");
                }
            }
            text.push('\n');
            for line in p["log"].as_array().into_iter().flatten() {
                let _ = writeln!(text, "    {}", line.as_str().unwrap_or(""));
            }
        }
    }
    text
}

fn median(v: &mut [u64]) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Peak resident memory of this process in bytes (`VmHWM`), where `/proc` has it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Counts over all files: our verdicts, and with `--kernel` the agreement with the kernel's
/// and both sides' time on the programs both decided.
fn summarize(files: &[Value], seconds: f64) -> Value {
    let programs: Vec<&Value> =
        files.iter().flat_map(|f| f["programs"].as_array().into_iter().flatten()).collect();
    let count = |v: &str| programs.iter().filter(|p| p["verdict"] == v).count();
    let mut summary = json!({
        "files": files.len(),
        "file_errors": files.iter().filter(|f| f["error"].is_string()).count(),
        "bad_input": files.iter().filter(|f| f["bad_input"] == true).count(),
        "programs": programs.len(),
        "ours": {"accept": count("accept"), "reject": count("reject"), "unknown": count("unknown")},
        "seconds": seconds,
        "peak_memory_bytes": peak_memory(),
    });
    let verified = |p: &&&Value| p.get("kernel").is_some_and(|k| k["verdict"] != "not_verified");
    let both: Vec<&&Value> = programs.iter().filter(|p| verified(p) && p["verdict"] != "unknown").collect();
    if programs.iter().any(|p| p.get("kernel").is_some()) {
        let pair = |ours: &str, kernel: &str| {
            both.iter().filter(|p| p["verdict"] == ours && p["kernel"]["verdict"] == kernel).count()
        };
        let same_message = both
            .iter()
            .filter(|p| p["verdict"] == "reject" && p["kernel"]["message"] == p["error"]["message"])
            .count();
        let mut ours_us: Vec<u64> = both.iter().filter_map(|p| p["time_us"].as_u64()).collect();
        let mut kernel_us: Vec<u64> =
            both.iter().filter_map(|p| p["kernel"]["verification_time_us"].as_u64()).collect();
        summary["kernel"] = json!({
            "compared": both.len(),
            "not_verified": programs.iter().filter(|p| p.get("kernel").is_some_and(|k| k["verdict"] == "not_verified")).count(),
            "agree": pair("accept", "accept") + pair("reject", "reject"),
            "false_accepts": pair("accept", "reject"),
            "false_rejects": pair("reject", "accept"),
            "same_first_message": same_message,
            "ours_median_us": median(&mut ours_us),
            "ours_total_us": ours_us.iter().sum::<u64>(),
            "kernel_median_us": median(&mut kernel_us),
            "kernel_total_us": kernel_us.iter().sum::<u64>(),
        });
    }
    summary
}

fn render_summary(s: &Value) -> String {
    let mut t = String::new();
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let _ = writeln!(
        t,
        "\nsummary: {} files ({} without verdicts, {} not BPF objects), {} programs, {:.2} s, peak memory {} MB",
        n(&s["files"]),
        n(&s["file_errors"]),
        n(&s["bad_input"]),
        n(&s["programs"]),
        s["seconds"].as_f64().unwrap_or(0.0),
        s["peak_memory_bytes"].as_u64().map_or("?".to_owned(), |b| (b / (1 << 20)).to_string()),
    );
    let _ = writeln!(t, "  {:<10} {:>8} {:>8} {:>8}", "", "accept", "reject", "unknown");
    let o = &s["ours"];
    let _ =
        writeln!(t, "  {:<10} {:>8} {:>8} {:>8}", "ours", n(&o["accept"]), n(&o["reject"]), n(&o["unknown"]));
    if let Some(k) = s.get("kernel") {
        let _ = writeln!(
            t,
            "  kernel: {} compared, {} agree, {} false accepts (we accept, kernel rejects), {} false rejects, \
             {} rejections with the kernel's first message, {} not verified by the kernel",
            n(&k["compared"]),
            n(&k["agree"]),
            n(&k["false_accepts"]),
            n(&k["false_rejects"]),
            n(&k["same_first_message"]),
            n(&k["not_verified"]),
        );
        let _ = writeln!(
            t,
            "  time per program: ours median {} µs (total {} µs), kernel median {} µs (total {} µs)",
            n(&k["ours_median_us"]),
            n(&k["ours_total_us"]),
            n(&k["kernel_median_us"]),
            n(&k["kernel_total_us"]),
        );
    }
    t
}
