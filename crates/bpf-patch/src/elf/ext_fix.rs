//! `.BTF.ext` after an instruction edit: func_info / line_info `insn_off` move like jump targets,
//! CO-RE records move with their instruction (and are dropped with it), line records landing on
//! one offset keep the last, and `.rel.BTF.ext` entries (which point at record fields) follow
//! their records when the layout changes.

use std::collections::HashMap;

use object::build::elf::{Builder, SectionData};
use object::build::Id;

use super::ObjectError;
use crate::btf_ext::{btf_strings, string_at, BtfExt, InfoKind};
use crate::edit::Remap;
use crate::insn::{Endian, Slot};

fn data_of<'a>(b: &'a Builder<'_>, id: object::build::elf::SectionId) -> &'a [u8] {
    match &b.sections.get(id).data {
        SectionData::Data(d) => d,
        _ => &[],
    }
}

fn overflow(section: &str, what: &str) -> ObjectError {
    ObjectError::Malformed {
        section: section.to_string(),
        message: format!("{what} no longer fits after editing"),
    }
}

/// Where a record pointing at original slot `old` (a start) lands; `new_len` past the end.
fn map_start(remap: &Remap, old: u64) -> u64 {
    match u32::try_from(old) {
        Ok(old) => u64::from(super::write::landing(remap, Slot(old)).0),
        Err(_) => u64::from(remap.new_len()),
    }
}

fn u32_at(data: &[u8], at: usize, endian: Endian) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        Endian::Little => u32::from_le_bytes(b),
        Endian::Big => u32::from_be_bytes(b),
    })
}

/// Byte offset of every record in `data` (the encoding of `ext`), in `ext.sections()` order, and
/// the record size of each.
fn record_starts(data: &[u8], ext: &BtfExt, endian: Endian) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let Some(hdr_len) = u32_at(data, 4, endian) else { return out };
    for (k, (_, sub)) in ext.sections().enumerate() {
        let Some(off) = u32_at(data, 8 + 8 * k, endian) else { return out };
        let mut pos = u64::from(hdr_len) + u64::from(off) + 4;
        for sec in &sub.secs {
            pos += 8;
            for _ in &sec.records {
                out.push((pos, u64::from(sub.record_size)));
                pos += u64::from(sub.record_size);
            }
        }
    }
    out
}

/// Moves `.BTF.ext` records through the remaps (keyed by builder section id index) and keeps
/// `.rel.BTF.ext` pointing at the same record fields.
pub(super) fn fix_btf_ext(
    b: &mut Builder<'_>,
    endian: Endian,
    remaps: &HashMap<usize, Remap>,
    names: &HashMap<usize, String>,
) -> Result<(), ObjectError> {
    let find =
        |b: &Builder<'_>, n: &str| b.sections.iter().find(|s| *s.name == *n.as_bytes()).map(|s| s.id());
    let (Some(ext_id), Some(btf_id)) = (find(b, ".BTF.ext"), find(b, ".BTF")) else { return Ok(()) };
    let old_bytes = data_of(b, ext_id).to_vec();
    let mut ext = BtfExt::parse(&old_bytes).map_err(|source| ObjectError::BtfExt { source })?;
    let old_starts = record_starts(&old_bytes, &ext, endian);
    let strings = btf_strings(data_of(b, btf_id)).map_err(|source| ObjectError::BtfExt { source })?.to_vec();
    let by_name: HashMap<&str, &Remap> =
        names.iter().filter_map(|(id, n)| Some((n.as_str(), remaps.get(id)?))).collect();
    let get = |r: &[u8]| u32_at(r, 0, endian).expect("records are at least 8 bytes");
    let put = |r: &mut [u8], v: u32| {
        let b = match endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        r[..4].copy_from_slice(&b);
    };
    // For each old record (in order), whether it survives.
    let mut survives: Vec<bool> = Vec::with_capacity(old_starts.len());
    for (kind, sub) in ext.sections_mut() {
        for sec in &mut sub.secs {
            let name = string_at(&strings, sec.sec_name_off).unwrap_or_default().to_string();
            let Some(remap) = by_name.get(name.as_str()) else {
                survives.extend(sec.records.iter().map(|_| true));
                continue;
            };
            let first = survives.len();
            let mut kept: Vec<(usize, Vec<u8>)> = Vec::with_capacity(sec.records.len());
            for (i, mut rec) in sec.records.drain(..).enumerate() {
                survives.push(false);
                let off = u64::from(get(&rec));
                let moved = match kind {
                    InfoKind::Func | InfoKind::Line => Some(map_start(remap, off / 8) * 8),
                    InfoKind::CoreRelo => remap.position(Slot((off / 8) as u32)).map(|s| s.byte_offset()),
                };
                let Some(moved) = moved else { continue };
                put(&mut rec, u32::try_from(moved).map_err(|_| overflow(&name, "insn_off"))?);
                if kind == InfoKind::Line && kept.last().is_some_and(|(_, l)| get(l) == get(&rec)) {
                    kept.pop();
                }
                kept.push((first + i, rec));
            }
            for (i, _) in &kept {
                survives[*i] = true;
            }
            sec.records = kept.into_iter().map(|(_, r)| r).collect();
        }
    }
    let new_bytes = ext.write();
    let new_starts = record_starts(&new_bytes, &ext, endian);
    // Old record index -> new record start.
    let mut moved_to: Vec<Option<u64>> = Vec::with_capacity(old_starts.len());
    let mut next = new_starts.iter();
    for &s in &survives {
        moved_to.push(if s { next.next().map(|n| n.0) } else { None });
    }
    let same =
        old_starts.len() == new_starts.len() && old_starts.iter().zip(&new_starts).all(|(a, b)| a == b);
    b.sections.get_mut(ext_id).data = SectionData::Data(new_bytes.into());
    if same {
        return Ok(());
    }
    let mut by_start: Vec<(u64, u64, Option<u64>)> =
        old_starts.iter().zip(&moved_to).map(|(&(s, len), &m)| (s, len, m)).collect();
    by_start.sort_unstable_by_key(|r| r.0);
    // Old objects lack SHF_INFO_LINK: `Builder` then keeps `sh_info` raw (ELF index = id + 1).
    let relocates_ext = |s: &object::build::elf::Section<'_>| match s.sh_info_section {
        Some(id) => id == ext_id,
        None => s.sh_info as usize == ext_id.index() + 1,
    };
    for s in b.sections.iter_mut().filter(|s| relocates_ext(s)) {
        let SectionData::Relocation(rels) = &mut s.data else { continue };
        rels.retain_mut(|r| {
            let k = by_start.partition_point(|x| x.0 <= r.r_offset);
            let Some(&(start, len, moved)) = k.checked_sub(1).and_then(|k| by_start.get(k)) else {
                return true;
            };
            if r.r_offset >= start + len {
                return true;
            }
            match moved {
                Some(new) => {
                    r.r_offset = new + (r.r_offset - start);
                    true
                }
                None => false,
            }
        });
    }
    Ok(())
}
