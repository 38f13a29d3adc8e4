//! `bpfpatch load OBJ [--prog NAME] [--dev-bound IFNAME] [--test-run HEXDATA] [--json]`: load
//! each program into the running kernel and report the verifier's verdict (feature `kernel`).

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::kernel::{load_each, load_one, LoadOptions, ProgramLoad, TestRun};
use crate::Status;

/// Arguments of `bpfpatch load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BPF ELF object.
    pub object: PathBuf,
    /// Load only this program (function name).
    #[arg(long)]
    pub prog: Option<String>,
    /// Bind the programs to this interface (`BPF_F_XDP_DEV_BOUND_ONLY`), as the XDP metadata
    /// kfuncs require.
    #[arg(long, value_name = "IFNAME")]
    pub dev_bound: Option<String>,
    /// Run each accepted program once with `BPF_PROG_TEST_RUN` on this packet (hex bytes).
    #[arg(long, value_name = "HEXDATA")]
    pub test_run: Option<String>,
    /// Verifier log level (default 5: the failing path plus statistics).
    #[arg(long, default_value_t = crate::kernel::DEFAULT_LOG_LEVEL)]
    pub log_level: u32,
    /// Print the full verifier log of each program.
    #[arg(long)]
    pub log: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ProgramReport {
    #[serde(flatten)]
    load: ProgramLoad,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_run: Option<TestRun>,
}

#[derive(Serialize)]
struct Report {
    file: String,
    programs: Vec<ProgramReport>,
}

fn ifindex(name: &str) -> anyhow::Result<u32> {
    let c = CString::new(name).with_context(|| format!("interface name `{name}` contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        bail!("no interface named `{name}` in this network namespace");
    }
    Ok(index)
}

/// Runs the command.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    let file = args.object.display().to_string();
    let bytes = std::fs::read(&args.object).with_context(|| format!("{file}: cannot read"))?;
    let packet = args.test_run.as_deref().map(super::parse_hex).transpose().context("--test-run")?;
    let opts = LoadOptions {
        prog: args.prog.clone(),
        dev_bound_ifindex: args.dev_bound.as_deref().map(ifindex).transpose()?,
        log_level: args.log_level,
        prog_type: None,
    };
    let loads = load_each(&bytes, &opts).with_context(|| file.clone())?;
    let mut programs = Vec::with_capacity(loads.len());
    for load in loads {
        let test_run = match (&packet, load.accepted) {
            (Some(data), true) => {
                let (_, loaded) =
                    load_one(&bytes, &load.name, &load.section, &opts).with_context(|| file.clone())?;
                let loaded = loaded.with_context(|| {
                    format!("{file}: program `{}` was accepted once, then rejected", load.name)
                })?;
                Some(loaded.test_run(data, 1).with_context(|| file.clone())?)
            }
            _ => None,
        };
        programs.push(ProgramReport { load, test_run });
    }
    let rejected = programs.iter().any(|p| !p.load.accepted);
    let report = Report { file, programs };
    let text =
        if args.json { serde_json::to_string_pretty(&report)? + "\n" } else { render(&report, args.log) };
    out.write_all(text.as_bytes()).context("writing to standard output")?;
    Ok(if rejected { Status::Failed } else { Status::Ok })
}

fn render(report: &Report, with_log: bool) -> String {
    let mut s = String::new();
    for p in &report.programs {
        let l = &p.load;
        let verdict = if l.accepted { "accepted" } else { "rejected" };
        let _ = write!(s, "{}: {} ({}): {verdict}", report.file, l.name, l.section);
        if let Some(n) = l.summary.insns_processed {
            let _ = write!(s, ", processed {n} insns");
        }
        if let Some(t) = l.summary.verification_time_us {
            let _ = write!(s, ", verification time {t} usec");
        }
        s.push('\n');
        if let Some(msg) = &l.summary.message {
            match l.summary.error_insn {
                Some(i) => {
                    let _ = writeln!(s, "  insn {i}: {msg}");
                }
                None => {
                    let _ = writeln!(s, "  {msg}");
                }
            }
        }
        if let Some(m) = &l.libbpf_message {
            for line in m.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        if let Some(t) = &p.test_run {
            let hex: String = t.data_out.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(s, "  test run: retval {}, {} ns, data_out {hex}", t.retval, t.duration_ns);
        }
        if with_log {
            for line in l.log.lines() {
                let _ = writeln!(s, "  | {line}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::cmd::parse_hex;

    #[test]
    fn hex_parsing_is_strict() {
        assert_eq!(parse_hex("0x00ff 10").expect("valid"), vec![0, 0xff, 0x10]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("é0").is_err(), "non-ASCII is an error, not a panic");
        assert_eq!(parse_hex("02:00 ff").expect("separators"), vec![2, 0, 0xff]);
    }
}
