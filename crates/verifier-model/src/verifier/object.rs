//! Checking every program of an object: loaded and linked as libbpf would
//! ([`crate::load::ObjectImage`]), then explored with the object's maps, license and the
//! program type its section names.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bpf_patch::elf::BpfObject;

use super::explore::{verify_observed, Env, Outcome, Report};
use super::helpers::Version;
use super::kfunc::{KfuncError, KfuncTable, VMLINUX};
use super::log::{state_line, Listing};
use super::trusted::{ProgramRegions, TrustedRegions};
use crate::load::{LoadError, LoadOptions, ObjectImage, ProgType};

/// The verdict on one program.
#[derive(Clone, Debug)]
pub struct ProgramCheck {
    /// Entry function name.
    pub name: String,
    /// Its section.
    pub section: String,
    /// The program type the section names.
    pub prog_type: ProgType,
    /// The exploration, or why the program could not be prepared (linking, CO-RE).
    pub report: Result<Report, String>,
    /// Time spent exploring, in microseconds.
    pub time_us: u64,
    /// The log [`CheckOptions::log_level`] asked for, one line per entry.
    pub log: Vec<String>,
    /// Where the kfunc prototypes came from ([`KfuncTable::origin`]), when the object calls
    /// kfuncs.
    pub kfuncs_from: Option<String>,
}

/// What [`check_object_with`] checks and records.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Check only the program with this (entry function) name.
    pub only: Option<String>,
    /// Verify every program as this type instead of the one its section names.
    pub prog_type: Option<ProgType>,
    /// Name types by [`ProgType::of_legacy_section`] instead of libbpf's section names.
    pub legacy_sections: bool,
    /// 0: verdicts only. 1: for a rejected program, the path that led to the error, one
    /// instruction per line, then the registers there. 2: every explored instruction with
    /// the state before it (the kernel's log level 2).
    pub log_level: u8,
    /// Model a device-bound XDP load (`BPF_F_XDP_DEV_BOUND_ONLY`): the XDP metadata kfuncs
    /// are accepted.
    pub dev_bound: bool,
    /// The target kernel's BTF for kfunc prototypes; `None`: the running kernel's
    /// ([`crate::verifier::kfunc::VMLINUX`]) when it has one.
    pub kernel_btf: Option<std::path::PathBuf>,
    /// Unrolled regions to check in the trusted-region mode ([`super::trusted`]): inside them
    /// the context is the driver's wrapper.
    pub trusted: Option<TrustedRegions>,
    /// Take kfunc prototypes from the table bundled for this kernel version
    /// ([`KfuncTable::bundled`]) instead of a BTF. With neither this nor
    /// [`CheckOptions::kernel_btf`] nor a readable running kernel's BTF, the newest bundled
    /// table is used.
    pub kernel_version: Option<String>,
    /// The kfunc prototypes [`CheckOptions::kfunc_table`] selects, made by the first object
    /// that needs them and shared by every check given a clone of this cache.
    pub kfunc_cache: KfuncCache,
}

/// Kfunc prototypes made once for many objects: building them from a vmlinux BTF parses
/// megabytes, which would otherwise happen for every object that calls a kfunc. Clones share
/// the table; give one cache only to checks that select the same prototypes.
#[derive(Clone, Debug, Default)]
pub struct KfuncCache(Arc<OnceLock<Result<Arc<KfuncTable>, String>>>);

impl CheckOptions {
    /// The kfunc prototypes these options select: [`CheckOptions::kernel_btf`], else the
    /// bundled table of [`CheckOptions::kernel_version`], else the BTF at `vmlinux` when it is
    /// readable, else the newest bundled table.
    pub fn kfunc_table(&self, vmlinux: &Path) -> Result<KfuncTable, KfuncError> {
        if let Some(path) = &self.kernel_btf {
            return KfuncTable::from_file(path);
        }
        if let Some(v) = &self.kernel_version {
            return KfuncTable::bundled(v);
        }
        match KfuncTable::from_vmlinux(vmlinux) {
            Some(t) => Ok(t),
            None => KfuncTable::newest_bundled(),
        }
    }
}

/// Lines of the path that ended in a rejection, each instruction with its assembly.
const PATH_LINES: usize = 200;

/// Licenses the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
pub fn gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL" | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL"
    )
}

/// Checks every entry program of `obj`.
pub fn check_object(obj: &BpfObject, options: &LoadOptions) -> Result<Vec<ProgramCheck>, LoadError> {
    check_object_with(obj, options, &CheckOptions::default())
}

