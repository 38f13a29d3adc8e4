//! Writes the bundled kfunc table of a kernel (`crates/verifier-model/data/kfuncs-<version>.txt`,
//! format in `bpf_verifier_model::verifier::kfunc_bundle`) from its vmlinux BTF.
//!
//! `derive_kfuncs [--btf FILE] [--version V] [--check]`: the BTF defaults to
//! `/sys/kernel/btf/vmlinux` and the version to the running kernel's release without its
//! local suffix. `--check` regenerates and compares with the committed file instead of writing:
//! exit 1 on a difference (the first differing line is printed), 2 on bad input.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bpf_verifier_model::verifier::kfunc::{KfuncTable, VMLINUX};
use bpf_verifier_model::verifier::kfunc_bundle::render;

fn main() -> ExitCode {
    let mut btf = PathBuf::from(VMLINUX);
    let mut version = None;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--btf" => btf = args.next().map(PathBuf::from).unwrap_or_default(),
            "--version" => version = args.next(),
            _ => {
                eprintln!("usage: derive_kfuncs [--btf FILE] [--version V] [--check]");
                return ExitCode::from(2);
            }
        }
    }
    let version = version.unwrap_or_else(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        release.trim().split(['-', '+']).next().unwrap_or_default().to_owned()
    });
    if version.is_empty() || version.contains('/') {
        eprintln!("derive_kfuncs: no usable kernel version (give --version)");
        return ExitCode::from(2);
    }
    let table = match KfuncTable::from_file(&btf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("derive_kfuncs: {e}");
            return ExitCode::from(2);
        }
    };
    let text = render(&table, &version, &btf.display().to_string());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/kfuncs-{version}.txt"));
    let kfuncs = text.lines().filter(|l| !l.starts_with('#') && !l.starts_with("type ")).count();
    if check {
        let committed = std::fs::read_to_string(&out).unwrap_or_default();
        if committed == text {
            println!("{}: up to date ({kfuncs} kfuncs)", out.display());
            return ExitCode::SUCCESS;
        }
        let first = committed.lines().zip(text.lines()).position(|(a, b)| a != b);
        let line = first.unwrap_or_else(|| committed.lines().count().min(text.lines().count()));
        println!("{}: differs from the BTF at line {}", out.display(), line + 1);
        println!("- {}", committed.lines().nth(line).unwrap_or("(end of file)"));
        println!("+ {}", text.lines().nth(line).unwrap_or("(end of file)"));
        return ExitCode::from(1);
    }
    let tmp = out.with_extension("txt.tmp");
    if let Err(e) = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &out)) {
        eprintln!("derive_kfuncs: {}: {e}", out.display());
        return ExitCode::from(2);
    }
    println!("{}: {kfuncs} kfuncs", out.display());
    ExitCode::SUCCESS
}
