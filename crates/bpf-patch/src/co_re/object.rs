//! CO-RE on a whole [`BpfObject`]: its records in `.BTF.ext` order, and its code sections with
//! every relocation resolved and applied (one [`Resolver`] for the object, as libbpf).

use std::collections::BTreeMap;

use super::{apply, CoReError, CoReRelo, Resolver, Target};
use crate::btf_ext::{btf_strings, string_at, BtfExt};
use crate::elf::{BpfObject, ObjectError};
use crate::insn::{Endian, Insn, Slot};

fn object_err(source: ObjectError) -> CoReError {
    CoReError::Object { source }
}

fn u32_at(rec: &[u8], at: usize, endian: Endian) -> u32 {
    let a = rec.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).unwrap_or_default();
    match endian {
        Endian::Little => u32::from_le_bytes(a),
        Endian::Big => u32::from_be_bytes(a),
    }
}

/// The CO-RE records of an object, per code section, in `.BTF.ext` order (the order libbpf
/// applies them in). Empty without `.BTF` / `.BTF.ext`. An unreadable access string becomes
/// empty (and [`Resolver::resolve_one`] then reports the record).
pub fn records(obj: &BpfObject) -> Result<Vec<(String, Vec<CoReRelo>)>, CoReError> {
    let (Some(btf), Some(ext)) = (&obj.btf, &obj.btf_ext) else { return Ok(Vec::new()) };
    let ext_err = |source| object_err(ObjectError::BtfExt { source });
    let parsed = BtfExt::parse(ext).map_err(ext_err)?;
    let strings = btf_strings(btf).map_err(ext_err)?;
    let Some(core) = &parsed.core_relo else { return Ok(Vec::new()) };
    let e = parsed.endian;
    let mut out = Vec::new();
    for sec in &core.secs {
        let name = string_at(strings, sec.sec_name_off).map_err(ext_err)?.to_owned();
        let recs = sec
            .records
            .iter()
            .map(|rec| CoReRelo {
                slot: Slot(parsed.insn_off(rec) / 8),
                type_id: u32_at(rec, 4, e),
                access: string_at(strings, u32_at(rec, 8, e)).unwrap_or_default().to_owned(),
                kind: u32_at(rec, 12, e),
            })
            .collect();
        out.push((name, recs));
    }
    Ok(out)
}

/// Every code section of `obj` with CO-RE relocations resolved against `target` and applied,
/// by section name (sections without records come back unchanged). Fails as a whole, like
/// libbpf, when any relocation fails. As libbpf, records of unknown sections or outside every
/// function (left by eliminated weak subprograms) are skipped; unlike libbpf, which skips the
/// programs it will not load, every program is relocated.
pub fn relocate_object(
    obj: &BpfObject,
    target: &Target<'_>,
) -> Result<BTreeMap<String, Vec<Insn>>, CoReError> {
    let mut out: BTreeMap<String, Vec<Insn>> =
        obj.sections.iter().map(|cs| (cs.name.clone(), cs.insns.clone())).collect();
    let all = records(obj)?;
    if all.iter().all(|(_, r)| r.is_empty()) {
        return Ok(out);
    }
    let local = obj.btf().map_err(object_err)?.ok_or_else(|| {
        object_err(ObjectError::Malformed {
            section: ".BTF".to_owned(),
            message: "CO-RE relocations without .BTF".to_owned(),
        })
    })?;
    let mut resolver = Resolver::new(&local, target);
    for (section, recs) in &all {
        let Some(si) = obj.sections.iter().position(|cs| &cs.name == section) else { continue };
        let in_function = |r: &&CoReRelo| {
            obj.programs.iter().any(|p| p.section == si && p.start <= r.slot && r.slot.0 < p.start.0 + p.len)
        };
        let resolutions = recs
            .iter()
            .filter(in_function)
            .map(|r| resolver.resolve_one(section, r))
            .collect::<Result<Vec<_>, _>>()?;
        let insns = out.get_mut(section).expect("every code section is in the map");
        apply(section, insns, &resolutions)?;
    }
    Ok(out)
}

/// The instructions of code section `section` after [`relocate_object`].
pub fn relocate_section(obj: &BpfObject, section: &str, target: &Target<'_>) -> Result<Vec<Insn>, CoReError> {
    relocate_object(obj, target)?
        .remove(section)
        .ok_or_else(|| CoReError::NoSection { section: section.to_owned() })
}
