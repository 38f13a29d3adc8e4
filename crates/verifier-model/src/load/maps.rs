//! The maps an object defines, as libbpf reads them: BTF-defined maps in `.maps` (with a
//! program array's `.values` initialiser from `.rel.maps`), legacy `struct bpf_map_def`
//! entries in a `maps` section, and one single-entry array per global data section.
//!
//! A map is read as a [`MapShape`] (its raw `enum bpf_map_type`, sizes and, for maps of maps,
//! the inner map template): that is all the verifier needs, whatever the type. The interpreter
//! models fewer types; [`MapSpec::def`] says which and refuses the others.

use std::collections::BTreeMap;

use bpf_patch::elf::{BpfObject, DataSection};
use btf_rs::{Btf, BtfType, Type};

use super::LoadError;
use crate::interp::{MapDef, MapKind};

/// What the verifier knows of a map: the kernel's `enum bpf_map_type` number and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapShape {
    /// `enum bpf_map_type` (`BPF_MAP_TYPE_HASH` = 1, ...).
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// For `array_of_maps` / `hash_of_maps`: the index of the inner map template in the table
    /// this shape belongs to ([`super::ObjectImage::map_shapes`]); `None` elsewhere, and when
    /// the object does not say.
    pub inner: Option<u32>,
}

/// `BPF_MAP_TYPE_ARRAY`.
pub const ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
pub const ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
pub const HASH_OF_MAPS: u32 = 13;

impl MapShape {
    /// A shape with no inner map.
    pub fn new(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapShape {
        MapShape { map_type, key_size, value_size, max_entries, inner: None }
    }

    /// Whether the map's values are maps.
    pub fn is_map_of_maps(&self) -> bool {
        matches!(self.map_type, ARRAY_OF_MAPS | HASH_OF_MAPS)
    }
}

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
    /// Type and sizes (`inner` is always `None` here: see [`MapSpec::inner`]).
    pub shape: MapShape,
    /// For maps of maps, the inner map template (from BTF `values` or a legacy
    /// `inner_map_idx`).
    pub inner: Option<MapShape>,
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

impl MapSpec {
    fn new(name: String, section: Option<usize>, offset: u64, shape: MapShape) -> MapSpec {
        MapSpec {
            name,
            section,
            offset,
            shape,
            inner: None,
            init: None,
            read_only: false,
            prog_values: Vec::new(),
        }
    }

    /// The interpreter's definition of this map, or why the interpreter cannot create it (a
    /// type it does not model, or larger than it creates).
    pub fn def(&self) -> Result<MapDef, LoadError> {
        let s = self.shape;
        let def = MapDef {
            kind: kind_of(&self.name, s.map_type)?,
            key_size: s.key_size,
            value_size: s.value_size,
            max_entries: s.max_entries,
        };
        check_def(&self.name, def)
    }
}

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
            init: Some(init),
            read_only: sec.name.starts_with(".rodata"),
            ..MapSpec::new(sec.name.clone(), Some(si), 0, MapShape::new(ARRAY, 4, sec.size as u32, 1))
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
        init: Some(init),
        read_only: true,
        ..MapSpec::new(".kconfig".into(), None, 0, MapShape::new(ARRAY, 4, len, 1))
    }
}

