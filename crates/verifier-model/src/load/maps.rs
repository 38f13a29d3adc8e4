//! The maps an object defines, as libbpf reads them: BTF-defined maps in `.maps` (with a
//! program array's `.values` initialiser from `.rel.maps`), legacy `struct bpf_map_def`
//! entries in a `maps` section, and one single-entry array per global data section.

use std::collections::BTreeMap;

use bpf_patch::elf::{BpfObject, DataSection};
use btf_rs::{Btf, BtfType, Type};

use super::LoadError;
use crate::interp::{MapDef, MapKind};

/// One map of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// Its name: the symbol for declared maps, the section (`.data`, `.rodata`, ...) for data.
    pub name: String,
    /// Index of the section that defines it in [`BpfObject::data`] (`None` for `.kconfig`,
    /// which the loader builds).
    pub section: Option<usize>,
    /// Offset of the definition (or of the data) in that section.
    pub offset: u64,
    /// Type and sizes.
    pub def: MapDef,
    /// Initial value of entry 0 (global data sections).
    pub init: Option<Vec<u8>>,
    /// Whether programs may only read it (`.rodata`, frozen by libbpf before loading).
    pub read_only: bool,
    /// Program array slots filled at load time: (index, entry program name).
    pub prog_values: Vec<(u32, String)>,
}

/// The largest map the interpreter creates: every array entry is a region, and values are
/// allocated eagerly.
pub const MAX_ARRAY_ENTRIES: u32 = 4096;
/// The most array entries of all maps of an object together.
pub const MAX_ARRAY_ENTRIES_TOTAL: u64 = 32 * 1024;
/// The largest value or data section the interpreter maps.
pub const MAX_VALUE_SIZE: u64 = 1 << 24;

/// `enum bpf_map_type` values the interpreter models.
fn kind_of(map: &str, map_type: u32) -> Result<MapKind, LoadError> {
    Ok(match map_type {
        1 | 5 => MapKind::Hash,     // HASH, PERCPU_HASH (one CPU)
        9 | 10 => MapKind::LruHash, // LRU_HASH, LRU_PERCPU_HASH
        2 => MapKind::Array,
        3 => MapKind::ProgArray,
        6 => MapKind::PercpuArray,
        22 => MapKind::Queue,
        23 => MapKind::Stack,
        27 => MapKind::Ringbuf,
        _ => return Err(LoadError::UnsupportedMap { map: map.to_owned(), map_type }),
    })
}

fn check_def(name: &str, def: MapDef) -> Result<MapDef, LoadError> {
    let too_big = u64::from(def.value_size) > MAX_VALUE_SIZE
        || u64::from(def.key_size) > MAX_VALUE_SIZE
        || (matches!(def.kind, MapKind::Array | MapKind::PercpuArray) && def.max_entries > MAX_ARRAY_ENTRIES);
    if too_big {
        return Err(LoadError::MapTooLarge { map: name.to_owned(), def });
    }
    Ok(def)
}

/// All maps of `obj`: declared maps first (in section and offset order), then data sections.
pub fn read_maps(obj: &BpfObject, btf: Option<&Btf>) -> Result<Vec<MapSpec>, LoadError> {
    let mut maps = Vec::new();
    for (si, sec) in obj.data.iter().enumerate() {
        if sec.name == ".maps" {
            let btf = btf.ok_or_else(|| LoadError::Malformed {
                section: ".maps".into(),
                message: "BTF-defined maps need a .BTF section".into(),
            })?;
            maps.extend(btf_maps(obj, btf, si, sec)?);
        } else if sec.name == "maps" || sec.name.starts_with("maps/") {
            maps.extend(legacy_maps(obj, si, sec)?);
        }
    }
    for (si, sec) in obj.data.iter().enumerate() {
        let is_data = [".data", ".rodata", ".bss"]
            .iter()
            .any(|p| sec.name == *p || sec.name.starts_with(&format!("{p}.")));
        if !is_data || sec.size == 0 {
            continue;
        }
        if sec.size > MAX_VALUE_SIZE {
            return Err(LoadError::Malformed {
                section: sec.name.clone(),
                message: format!(
                    "{} bytes of global data (the interpreter maps at most {MAX_VALUE_SIZE})",
                    sec.size
                ),
            });
        }
        let mut init = sec.bytes.clone();
        init.resize(sec.size as usize, 0);
        maps.push(MapSpec {
            name: sec.name.clone(),
            section: Some(si),
            offset: 0,
            def: MapDef { kind: MapKind::Array, key_size: 4, value_size: sec.size as u32, max_entries: 1 },
            init: Some(init),
            read_only: sec.name.starts_with(".rodata"),
            prog_values: Vec::new(),
        });
    }
    Ok(maps)
}

