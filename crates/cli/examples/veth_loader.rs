//! A loader on libbpf-rs that uses the unroller as a library: reads an XDP object written
//! against the mainline metadata kfuncs, unrolls it for veth in memory (`bpf_unroll::unroll`,
//! bytes in, bytes out, `loadable` lowering against this kernel's BTF), opens the result with
//! `libbpf_rs::ObjectBuilder::open_memory`, loads it *without* device binding, attaches the XDP
//! program to the interface, prints the program id, waits for Ctrl-C (or `--seconds N`) and
//! detaches.
//!
//! ```text
//! cargo run -p bpfpatch --features kernel --example veth_loader -- OBJECT IFNAME [--prog NAME] [--seconds N]
//! ```
//!
//! Needs root (or CAP_BPF + CAP_NET_ADMIN) and `/sys/kernel/btf/vmlinux`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bpf_unroll::profile::LoadedBtf;
use bpf_unroll::{unroll, Abi, Driver, KernelIds, KfuncIds, Lowering, Options, Profile};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The unrolled object for veth on the running kernel, and how many calls were replaced.
fn unroll_for_veth(input: &[u8]) -> anyhow::Result<(Vec<u8>, usize)> {
    let vmlinux = Path::new(VMLINUX);
    let btf = LoadedBtf::read(vmlinux, None)?;
    let mut options = Options::new(Driver::Veth, Lowering::Loadable, Abi::Mainline);
    options.layouts = Profile::from_btf(Driver::Veth, &btf.files(vmlinux, None), VMLINUX)?.layouts;
    options.kernel_ids = Some(KernelIds::from_btf(&btf.btf)?);
    options.resolved = Some(KfuncIds::from_btf(&btf.btf));
    let (bytes, report) = unroll(input, &options)?;
    Ok((bytes, report.sites.len()))
}

struct Args {
    object: String,
    ifname: String,
    prog: Option<String>,
    seconds: Option<u64>,
}

fn parse(args: &[String]) -> anyhow::Result<Args> {
    let mut pos = Vec::new();
    let (mut prog, mut seconds) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prog" => prog = Some(it.next().context("--prog needs a name")?.clone()),
            "--seconds" => seconds = Some(it.next().context("--seconds needs a number")?.parse()?),
            _ => pos.push(a.clone()),
        }
    }
    let [object, ifname] = <[String; 2]>::try_from(pos)
        .map_err(|_| anyhow::anyhow!("usage: veth_loader OBJECT IFNAME [--prog NAME] [--seconds N]"))?;
    Ok(Args { object, ifname, prog, seconds })
}

fn run(args: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    let args = parse(args)?;
    let input = std::fs::read(&args.object).with_context(|| format!("{}: cannot read", args.object))?;
    let (bytes, sites) = unroll_for_veth(&input).with_context(|| args.object.clone())?;
    let c_ifname = CString::new(args.ifname.clone())?;
    // SAFETY: a NUL-terminated string that outlives the call.
    let ifindex = unsafe { libc::if_nametoindex(c_ifname.as_ptr()) };
    if ifindex == 0 {
        bail!("no interface {}", args.ifname);
    }

    let mut open =
        libbpf_rs::ObjectBuilder::default().open_memory(&bytes).context("libbpf cannot open the rewrite")?;
    let is_xdp = |p: &libbpf_rs::OpenProgramMut<'_>| p.section().to_string_lossy().starts_with("xdp");
    let chosen = match &args.prog {
        Some(name) => name.clone(),
        None => open
            .progs_mut()
            .find(|p| is_xdp(p))
            .map(|p| p.name().to_string_lossy().into_owned())
            .context("the object has no XDP program")?,
    };
    for mut p in open.progs_mut() {
        let keep = p.name().to_string_lossy() == chosen.as_str();
        p.set_autoload(keep);
    }
    let object = open.load().context("loading (the verifier's log is on stderr)")?;
    let prog = object
        .progs_mut()
        .find(|p| p.name().to_string_lossy() == chosen.as_str())
        .with_context(|| format!("no program {chosen}"))?;
    let id = libbpf_rs::Program::id_from_fd(prog.as_fd())?;
    let link = prog.attach_xdp(i32::try_from(ifindex)?).context("XDP attach")?;
    writeln!(
        out,
        "unrolled {sites} calls; attached {chosen} (prog id {id}) to {} (ifindex {ifindex})",
        args.ifname
    )?;
    out.flush()?;

    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t)
    };
    let deadline = args.seconds.map(|s| Instant::now() + Duration::from_secs(s));
    while !STOP.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    link.detach().context("XDP detach")?;
    drop(link);
    writeln!(out, "detached {chosen} from {}", args.ifname)?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("veth_loader: {e:#}");
            ExitCode::from(2)
        }
    }
}
