//! Checking every program of an object: loaded and linked as libbpf would
//! ([`crate::load::ObjectImage`]), then explored with the object's maps, license and the
//! program type its section names.

use std::time::Instant;

use bpf_patch::elf::BpfObject;

use super::explore::{verify, Env, Report};
use super::helpers::Version;
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
}

/// Licenses the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
pub fn gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL" | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL"
    )
}

/// Checks every entry program of `obj`.
pub fn check_object(obj: &BpfObject, options: &LoadOptions) -> Result<Vec<ProgramCheck>, LoadError> {
    let image = ObjectImage::new(obj, options)?;
    let maps: Vec<_> = image.maps.iter().map(|m| m.def).collect();
    let read_only: Vec<bool> = image.maps.iter().map(|m| m.read_only).collect();
    let gpl = obj.license.as_deref().is_some_and(gpl_compatible);
    let btf = obj.btf().ok().flatten();
    let mut out = Vec::new();
    for (name, l) in &image.programs {
        let prog_type = ProgType::of_section(&l.section);
        let funcs = super::subprog::func_infos(obj, btf.as_ref(), l, prog_type);
        let env = Env {
            prog_type,
            maps: &maps,
            read_only_maps: &read_only,
            helpers: Version::Current,
            gpl,
            allow_uninit_stack: true,
            kfuncs: &image.kfuncs,
            dev_bound: false,
            funcs: funcs.as_deref(),
        };
        let started = Instant::now();
        let report = verify(&l.insns, &env).map_err(|e| e.to_string());
        let time_us = started.elapsed().as_micros() as u64;
        out.push(ProgramCheck { name: name.clone(), section: l.section.clone(), prog_type, report, time_us });
    }
    for (name, e) in &image.failed {
        let section = obj.program(name).map(|p| obj.sections[p.section].name.clone()).unwrap_or_default();
        out.push(ProgramCheck {
            name: name.clone(),
            prog_type: ProgType::of_section(&section),
            section,
            report: Err(e.to_string()),
            time_us: 0,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
