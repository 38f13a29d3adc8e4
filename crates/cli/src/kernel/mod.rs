//! Loading objects into the running kernel through libbpf-rs (cargo feature `kernel`).
//!
//! Each program is loaded on its own (every other program's autoload switched off) so that every
//! program gets its own verdict and verifier log, captured with `bpf_program__set_log_buf`
//! (libbpf-rs has no safe wrapper for it). Programs can be device-bound
//! (`BPF_F_XDP_DEV_BOUND_ONLY` + ifindex), run with `BPF_PROG_TEST_RUN`, and attached to XDP.
//! The network-namespace fixture for tests that send traffic lives in [`netns`].

pub mod netns;
pub mod raw;

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::sync::Mutex;

use libbpf_rs::{AsRawLibbpf, MapCore, MapFlags, ObjectBuilder};

use crate::verifier_log::{summarize, LogSummary};

/// Verifier log level used by default: 1 (the failing path) plus 4 (statistics: the verification
/// time).
pub const DEFAULT_LOG_LEVEL: u32 = 1 | 4;

/// Size of the verifier log buffer handed to the kernel.
const LOG_BUF_SIZE: usize = 16 << 20;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Load only this program (by function name); all programs otherwise.
    pub prog: Option<String>,
    /// Bind to this interface index (`BPF_F_XDP_DEV_BOUND_ONLY`), for the XDP metadata kfuncs.
    pub dev_bound_ifindex: Option<u32>,
    /// Verifier log level; 0 means [`DEFAULT_LOG_LEVEL`].
    pub log_level: u32,
    /// Load as this `enum bpf_prog_type` instead of the type libbpf derives from the section.
    pub prog_type: Option<u32>,
}

/// The kernel's verdict on one program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgramLoad {
    /// Function name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// True when the verifier accepted it.
    pub accepted: bool,
    /// What the log says: message, failing instruction, statistics.
    #[serde(flatten)]
    pub summary: LogSummary,
    /// libbpf's own messages (map creation, relocation problems), when the kernel log says
    /// nothing.
    pub libbpf_message: Option<String>,
    /// The whole verifier log.
    #[serde(skip)]
    pub log: String,
}

