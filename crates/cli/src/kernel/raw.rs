//! Loading a raw instruction stream (no ELF, no maps) with `bpf_prog_load`, and running it with
//! `BPF_PROG_TEST_RUN`: for differential tests of the interpreter against the kernel.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use bpf_patch::insn::{slots_to_bytes, Endian, Insn};

use crate::verifier_log::{summarize, LogSummary};

/// A loaded raw program; dropping it closes the fd, which unloads it.
#[derive(Debug)]
pub struct RawProgram {
    fd: OwnedFd,
}

/// Why a raw program did not load or run.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// The verifier rejected it.
    #[error("rejected: {}", .0.message.as_deref().unwrap_or("(no message)"))]
    Rejected(LogSummary),
    /// `BPF_PROG_TEST_RUN` failed.
    #[error("BPF_PROG_TEST_RUN failed: {0}")]
    Run(std::io::Error),
}

impl RawProgram {
    /// Loads `insns` as a program of type `prog_type` (a `BPF_PROG_TYPE_*` number) under the
    /// GPL license.
    pub fn load(prog_type: u32, insns: &[Insn]) -> Result<RawProgram, RawError> {
        RawProgram::load_licensed(prog_type, insns, "GPL")
    }

    /// As [`RawProgram::load`] under `license` (e.g. `"Proprietary"` to see GPL checks).
    pub fn load_licensed(prog_type: u32, insns: &[Insn], license: &str) -> Result<RawProgram, RawError> {
        RawProgram::load_full(prog_type, insns, license, None)
    }

    /// As [`RawProgram::load`] with BTF: the `.BTF` blob `btf` is loaded first and the program
    /// gets `func_info` records `[insn_off, type_id]` (callbacks and global functions need them).
    pub fn load_with_btf(
        prog_type: u32,
        insns: &[Insn],
        btf: &[u8],
        func_info: &[[u32; 2]],
    ) -> Result<RawProgram, RawError> {
        RawProgram::load_full(prog_type, insns, "GPL", Some((btf, func_info)))
    }

    fn load_full(
        prog_type: u32,
        insns: &[Insn],
        license: &str,
        btf: Option<(&[u8], &[[u32; 2]])>,
    ) -> Result<RawProgram, RawError> {
        // Copy into u64s so the buffer has bpf_insn's alignment (8-byte slots, align 4).
        let words: Vec<u64> = slots_to_bytes(insns, Endian::Little)
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8-byte chunks")))
            .collect();
        let license = CString::new(license.replace('\0', "")).expect("NULs removed");
        let name = CString::new("bpfpatch_raw").expect("no NUL");
        let mut log = vec![0u8; 1 << 20];
        // SAFETY: zeroed is the documented initial state of bpf_prog_load_opts; `sz` set below.
        let mut opts: libbpf_sys::bpf_prog_load_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as libbpf_sys::size_t;
        opts.log_level = 1;
        opts.log_size = log.len() as u32;
        opts.log_buf = log.as_mut_ptr().cast();
        let mut _btf_fd = None;
        if let Some((blob, records)) = btf {
            // SAFETY: zeroed is the documented initial state of bpf_btf_load_opts; `sz` set below.
            let mut bopts: libbpf_sys::bpf_btf_load_opts = unsafe { std::mem::zeroed() };
            bopts.sz = std::mem::size_of::<libbpf_sys::bpf_btf_load_opts>() as libbpf_sys::size_t;
            // SAFETY: `blob` is valid for its length for the call.
            let fd = unsafe {
                libbpf_sys::bpf_btf_load(blob.as_ptr().cast(), blob.len() as libbpf_sys::size_t, &mut bopts)
            };
            if fd < 0 {
                let mut summary = summarize("", false);
                summary.message = Some(format!("BTF load failed: {}", std::io::Error::last_os_error()));
                return Err(RawError::Rejected(summary));
            }
            // SAFETY: `fd` is a fresh BTF fd that nothing else owns.
            _btf_fd = Some(unsafe { OwnedFd::from_raw_fd(fd) });
            opts.prog_btf_fd = fd as u32;
            opts.func_info = records.as_ptr().cast();
            opts.func_info_cnt = records.len() as u32;
            opts.func_info_rec_size = 8;
        }
        // SAFETY: every pointer is valid for the call: `words` holds insns.len() 8-byte slots in
        // bpf_insn's layout, the strings are NUL-terminated and `log` outlives the call.
        let fd = unsafe {
            libbpf_sys::bpf_prog_load(
                prog_type,
                name.as_ptr(),
                license.as_ptr(),
                words.as_ptr().cast(),
                insns.len() as libbpf_sys::size_t,
                &mut opts,
            )
        };
        if fd < 0 {
            let len = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            return Err(RawError::Rejected(summarize(&String::from_utf8_lossy(&log[..len]), false)));
        }
        // SAFETY: `fd` is a fresh program fd that nothing else owns.
        Ok(RawProgram { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Runs the program once on `data`; returns its return value.
    pub fn test_run(&self, data: &[u8]) -> Result<u32, RawError> {
        self.test_run_repeat(data, 1).map(|(retval, _)| retval)
    }

    /// Runs the program `repeat` times on `data` in the kernel; returns the return value and the
    /// kernel's average time per run in nanoseconds.
    pub fn test_run_repeat(&self, data: &[u8], repeat: u32) -> Result<(u32, u32), RawError> {
        // SAFETY: zeroed is the documented initial state of bpf_test_run_opts; `sz` set below.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as libbpf_sys::size_t;
        opts.data_in = data.as_ptr().cast();
        opts.data_size_in = data.len() as u32;
        opts.repeat = i32::try_from(repeat).unwrap_or(i32::MAX);
        // SAFETY: `data` is valid for data_size_in bytes; the fd is a loaded program.
        let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(self.fd.as_raw_fd(), &mut opts) };
        if rc != 0 {
            return Err(RawError::Run(std::io::Error::last_os_error()));
        }
        Ok((opts.retval, opts.duration))
    }
}
