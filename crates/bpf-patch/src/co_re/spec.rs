//! Access specifications: parsing a record's access string (`0:1:2`) against the local BTF,
//! matching it against one target candidate, and computing the value a relocation kind asks
//! for from a (local or target) spec: libbpf's `bpf_core_parse_spec`, `bpf_core_spec_match`
//! and `bpf_core_calc_{field,type,enumval}_relo`.

use btf_rs::{Btf, BtfType, Type};

use super::types::{
    fields_are_compat, name_of, resolve_size, sized, skip_mods, ty, types_are_compat, types_match, Res,
};
use super::CoReKind;

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`.
const SPEC_MAX_LEN: usize = 64;

/// One high-level step of a spec: a named member, an array index, or an enum variant.
#[derive(Clone, Debug)]
pub(super) struct Accessor {
    /// The struct, union or enum the member belongs to; for an index, the element type.
    pub type_id: u32,
    /// Member, variant or element index.
    pub idx: u32,
    /// The member's or variant's name; `None` for array indices.
    pub name: Option<String>,
}

/// A parsed or matched access specification.
#[derive(Clone, Debug, Default)]
pub(super) struct Spec {
    /// The relocation's root type in this BTF.
    pub root_type_id: u32,
    /// Named members and indices (anonymous members are only in `raw`).
    pub acc: Vec<Accessor>,
    /// Every step, anonymous members included.
    pub raw: Vec<u32>,
    /// Bit offset of the field from the root.
    pub bit_offset: u64,
}

fn push_raw(spec: &mut Spec, idx: u32) -> Res<()> {
    if spec.raw.len() == SPEC_MAX_LEN {
        return Err("access nested too deep".to_owned());
    }
    spec.raw.push(idx);
    Ok(())
}

/// Adds `bits` to the spec's bit offset; an offset past `u32::MAX` bits (libbpf's field
/// width) is an error rather than a wrap.
fn add_bits(spec: &mut Spec, bits: u64) -> Res<()> {
    spec.bit_offset = spec
        .bit_offset
        .checked_add(bits)
        .filter(|b| *b <= u64::from(u32::MAX))
        .ok_or("field offset overflows")?;
    Ok(())
}

/// Adds the offset of element `idx` of `size`-byte elements.
fn add_index(spec: &mut Spec, idx: u32, size: u64) -> Res<()> {
    add_bits(spec, u64::from(idx).checked_mul(size).and_then(|b| b.checked_mul(8)).ok_or("index overflows")?)
}

/// A flexible array: zero-length, and the last member of the struct named by `prev`.
fn is_flex_arr(btf: &Btf, prev: Option<&Accessor>, nelems: usize) -> Res<bool> {
    let Some(prev) = prev.filter(|p| p.name.is_some() && nelems == 0) else { return Ok(false) };
    Ok(match ty(btf, prev.type_id)? {
        Type::Struct(s) | Type::Union(s) => prev.idx as usize + 1 == s.members.len(),
        _ => false,
    })
}

/// Parses `access` for a relocation of `kind` rooted at `type_id` in the local BTF.
pub(super) fn parse(btf: &Btf, type_id: u32, access: &str, kind: CoReKind) -> Res<Spec> {
    if access.is_empty() || access.starts_with(':') {
        return Err("empty access string".to_owned());
    }
    let mut spec = Spec { root_type_id: type_id, ..Spec::default() };
    if kind.is_type_based() {
        return if access == "0" { Ok(spec) } else { Err("type relocations take access `0`".to_owned()) };
    }
    let mut raw = Vec::new();
    for part in access.split(':') {
        let idx: u32 = part.parse().map_err(|_| format!("bad access index `{part}`"))?;
        if raw.len() == SPEC_MAX_LEN {
            return Err("access nested too deep".to_owned());
        }
        raw.push(idx);
    }
    let (mut id, t) = skip_mods(btf, type_id)?;
    let first = raw[0];
    spec.raw.push(first);
    if kind.is_enumval_based() {
        let names: Vec<String> = match &t {
            Type::Enum(e) => e.members.iter().map(|m| name_of(btf, m)).collect(),
            Type::Enum64(e) => e.members.iter().map(|m| name_of(btf, m)).collect(),
            _ => return Err("enum value relocation on a non-enum".to_owned()),
        };
        let name = names
            .get(first as usize)
            .filter(|_| raw.len() == 1)
            .ok_or_else(|| format!("enum has no variant #{first}"))?;
        spec.acc.push(Accessor { type_id: id, idx: first, name: Some(name.clone()) });
        return Ok(spec);
    }
    spec.acc.push(Accessor { type_id: id, idx: first, name: None });
    add_index(&mut spec, first, resolve_size(btf, id)?)?;
    for &idx in &raw[1..] {
        let (cur, t) = skip_mods(btf, id)?;
        spec.raw.push(idx);
        match &t {
            Type::Struct(s) | Type::Union(s) => {
                let m = s.members.get(idx as usize).ok_or_else(|| format!("[{cur}] has no member #{idx}"))?;
                add_bits(&mut spec, u64::from(m.bit_offset()))?;
                if m.get_name_offset().is_some_and(|o| o != 0) {
                    let name = name_of(btf, m);
                    if name.is_empty() {
                        return Err(format!("member #{idx} of [{cur}] has an unreadable name"));
                    }
                    spec.acc.push(Accessor { type_id: cur, idx, name: Some(name) });
                }
                id = m.get_type_id().unwrap_or(0);
            }
            Type::Array(a) => {
                let (elem, _) = skip_mods(btf, a.get_type_id().unwrap_or(0))?;
                if !is_flex_arr(btf, spec.acc.last(), a.len())? && idx as usize >= a.len() {
                    return Err(format!("index {idx} past the end of array [{cur}]"));
                }
                spec.acc.push(Accessor { type_id: elem, idx, name: None });
                add_index(&mut spec, idx, resolve_size(btf, elem)?)?;
                id = elem;
            }
            other => return Err(format!("access #{idx} into [{cur}], a {}", other.name())),
        }
    }
    Ok(spec)
}

/// Finds the member `local` names inside target type `targ_id`, descending into anonymous
/// members; on success pushes the accessor and returns the member's type id.
fn match_member(lb: &Btf, local: &Accessor, tb: &Btf, targ_id: u32, spec: &mut Spec) -> Res<Option<u32>> {
    let (targ_id, tt) = skip_mods(tb, targ_id)?;
    let (Type::Struct(ts) | Type::Union(ts)) = &tt else { return Ok(None) };
    let (Type::Struct(ls) | Type::Union(ls)) = ty(lb, local.type_id)? else {
        return Err(format!("local accessor type [{}] is not a struct or union", local.type_id));
    };
    let lm = ls.members.get(local.idx as usize).ok_or("local member index out of range")?;
    let local_name = local.name.as_deref().unwrap_or_default();
    for (i, m) in ts.members.iter().enumerate() {
        let bit_offset = u64::from(m.bit_offset());
        push_raw(spec, i as u32)?;
        add_bits(spec, bit_offset)?;
        let name = name_of(tb, m);
        let member_type = m.get_type_id().unwrap_or(0);
        if name.is_empty() {
            if let Some(found) = match_member(lb, local, tb, member_type, spec)? {
                return Ok(Some(found));
            }
        } else if name == local_name {
            if !fields_are_compat(lb, lm.get_type_id().unwrap_or(0), tb, member_type)? {
                spec.bit_offset -= bit_offset;
                spec.raw.pop();
                return Ok(None);
            }
            spec.acc.push(Accessor { type_id: targ_id, idx: i as u32, name: Some(name) });
            return Ok(Some(member_type));
        }
        spec.bit_offset -= bit_offset;
        spec.raw.pop();
    }
    Ok(None)
}

/// Matches the local spec against target candidate `targ_id`; `None` when it does not match.
pub(super) fn matches(local: &Spec, lb: &Btf, kind: CoReKind, tb: &Btf, targ_id: u32) -> Res<Option<Spec>> {
    let mut spec = Spec { root_type_id: targ_id, ..Spec::default() };
    if kind.is_type_based() {
        let ok = if kind == CoReKind::TypeMatches {
            types_match(lb, local.root_type_id, tb, targ_id, false, 32)?
        } else {
            types_are_compat(lb, local.root_type_id, tb, targ_id, 32)?
        };
        return Ok(ok.then_some(spec));
    }
    let first = local.acc.first().ok_or("empty local spec")?;
    if kind.is_enumval_based() {
        let (targ_id, tt) = skip_mods(tb, targ_id)?;
        let names: Vec<String> = match &tt {
            Type::Enum(e) => e.members.iter().map(|m| name_of(tb, m)).collect(),
            Type::Enum64(e) => e.members.iter().map(|m| name_of(tb, m)).collect(),
            _ => return Ok(None),
        };
        let want = super::types::essential(first.name.as_deref().unwrap_or_default());
        for (i, n) in names.into_iter().enumerate() {
            if super::types::essential(&n) == want {
                spec.acc.push(Accessor { type_id: targ_id, idx: i as u32, name: Some(n) });
                spec.raw.push(i as u32);
                return Ok(Some(spec));
            }
        }
        return Ok(None);
    }
    let mut targ_id = targ_id;
    for (i, la) in local.acc.iter().enumerate() {
        let (cur, tt) = skip_mods(tb, targ_id)?;
        targ_id = cur;
        if la.name.is_some() {
            match match_member(lb, la, tb, targ_id, &mut spec)? {
                Some(next) => targ_id = next,
                None => return Ok(None),
            }
            continue;
        }
        if i > 0 {
            let Type::Array(a) = &tt else { return Ok(None) };
            if !is_flex_arr(tb, spec.acc.last(), a.len())? && la.idx as usize >= a.len() {
                return Ok(None);
            }
            targ_id = skip_mods(tb, a.get_type_id().unwrap_or(0))?.0;
        }
        push_raw(&mut spec, la.idx)?;
        spec.acc.push(Accessor { type_id: targ_id, idx: la.idx, name: None });
        add_index(&mut spec, la.idx, resolve_size(tb, targ_id)?)?;
    }
    Ok(Some(spec))
}

/// A computed relocation value: `None` from a `calc_*` function asks for poisoning.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Value {
    /// The value.
    pub val: u64,
    /// For `FIELD_BYTE_OFFSET` of a non-bitfield: the accessed size (memory-size adjustment).
    pub field_sz: u32,
    /// The field's type id (for the memory-size adjustment check).
    pub type_id: u32,
    /// Whether the instruction's current value can be checked against the local value.
    pub validate: bool,
}

/// Element size of `id`, looking through (nested) arrays; returns that element's id too.
fn elem_size(btf: &Btf, id: u32) -> Res<(u32, u64)> {
    let (mut id, mut t) = skip_mods(btf, id)?;
    while let Type::Array(a) = &t {
        (id, t) = skip_mods(btf, a.get_type_id().unwrap_or(0))?;
    }
    Ok((id, resolve_size(btf, id)?))
}

/// libbpf's `bpf_core_calc_field_relo`.
pub(super) fn calc_field(kind: CoReKind, btf: &Btf, spec: Option<&Spec>) -> Res<Option<Value>> {
    if kind == CoReKind::FieldExists {
        return Ok(Some(Value { val: u64::from(spec.is_some()), validate: true, ..Value::default() }));
    }
    let Some(spec) = spec else { return Ok(None) };
    let acc = spec.acc.last().ok_or("empty spec")?;
    if acc.name.is_none() {
        let mut v = Value { validate: true, ..Value::default() };
        match kind {
            CoReKind::FieldByteOffset => {
                v.val = spec.bit_offset / 8;
                let (_, sz) = elem_size(btf, acc.type_id)?;
                v.field_sz = u32::try_from(sz).map_err(|_| "element too large")?;
                v.type_id = acc.type_id;
            }
            CoReKind::FieldByteSize => v.val = resolve_size(btf, acc.type_id)?,
            _ => return Err(format!("{kind} cannot be applied to an array access")),
        }
        return Ok(Some(v));
    }
    let (Type::Struct(s) | Type::Union(s)) = ty(btf, acc.type_id)? else {
        return Err(format!("accessor type [{}] is not a struct or union", acc.type_id));
    };
    let m = s.members.get(acc.idx as usize).ok_or("member index out of range")?;
    let (field_type_id, mt) = skip_mods(btf, m.get_type_id().unwrap_or(0))?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = u64::from(m.bitfield_size().unwrap_or(0));
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        let mut sz = sized(&mt).filter(|s| *s > 0).ok_or("bitfield of a type without size")?;
        let mut off = bit_off / 8 / sz * sz;
        while bit_off + bit_sz - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err("bitfield cannot be read in 8 bytes".to_owned());
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        (byte_off, byte_sz) = (off, sz);
    } else {
        byte_sz = resolve_size(btf, field_type_id)?;
        byte_off = bit_off / 8;
        bit_sz = byte_sz * 8;
    }
    let mut v = Value { validate: !bitfield, ..Value::default() };
    match kind {
        CoReKind::FieldByteOffset => {
            v.val = byte_off;
            if !bitfield {
                let (_, sz) = elem_size(btf, field_type_id)?;
                v.field_sz = u32::try_from(sz).map_err(|_| "field too large")?;
                v.type_id = field_type_id;
            }
        }
        CoReKind::FieldByteSize => v.val = byte_sz,
        CoReKind::FieldSigned => {
            v.val = u64::from(match &mt {
                Type::Enum(e) => e.is_signed(),
                Type::Enum64(e) => e.is_signed(),
                Type::Int(i) => i.is_signed(),
                _ => false,
            });
            v.validate = true;
        }
        CoReKind::FieldLshiftU64 => v.val = 64u64.wrapping_sub(bit_off + bit_sz - byte_off * 8),
        CoReKind::FieldRshiftU64 => {
            v.val = 64u64.wrapping_sub(bit_sz);
            v.validate = true;
        }
        _ => return Err(format!("{kind} is not a field relocation")),
    }
    Ok(Some(v))
}

/// libbpf's `bpf_core_calc_type_relo`.
pub(super) fn calc_type(kind: CoReKind, btf: &Btf, spec: Option<&Spec>) -> Res<Value> {
    let mut v = Value { validate: true, ..Value::default() };
    let Some(spec) = spec else { return Ok(v) };
    match kind {
        CoReKind::TypeIdTarget => {
            v.val = u64::from(spec.root_type_id);
            v.validate = false;
        }
        CoReKind::TypeExists | CoReKind::TypeMatches => v.val = 1,
        CoReKind::TypeSize => v.val = resolve_size(btf, spec.root_type_id)?,
        _ => return Err(format!("{kind} is not a type relocation")),
    }
    Ok(v)
}

/// libbpf's `bpf_core_calc_enumval_relo`.
pub(super) fn calc_enumval(kind: CoReKind, btf: &Btf, spec: Option<&Spec>) -> Res<Option<Value>> {
    let mut v = Value { validate: true, ..Value::default() };
    match kind {
        CoReKind::EnumvalExists => v.val = u64::from(spec.is_some()),
        CoReKind::EnumvalValue => {
            let Some(spec) = spec else { return Ok(None) };
            let acc = spec.acc.first().ok_or("empty spec")?;
            let t = ty(btf, acc.type_id)?;
            v.val = match &t {
                // `struct btf_enum` holds an `__s32`: libbpf sign-extends it.
                Type::Enum(e) => e.members.get(acc.idx as usize).map(|m| m.val() as i32 as i64 as u64),
                Type::Enum64(e) => e.members.get(acc.idx as usize).map(|m| m.val()),
                _ => None,
            }
            .ok_or("enum variant out of range")?;
        }
        _ => return Err(format!("{kind} is not an enum value relocation")),
    }
    Ok(Some(v))
}