/// Why an object could not be handed to the kernel at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// libbpf refused to open the object.
    #[error("libbpf cannot open the object: {source}")]
    Open {
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// `--prog` names no program of the object.
    #[error("no program named `{name}` (programs: {available})")]
    NoSuchProgram {
        /// The requested name.
        name: String,
        /// The names that exist, comma-separated.
        available: String,
    },
    /// `BPF_PROG_TEST_RUN` or a map operation failed.
    #[error("program `{name}`: {what} failed: {source}")]
    Run {
        /// Program or map name.
        name: String,
        /// What was attempted.
        what: &'static str,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
}

/// libbpf's warnings of the load in progress (libbpf prints through one global callback).
static LIBBPF_MESSAGES: Mutex<String> = Mutex::new(String::new());

fn capture_libbpf_message(_level: libbpf_rs::PrintLevel, msg: String) {
    if let Ok(mut buf) = LIBBPF_MESSAGES.lock() {
        buf.push_str(&msg);
    }
}

/// Serialises loads: the libbpf message capture is process-global.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

fn os(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Names and sections of the programs of an object, as libbpf sees them.
pub fn program_names(bytes: &[u8]) -> Result<Vec<(String, String)>, LoadError> {
    let open = ObjectBuilder::default().open_memory(bytes).map_err(|source| LoadError::Open { source })?;
    Ok(open.progs().map(|p| (os(p.name()), os(p.section()))).collect())
}

/// Loads each selected program of the object on its own and returns the kernel's verdicts.
/// A rejected program is a verdict, not an error.
pub fn load_each(bytes: &[u8], opts: &LoadOptions) -> Result<Vec<ProgramLoad>, LoadError> {
    let names = program_names(bytes)?;
    let selected: Vec<&(String, String)> = match &opts.prog {
        Some(want) => {
            let found: Vec<_> = names.iter().filter(|(n, _)| n == want).collect();
            if found.is_empty() {
                return Err(LoadError::NoSuchProgram {
                    name: want.clone(),
                    available: names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
            found
        }
        None => names.iter().collect(),
    };
    // All selected programs in one load first: programs that refer to each other (a prog array
    // initialised with `.values`) load only together. Each still gets its own log.
    if let Some(all) = load_together(bytes, &selected, opts)? {
        return Ok(all);
    }
    // Something was rejected: one program at a time attributes each verdict.
    selected.into_iter().map(|(name, section)| load_one(bytes, name, section, opts).map(|(r, _)| r)).collect()
}

/// Loads the selected programs in one `bpf_object__load`; `None` if it failed.
fn load_together(
    bytes: &[u8],
    selected: &[&(String, String)],
    opts: &LoadOptions,
) -> Result<Option<Vec<ProgramLoad>>, LoadError> {
    let _serial = LOAD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut open =
        ObjectBuilder::default().open_memory(bytes).map_err(|source| LoadError::Open { source })?;
    let mut bufs: Vec<(String, String, Vec<u8>)> = Vec::new();
    for mut prog in open.progs_mut() {
        let name = os(prog.name());
        let Some((_, section)) = selected.iter().find(|(n, _)| *n == name) else {
            prog.set_autoload(false);
            continue;
        };
        let mut buf = vec![0u8; LOG_BUF_SIZE];
        configure(&mut prog, &mut buf, opts);
        bufs.push((name, section.clone(), buf));
    }
    let previous = libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, capture_libbpf_message)));
    let result = open.load();
    libbpf_rs::set_print(previous);
    if result.is_err() {
        return Ok(None);
    }
    Ok(Some(
        bufs.into_iter()
            .map(|(name, section, buf)| {
                let log = log_text(&buf);
                ProgramLoad {
                    name,
                    section,
                    accepted: true,
                    summary: summarize(&log, true),
                    libbpf_message: None,
                    log,
                }
            })
            .collect(),
    ))
}

/// Sets the log level, log buffer and device binding of one program before load.
fn configure(prog: &mut libbpf_rs::OpenProgramMut<'_>, log_buf: &mut [u8], opts: &LoadOptions) {
    let level = if opts.log_level == 0 { DEFAULT_LOG_LEVEL } else { opts.log_level };
    prog.set_log_level(level);
    if let Some(t) = opts.prog_type {
        prog.set_prog_type(libbpf_rs::ProgramType::from(t));
    }
    if let Some(ifindex) = opts.dev_bound_ifindex {
        prog.set_ifindex(ifindex);
        prog.set_flags(libbpf_sys::BPF_F_XDP_DEV_BOUND_ONLY);
    }
    let raw = prog.as_libbpf_object().as_ptr();
    let size = libbpf_sys::size_t::try_from(log_buf.len()).expect("16 MiB fits size_t");
    // SAFETY: `raw` is the live bpf_program of the object being configured; every caller keeps
    // `log_buf` alive until after that object's load returned.
    unsafe {
        libbpf_sys::bpf_program__set_log_buf(raw, log_buf.as_mut_ptr().cast(), size);
    }
}

fn log_text(buf: &[u8]) -> String {
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// A loaded object whose program `name` passed the verifier; drop unloads it.
pub struct Loaded {
    object: libbpf_rs::Object,
    name: String,
}

/// Output of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestRun {
    /// The program's return value.
    pub retval: u32,
    /// The packet after the run.
    pub data_out: Vec<u8>,
    /// Average duration of one run in nanoseconds, as the kernel measured it.
    pub duration_ns: u64,
}

impl Loaded {
    fn program(&self) -> Option<libbpf_rs::ProgramMut<'_>> {
        self.object.progs_mut().find(|p| os(p.name()) == self.name)
    }

    /// Runs the program once per repetition on `data` with `BPF_PROG_TEST_RUN`.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<TestRun, LoadError> {
        self.test_run_program(&self.name, data, repeat)
    }

    /// Runs another loaded program of the same object, as [`Loaded::test_run`].
    pub fn test_run_program(&self, name: &str, data: &[u8], repeat: u32) -> Result<TestRun, LoadError> {
        let prog = self.object.progs_mut().find(|p| os(p.name()) == name).ok_or_else(|| {
            LoadError::NoSuchProgram {
                name: name.to_owned(),
                available: self.object.progs().map(|p| os(p.name())).collect::<Vec<_>>().join(", "),
            }
        })?;
        // Headroom for programs that grow the packet.
        let mut out = vec![0u8; data.len() + 4096];
        let input = libbpf_rs::ProgramInput {
            data_in: Some(data),
            data_out: Some(&mut out),
            repeat,
            ..Default::default()
        };
        let output = prog.test_run(input).map_err(|source| LoadError::Run {
            name: self.name.clone(),
            what: "BPF_PROG_TEST_RUN",
            source,
        })?;
        let retval = output.return_value;
        let duration_ns = u64::try_from(output.duration.as_nanos()).unwrap_or(u64::MAX);
        let data_out = output.data.map(|d| d.to_vec()).unwrap_or_default();
        Ok(TestRun { retval, data_out, duration_ns })
    }

    /// Attaches the program to XDP on `ifindex` (in the calling thread's network namespace).
    pub fn attach_xdp(&self, ifindex: u32) -> Result<libbpf_rs::Link, LoadError> {
        let prog = self.program().expect("the loaded object holds the program it was loaded for");
        let ifindex = i32::try_from(ifindex).unwrap_or(i32::MAX);
        prog.attach_xdp(ifindex).map_err(|source| LoadError::Run {
            name: self.name.clone(),
            what: "XDP attach",
            source,
        })
    }

    /// Attaches the program as a tc filter on the egress of `ifindex`, creating the device's
    /// `clsact` qdisc (in the calling thread's network namespace). The filter lives until it is
    /// detached through the returned hook or the device goes away.
    pub fn attach_tc_egress(&self, ifindex: u32) -> Result<libbpf_rs::TcHook, LoadError> {
        let prog = self.program().expect("the loaded object holds the program it was loaded for");
        let fail = |source| LoadError::Run { name: self.name.clone(), what: "tc egress attach", source };
        let mut hook = libbpf_rs::TcHook::new(prog.as_fd());
        hook.ifindex(i32::try_from(ifindex).unwrap_or(i32::MAX))
            .replace(true)
            .handle(1)
            .priority(1)
            .attach_point(libbpf_rs::TC_EGRESS);
        hook.create().map_err(fail)?;
        hook.attach().map_err(fail)
    }

    /// The names libbpf gave the object's maps (data sections get `<object prefix>.<section>`).
    pub fn map_names(&self) -> Vec<String> {
        self.object.maps().map(|m| os(m.name())).collect()
    }

    /// Looks up `key` in the map called `map`.
    pub fn map_lookup(&self, map: &str, key: &[u8]) -> Result<Option<Vec<u8>>, LoadError> {
        let found = self.object.maps().find(|m| os(m.name()) == map);
        let Some(m) = found else {
            return Ok(None);
        };
        m.lookup(key, MapFlags::ANY).map_err(|source| LoadError::Run {
            name: map.to_owned(),
            what: "map lookup",
            source,
        })
    }
}