/// One `__kconfig` extern in the `.kconfig` map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KconfigExtern {
    /// Its name.
    pub name: String,
    /// Size of its type in bytes.
    pub size: u32,
    /// Offset in the map value.
    pub offset: u32,
}

/// The `.kconfig` map libbpf builds: externs ordered as libbpf's `cmp_externs` orders them
/// (alignment descending, size ascending, name), each at its aligned offset, holding
/// `values[name]` (0 when unknown, as for a `__weak` extern).
pub fn kconfig_map(externs: &[KconfigExtern], values: &BTreeMap<String, u64>) -> MapSpec {
    let len = externs.iter().map(|e| e.offset + e.size).max().unwrap_or(0);
    let mut init = vec![0u8; len as usize];
    for e in externs {
        let v = values.get(&e.name).copied().unwrap_or(0).to_le_bytes();
        let n = (e.size as usize).min(8);
        init[e.offset as usize..e.offset as usize + n].copy_from_slice(&v[..n]);
    }
    MapSpec {
        name: ".kconfig".into(),
        section: None,
        offset: 0,
        def: MapDef { kind: MapKind::Array, key_size: 4, value_size: len, max_entries: 1 },
        init: Some(init),
        read_only: true,
        prog_values: Vec::new(),
    }
}

/// `struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }` per symbol.
fn legacy_maps(obj: &BpfObject, si: usize, sec: &DataSection) -> Result<Vec<MapSpec>, LoadError> {
    let mut out = Vec::new();
    for sym in obj.data_symbols.iter().filter(|s| s.section == si) {
        let field = |i: u64| -> Result<u32, LoadError> {
            let at = usize::try_from(sym.offset + 4 * i).unwrap_or(usize::MAX);
            sec.bytes
                .get(at..at.saturating_add(4))
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| LoadError::Malformed {
                    section: sec.name.clone(),
                    message: format!("map {} at offset {} is truncated", sym.name, sym.offset),
                })
        };
        let def = MapDef {
            kind: kind_of(&sym.name, field(0)?)?,
            key_size: field(1)?,
            value_size: field(2)?,
            max_entries: field(3)?,
        };
        out.push(MapSpec {
            name: sym.name.clone(),
            section: Some(si),
            offset: sym.offset,
            def: check_def(&sym.name, def)?,
            init: None,
            read_only: false,
            prog_values: Vec::new(),
        });
    }
    Ok(out)
}

/// Bound on typedef/qualifier chains, against cyclic BTF.
const MAX_CHAIN: usize = 32;

fn resolve(btf: &Btf, id: u32) -> Option<Type> {
    btf.resolve_type_by_id(id).ok()
}

/// Skips typedefs and qualifiers.
fn strip(btf: &Btf, mut t: Type) -> Option<Type> {
    for _ in 0..MAX_CHAIN {
        match &t {
            Type::Typedef(x) => t = resolve(btf, x.get_type_id()?)?,
            Type::Volatile(x) | Type::Const(x) | Type::Restrict(x) => t = resolve(btf, x.get_type_id()?)?,
            Type::TypeTag(x) => t = resolve(btf, x.get_type_id()?)?,
            _ => return Some(t),
        }
    }
    None
}

/// The size in bytes of a type.
fn size_of(btf: &Btf, t: Type, depth: usize) -> Option<u64> {
    if depth > MAX_CHAIN {
        return None;
    }
    Some(match strip(btf, t)? {
        Type::Int(i) => i.size() as u64,
        Type::Ptr(_) => 8,
        Type::Array(a) => {
            let elem = size_of(btf, resolve(btf, a.get_type_id()?)?, depth + 1)?;
            elem.checked_mul(a.len() as u64)?
        }
        Type::Struct(s) | Type::Union(s) => s.size() as u64,
        Type::Enum(e) => e.size() as u64,
        Type::Enum64(e) => e.size() as u64,
        Type::Float(f) => f.size() as u64,
        _ => return None,
    })
}

/// `__uint(name, N)` is `int (*name)[N]`: the pointee array's length.
fn uint_member(btf: &Btf, t: Type) -> Option<u32> {
    let Type::Ptr(p) = strip(btf, t)? else { return None };
    let Type::Array(a) = strip(btf, resolve(btf, p.get_type_id()?)?)? else { return None };
    u32::try_from(a.len()).ok()
}

/// `__type(name, T)` is `T *name`: the pointee's size.
fn type_member(btf: &Btf, t: Type) -> Option<u32> {
    let Type::Ptr(p) = strip(btf, t)? else { return None };
    u32::try_from(size_of(btf, resolve(btf, p.get_type_id()?)?, 0)?).ok()
}