/// `struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }` per symbol,
/// in offset order; the samples' longer definition adds `inner_map_idx` (the index, in that
/// order, of a map of maps' inner template) and `numa_node`. Symbols without a size have the
/// section's size divided by the number of maps, as `bpf_load.c` computed it; a map of maps'
/// value is a 4-byte map fd whatever the definition says.
fn legacy_maps(obj: &BpfObject, si: usize, sec: &DataSection) -> Result<Vec<MapSpec>, LoadError> {
    let mut syms: Vec<_> = obj.data_symbols.iter().filter(|s| s.section == si).collect();
    syms.sort_by_key(|s| s.offset);
    let mut out = Vec::new();
    let mut inner_idx = Vec::new();
    let def_size = |size: u64| if size > 0 { size } else { sec.size / (syms.len().max(1) as u64) };
    for sym in &syms {
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
        let mut shape = MapShape::new(field(0)?, field(1)?, field(2)?, field(3)?);
        if shape.is_map_of_maps() {
            shape.value_size = 4;
        }
        inner_idx.push(if shape.is_map_of_maps() && def_size(sym.size) >= 24 {
            Some(field(5)?)
        } else {
            None
        });
        out.push(MapSpec::new(sym.name.clone(), Some(si), sym.offset, shape));
    }
    for (i, idx) in inner_idx.into_iter().enumerate() {
        if let Some(inner) = idx.and_then(|k| out.get(k as usize)).map(|m| m.shape) {
            out[i].inner = Some(inner);
        }
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

/// A BTF map definition struct: its shape, the byte offset of a `values` member and the
/// definition struct of the inner map that `values` declares (`__array(values, struct inner)`).
struct BtfMapDef {
    shape: MapShape,
    values_offset: Option<u64>,
    inner: Option<btf_rs::Struct>,
}

fn btf_map_def(btf: &Btf, name: &str, def: &btf_rs::Struct) -> Result<BtfMapDef, LoadError> {
    let bad = |message: String| LoadError::Malformed { section: ".maps".into(), message };
    let (mut map_type, mut key, mut value, mut max) = (None, 0, 0, 0);
    let (mut values_offset, mut inner) = (None, None);
    for m in &def.members {
        let mname = btf.resolve_name(m).map_err(|e| bad(e.to_string()))?;
        let mt = m.get_type_id().and_then(|id| resolve(btf, id));
        let field = |f: fn(&Btf, Type) -> Option<u32>| {
            mt.clone().and_then(|t| f(btf, t)).ok_or_else(|| bad(format!("map {name}: bad member {mname}")))
        };
        match mname.as_str() {
            "type" => map_type = Some(field(uint_member)?),
            "max_entries" => max = field(uint_member)?,
            "key_size" => key = field(uint_member)?,
            "value_size" => value = field(uint_member)?,
            "key" => key = field(type_member)?,
            "value" => value = field(type_member)?,
            "values" => {
                values_offset = Some(u64::from(m.bit_offset() / 8));
                inner = mt.clone().and_then(|t| values_struct(btf, t));
            }
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
    if map_type == PROG_ARRAY || values_offset.is_some() {
        // The kernel fixes a program array's value to a u32 program fd, and libbpf a map of
        // maps' value to a u32 map fd.
        value = 4;
        if map_type == PROG_ARRAY {
            key = 4;
        }
    }
    Ok(BtfMapDef { shape: MapShape::new(map_type, key, value, max), values_offset, inner })
}

/// `__array(values, struct inner)` is `struct inner *values[]`: the inner definition struct.
fn values_struct(btf: &Btf, t: Type) -> Option<btf_rs::Struct> {
    let Type::Array(a) = strip(btf, t)? else { return None };
    let Type::Ptr(p) = strip(btf, resolve(btf, a.get_type_id()?)?)? else { return None };
    match strip(btf, resolve(btf, p.get_type_id()?)?)? {
        Type::Struct(s) => Some(s),
        _ => None,
    }
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
        let BtfMapDef { shape, values_offset, inner } = btf_map_def(btf, &name, &def)?;
        let inner = match inner {
            Some(s) => Some(btf_map_def(btf, &format!("{name} (inner)"), &s)?.shape),
            None => None,
        };
        // clang leaves DATASEC offsets to the loader (libbpf's btf_fixup_datasec): the symbol
        // table has them.
        let offset = obj
            .data_symbols
            .iter()
            .find(|s| s.section == si && s.name == name)
            .map_or(u64::from(v.offset()), |s| s.offset);
        let mut prog_values = Vec::new();
        if let (Some(vo), PROG_ARRAY) = (values_offset, shape.map_type) {
            let start = offset + vo;
            let end = offset + v.size() as u64;
            for r in sec.relocs.iter().filter(|r| (start..end).contains(&r.offset)) {
                prog_values.push((((r.offset - start) / 8) as u32, r.symbol.clone()));
            }
        }
        out.push(MapSpec { inner, prog_values, ..MapSpec::new(name, Some(si), offset, shape) });
    }
    out.sort_by_key(|m| m.offset);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, ObjectImage};

    #[test]
    fn maps_of_maps_carry_their_inner_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/obj/tracing.v3.o");
        let bytes = std::fs::read(path).expect("testdata/obj is part of the repository");
        let obj = BpfObject::parse(&bytes).expect("parses");
        let btf = obj.btf().expect("BTF reads").expect("the object has BTF");
        let maps = read_maps(&obj, Some(&btf)).expect("maps read");
        let outer = maps.iter().find(|m| m.name == "outer").expect("outer map");
        assert_eq!(outer.shape, MapShape::new(ARRAY_OF_MAPS, 4, 4, 2));
        assert_eq!(outer.inner, Some(MapShape::new(ARRAY, 4, 8, 4)));
        assert!(outer.prog_values.is_empty(), "inner map initialisers are not program slots");
        // The interpreter does not create maps of maps, the verifier still sees them.
        assert!(matches!(outer.def(), Err(LoadError::UnsupportedMap { map_type: ARRAY_OF_MAPS, .. })));
        let options = LoadOptions::for_running_kernel(&obj).unwrap_or_default();
        if let Ok(image) = ObjectImage::new(&obj, &options) {
            let shapes = image.map_shapes();
            let i = image.maps.iter().position(|m| m.name == "outer").expect("outer map");
            let inner = shapes[i].inner.expect("the template has an index") as usize;
            assert_eq!(shapes[inner], MapShape::new(ARRAY, 4, 8, 4));
            assert_eq!(inner, image.maps.len(), "templates come after the object's maps");
        }
    }
}