/// Loads one program of the object (the others not autoloaded). Returns the verdict and, when
/// it was accepted, the loaded object for test runs and attachment.
pub fn load_one(
    bytes: &[u8],
    name: &str,
    section: &str,
    opts: &LoadOptions,
) -> Result<(ProgramLoad, Option<Loaded>), LoadError> {
    let _serial = LOAD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut open =
        ObjectBuilder::default().open_memory(bytes).map_err(|source| LoadError::Open { source })?;
    let mut log_buf = vec![0u8; LOG_BUF_SIZE];
    for mut prog in open.progs_mut() {
        let this = os(prog.name()) == name;
        prog.set_autoload(this);
        if this {
            configure(&mut prog, &mut log_buf, opts);
        }
    }
    if let Ok(mut m) = LIBBPF_MESSAGES.lock() {
        m.clear();
    }
    let previous = libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, capture_libbpf_message)));
    let result = open.load();
    libbpf_rs::set_print(previous);
    let log = log_text(&log_buf);
    let libbpf_message = LIBBPF_MESSAGES.lock().ok().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    let accepted = result.is_ok();
    let mut summary = summarize(&log, accepted);
    // libbpf's own words matter only when the kernel said nothing (map creation, relocations).
    let kernel_said_why = summary.message.is_some();
    if !accepted && !kernel_said_why {
        summary.message = result.as_ref().err().map(|e| e.to_string());
    }
    let load = ProgramLoad {
        name: name.to_owned(),
        section: section.to_owned(),
        accepted,
        summary,
        libbpf_message: if accepted || kernel_said_why { None } else { libbpf_message },
        log,
    };
    let loaded = result.ok().map(|object| Loaded { object, name: name.to_owned() });
    Ok((load, loaded))
}

/// Loads the programs `names` of the object together (the others not autoloaded), as libbpf
/// would for an application: maps created, program arrays filled from `.values`. `None` when
/// the load failed (use [`load_each`] to learn why). The returned object test-runs any of them
/// with [`Loaded::test_run_program`].
pub fn load_set(bytes: &[u8], names: &[String]) -> Result<Option<Loaded>, LoadError> {
    let _serial = LOAD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut open =
        ObjectBuilder::default().open_memory(bytes).map_err(|source| LoadError::Open { source })?;
    for mut prog in open.progs_mut() {
        let name = os(prog.name());
        prog.set_autoload(names.contains(&name));
    }
    let previous = libbpf_rs::set_print(None);
    let result = open.load();
    libbpf_rs::set_print(previous);
    let first = names.first().cloned().unwrap_or_default();
    Ok(result.ok().map(|object| Loaded { object, name: first }))
}

/// True when this process can load BPF programs (root, BPF syscall available). Tests use it to
/// decide whether to skip.
pub fn kernel_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}