/// The `__kconfig` externs (the variables of the `.kconfig` DATASEC) laid out as libbpf lays
/// them out.
pub fn kconfig_externs(btf: &Btf) -> Vec<KconfigExtern> {
    let Ok(types) = btf.resolve_types_by_name(".kconfig") else { return Vec::new() };
    let mut externs: Vec<(u32, u32, String)> = Vec::new();
    for t in types {
        let Type::Datasec(d) = t else { continue };
        for v in &d.variables {
            if let Some(Type::Var(var)) = v.get_type_id().and_then(|id| resolve(btf, id)) {
                let size = var.get_type_id().and_then(|id| resolve(btf, id)).and_then(|t| size_of(btf, t, 0));
                let size = size.and_then(|s| u32::try_from(s).ok()).unwrap_or(8);
                let align = if matches!(size, 1 | 2 | 4 | 8) { size } else { 1 };
                if let Ok(n) = btf.resolve_name(&var) {
                    externs.push((align, size, n));
                }
            }
        }
    }
    externs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut off = 0u32;
    externs
        .into_iter()
        .map(|(align, size, name)| {
            off = off.next_multiple_of(align.max(1));
            let e = KconfigExtern { name, size, offset: off };
            off += size;
            e
        })
        .collect()
}

fn btf_maps(obj: &BpfObject, btf: &Btf, si: usize, sec: &DataSection) -> Result<Vec<MapSpec>, LoadError> {
    let bad = |message: String| LoadError::Malformed { section: ".maps".into(), message };
    let datasec = btf
        .resolve_types_by_name(".maps")
        .map_err(|e| bad(format!("no .maps DATASEC in BTF: {e}")))?
        .into_iter()
        .find_map(|t| match t {
            Type::Datasec(d) => Some(d),
            _ => None,
        })
        .ok_or_else(|| bad("no .maps DATASEC in BTF".into()))?;
    let mut out = Vec::new();
    for v in &datasec.variables {
        let var = v.get_type_id().and_then(|id| resolve(btf, id));
        let Some(Type::Var(var)) = var else { return Err(bad("a .maps entry is not a variable".into())) };
        let name = btf.resolve_name(&var).map_err(|e| bad(e.to_string()))?;
        let def = var
            .get_type_id()
            .and_then(|id| resolve(btf, id))
            .and_then(|t| strip(btf, t))
            .ok_or_else(|| bad(format!("map {name}: unresolvable type")))?;
        let Type::Struct(def) = def else { return Err(bad(format!("map {name}: not a struct"))) };
        let (mut map_type, mut key, mut value, mut max) = (None, 0, 0, 0);
        let mut values_offset = None;
        for m in &def.members {
            let mname = btf.resolve_name(m).map_err(|e| bad(e.to_string()))?;
            let mt = m.get_type_id().and_then(|id| resolve(btf, id));
            let field = |f: fn(&Btf, Type) -> Option<u32>| {
                mt.clone()
                    .and_then(|t| f(btf, t))
                    .ok_or_else(|| bad(format!("map {name}: bad member {mname}")))
            };
            match mname.as_str() {
                "type" => map_type = Some(field(uint_member)?),
                "max_entries" => max = field(uint_member)?,
                "key_size" => key = field(uint_member)?,
                "value_size" => value = field(uint_member)?,
                "key" => key = field(type_member)?,
                "value" => value = field(type_member)?,
                "values" => values_offset = Some(u64::from(m.bit_offset() / 8)),
                "map_flags" | "pinning" | "numa_node" | "map_extra" => {}
                other => {
                    return Err(LoadError::UnsupportedMap {
                        map: format!("{name} (member {other})"),
                        map_type: map_type.unwrap_or(0),
                    })
                }
            }
        }
        let map_type = map_type.ok_or_else(|| bad(format!("map {name}: no type")))?;
        let kind = kind_of(&name, map_type)?;
        if kind == MapKind::ProgArray {
            // The kernel fixes a program array's value to a u32 program fd.
            value = 4;
            key = 4;
        }
        let def = check_def(&name, MapDef { kind, key_size: key, value_size: value, max_entries: max })?;
        // clang leaves DATASEC offsets to the loader (libbpf's btf_fixup_datasec): the symbol
        // table has them.
        let offset = obj
            .data_symbols
            .iter()
            .find(|s| s.section == si && s.name == name)
            .map_or(u64::from(v.offset()), |s| s.offset);
        let mut prog_values = Vec::new();
        if let Some(vo) = values_offset {
            let start = offset + vo;
            let end = offset + v.size() as u64;
            for r in sec.relocs.iter().filter(|r| (start..end).contains(&r.offset)) {
                prog_values.push((((r.offset - start) / 8) as u32, r.symbol.clone()));
            }
        }
        out.push(MapSpec { name, section: Some(si), offset, def, init: None, read_only: false, prog_values });
    }
    out.sort_by_key(|m| m.offset);
    Ok(out)
}