/// Checks the entry programs of `obj` that `check` selects, recording the log it asks for.
pub fn check_object_with(
    obj: &BpfObject,
    options: &LoadOptions,
    check: &CheckOptions,
) -> Result<Vec<ProgramCheck>, LoadError> {
    let image = ObjectImage::new(obj, options)?;
    let maps = image.map_shapes();
    let read_only: Vec<bool> = image.maps.iter().map(|m| m.read_only).collect();
    let gpl = obj.license.as_deref().is_some_and(gpl_compatible);
    let btf = obj.btf().ok().flatten();
    let explicit = check.kernel_btf.is_some() || check.kernel_version.is_some();
    let kfuncs = if explicit || !image.kfuncs.is_empty() {
        let made = check
            .kfunc_cache
            .0
            .get_or_init(|| check.kfunc_table(Path::new(VMLINUX)).map(Arc::new).map_err(|e| e.to_string()));
        let t = made
            .clone()
            .map_err(|message| LoadError::Malformed { section: "kfunc prototypes".into(), message })?;
        Some(t)
    } else {
        None
    };
    let kfuncs_from = kfuncs.as_deref().filter(|_| !image.kfuncs.is_empty()).map(KfuncTable::origin);
    let mut out = Vec::new();
    let selected = |name: &str| check.only.as_deref().is_none_or(|o| o == name);
    for (name, l) in image.programs.iter().filter(|(n, _)| selected(n)) {
        let of_section =
            if check.legacy_sections { ProgType::of_legacy_section } else { ProgType::of_section };
        let prog_type = check.prog_type.unwrap_or_else(|| of_section(&l.section));
        let funcs = super::subprog::func_infos(obj, btf.as_ref(), l, prog_type);
        let regions = check.trusted.as_ref().map(|spec| {
            ProgramRegions::place(spec, l.insns.len(), |i| {
                let o = l.origin[i];
                let f = &obj.programs[o.function];
                (f.name.clone(), o.slot.0 - f.start.0)
            })
        });
        let env = Env {
            prog_type,
            maps: &maps,
            read_only_maps: &read_only,
            helpers: Version::Current,
            gpl,
            allow_uninit_stack: true,
            kfuncs: &image.kfuncs,
            dev_bound: check.dev_bound,
            kfunc_table: kfuncs.as_deref(),
            funcs: funcs.as_deref(),
            trusted: regions.as_ref(),
        };
        let listing = if check.log_level > 0 { Listing::new(&l.insns) } else { Listing::default() };
        let mut log = Vec::new();
        let started = Instant::now();
        let report = if check.log_level >= 2 {
            let mut observe = |insn: usize, st: &super::state::State| {
                log.push(format!("{} ; {}", listing.line(insn), state_line(st)));
            };
            verify_observed(&l.insns, &env, &mut observe)
        } else {
            verify_observed(&l.insns, &env, &mut |_, _| {})
        }
        .map_err(|e| e.to_string());
        let time_us = started.elapsed().as_micros() as u64;
        if check.log_level == 1 {
            if let Ok(Report { outcome: Outcome::Reject(d), .. }) = &report {
                let skip = d.path.len().saturating_sub(PATH_LINES);
                if skip > 0 {
                    log.push(format!("({skip} earlier instructions on the path)"));
                }
                log.extend(d.path[skip..].iter().map(|&i| listing.line(i)));
                if !d.regs.is_empty() {
                    log.push(format!("{}: {}", d.insn, d.regs));
                }
            }
        }
        out.push(ProgramCheck {
            name: name.clone(),
            section: l.section.clone(),
            prog_type,
            report,
            time_us,
            log,
            kfuncs_from: kfuncs_from.clone(),
        });
    }
    for (name, e) in image.failed.iter().filter(|(n, _)| selected(n)) {
        let section = obj.program(name).map(|p| obj.sections[p.section].name.clone()).unwrap_or_default();
        out.push(ProgramCheck {
            name: name.clone(),
            prog_type: ProgType::of_section(&section),
            section,
            report: Err(e.to_string()),
            time_us: 0,
            log: Vec::new(),
            kfuncs_from: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which table each combination of options selects, without a running kernel's BTF.
    #[test]
    fn kfunc_table_selection() {
        let absent = Path::new("/nonexistent/vmlinux");
        let newest = crate::verifier::kfunc_bundle::newest();
        /// `--btf`, `--kfuncs`, and the bundled version chosen or the error's text.
        type Row = (Option<&'static str>, Option<&'static str>, Result<Option<&'static str>, &'static str>);
        let cases: [Row; 4] = [
            (None, None, Ok(Some(newest))),
            (None, Some("6.18.44"), Ok(Some("6.18.44"))),
            (None, Some("4.19.0"), Err("no bundled kfunc table for kernel 4.19.0")),
            (Some("/nonexistent/btf"), Some("6.18.44"), Err("/nonexistent/btf")),
        ];
        for (btf, version, want) in cases {
            let o = CheckOptions {
                kernel_btf: btf.map(Into::into),
                kernel_version: version.map(Into::into),
                ..CheckOptions::default()
            };
            match (o.kfunc_table(absent), want) {
                (Ok(t), Ok(v)) => assert_eq!(t.bundled_version(), v, "{btf:?} {version:?}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, want) => panic!("{btf:?} {version:?}: {got:?}, want {want:?}"),
            }
        }
    }
}
