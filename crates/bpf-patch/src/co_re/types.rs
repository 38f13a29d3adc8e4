//! The BTF questions CO-RE asks, answered over btf-rs: skipping modifiers and typedefs, type
//! sizes, "essential" names (without a `___flavor` suffix), and libbpf's three compatibility
//! relations (`bpf_core_types_are_compat`, `bpf_core_fields_are_compat`, `bpf_core_types_match`).
//!
//! Internal errors are plain reasons (`String`); [`super::resolve`] attaches the location.
//! btf-rs does not expose an `INT`'s bit offset: it is taken as 0, which is what every clang
//! and pahole emit (libbpf refuses non-zero ones as incompatible).

use btf_rs::{Btf, BtfType, Type};

/// Internal result: a reason without location.
pub(super) type Res<T> = Result<T, String>;

/// libbpf's recursion bound (`MAX_RESOLVE_DEPTH` and the `depth = 32` of the matchers).
const MAX_DEPTH: u32 = 32;

/// `sizeof(void *)` on BPF.
const PTR_SIZE: u64 = 8;

/// The type with this id.
pub(super) fn ty(btf: &Btf, id: u32) -> Res<Type> {
    btf.resolve_type_by_id(id).map_err(|e| format!("no BTF type [{id}]: {e}"))
}

/// The name behind a name offset, empty when absent or unreadable.
pub(super) fn name_of(btf: &Btf, t: &dyn BtfType) -> String {
    match t.get_name_offset() {
        None | Some(0) => String::new(),
        Some(_) => btf.resolve_name(t).unwrap_or_default(),
    }
}

/// A type's name, empty for kinds without one and for anonymous types.
pub(super) fn type_name(btf: &Btf, t: &Type) -> String {
    t.as_btf_type().map(|b| name_of(btf, b)).unwrap_or_default()
}

/// The type a modifier, typedef, pointer, array, variable or tag refers to.
pub(super) fn next_id(t: &Type) -> Option<u32> {
    t.as_btf_type().and_then(BtfType::get_type_id)
}

/// The kernel's `BTF_KIND_*` number of a type.
pub(super) fn kind(t: &Type) -> u8 {
    match t {
        Type::Void => 0,
        Type::Int(_) => 1,
        Type::Ptr(_) => 2,
        Type::Array(_) => 3,
        Type::Struct(_) => 4,
        Type::Union(_) => 5,
        Type::Enum(_) => 6,
        Type::Fwd(_) => 7,
        Type::Typedef(_) => 8,
        Type::Volatile(_) => 9,
        Type::Const(_) => 10,
        Type::Restrict(_) => 11,
        Type::Func(_) => 12,
        Type::FuncProto(_) => 13,
        Type::Var(_) => 14,
        Type::Datasec(_) => 15,
        Type::Float(_) => 16,
        Type::DeclTag(_) => 17,
        Type::TypeTag(_) => 18,
        Type::Enum64(_) => 19,
        _ => u8::MAX,
    }
}

/// `ENUM` or `ENUM64`.
pub(super) fn is_any_enum(t: &Type) -> bool {
    matches!(t, Type::Enum(_) | Type::Enum64(_))
}

/// `STRUCT` or `UNION`.
pub(super) fn is_composite(t: &Type) -> bool {
    matches!(t, Type::Struct(_) | Type::Union(_))
}

/// libbpf's `btf_kind_core_compat`: same kind, or both enums of either width.
pub(super) fn kinds_compat(a: &Type, b: &Type) -> bool {
    kind(a) == kind(b) || (is_any_enum(a) && is_any_enum(b))
}

/// Skips `typedef`, `const`, `volatile`, `restrict` and type tags; returns the id reached and
/// its type.
pub(super) fn skip_mods(btf: &Btf, mut id: u32) -> Res<(u32, Type)> {
    for _ in 0..=MAX_DEPTH * 8 {
        let t = ty(btf, id)?;
        match t {
            Type::Typedef(_) | Type::Volatile(_) | Type::Const(_) | Type::Restrict(_) | Type::TypeTag(_) => {
                id = next_id(&t).ok_or_else(|| format!("modifier [{id}] refers to nothing"))?;
            }
            _ => return Ok((id, t)),
        }
    }
    Err(format!("modifier chain from [{id}] too long (a loop?)"))
}

/// The `size` field of a sized kind (int, enum, struct, union, datasec, float).
pub(super) fn sized(t: &Type) -> Option<u64> {
    let s = match t {
        Type::Int(i) => i.size(),
        Type::Enum(e) => e.size(),
        Type::Enum64(e) => e.size(),
        Type::Struct(s) | Type::Union(s) => s.size(),
        Type::Datasec(d) => d.size(),
        Type::Float(f) => f.size(),
        _ => return None,
    };
    Some(s as u64)
}

/// libbpf's `btf__resolve_size`: the byte size of a type, through modifiers and arrays.
pub(super) fn resolve_size(btf: &Btf, type_id: u32) -> Res<u64> {
    let mut id = type_id;
    let mut nelems: u64 = 1;
    for _ in 0..MAX_DEPTH {
        let t = ty(btf, id)?;
        let size = match &t {
            Type::Ptr(_) => PTR_SIZE,
            Type::Typedef(_)
            | Type::Volatile(_)
            | Type::Const(_)
            | Type::Restrict(_)
            | Type::Var(_)
            | Type::DeclTag(_)
            | Type::TypeTag(_) => {
                id = next_id(&t).ok_or_else(|| format!("type [{id}] refers to nothing"))?;
                continue;
            }
            Type::Array(a) => {
                nelems = nelems
                    .checked_mul(a.len() as u64)
                    .filter(|n| *n <= u64::from(u32::MAX))
                    .ok_or_else(|| format!("array [{id}] too large"))?;
                id = next_id(&t).ok_or_else(|| format!("array [{id}] has no element type"))?;
                continue;
            }
            other => sized(other).ok_or_else(|| format!("type [{id}] ({}) has no size", other.name()))?,
        };
        let total = nelems.saturating_mul(size);
        if total > u64::from(u32::MAX) {
            return Err(format!("type [{type_id}] too large"));
        }
        return Ok(total);
    }
    Err(format!("type [{type_id}] nested too deep"))
}

/// libbpf's `bpf_core_essential_name_len`: the length of `name` before its last `X___Y` flavor
/// separator.
pub(super) fn essential_len(name: &str) -> usize {
    let b = name.as_bytes();
    if b.len() >= 5 {
        for i in (0..=b.len() - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                return i + 1;
            }
        }
    }
    b.len()
}

/// `name` without its flavor suffix.
pub(super) fn essential(name: &str) -> &str {
    &name[..essential_len(name)]
}

/// libbpf's `bpf_core_names_match` (for `TYPE_MATCHES`): an anonymous target matches only an
/// anonymous local; otherwise the essential names are equal.
fn names_match(local: &str, targ: &str) -> bool {
    if targ.is_empty() {
        return local.is_empty();
    }
    essential(local) == essential(targ)
}

/// libbpf's `bpf_core_types_are_compat` (for `TYPE_EXISTS`, `TYPE_SIZE`, `TYPE_ID_TARGET`).
pub(super) fn types_are_compat(lb: &Btf, lid: u32, tb: &Btf, tid: u32, level: u32) -> Res<bool> {
    if !kinds_compat(&ty(lb, lid)?, &ty(tb, tid)?) {
        return Ok(false);
    }
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..MAX_DEPTH {
        let (l_id, lt) = skip_mods(lb, lid)?;
        let (t_id, tt) = skip_mods(tb, tid)?;
        if !kinds_compat(&lt, &tt) {
            return Ok(false);
        }
        match (&lt, &tt) {
            (
                Type::Void
                | Type::Struct(_)
                | Type::Union(_)
                | Type::Enum(_)
                | Type::Enum64(_)
                | Type::Fwd(_),
                _,
            ) => return Ok(true),
            (Type::Int(_), _) => return Ok(true),
            (Type::Ptr(_) | Type::Array(_), _) => {
                lid = next_id(&lt).ok_or_else(|| format!("type [{l_id}] refers to nothing"))?;
                tid = next_id(&tt).ok_or_else(|| format!("type [{t_id}] refers to nothing"))?;
            }
            (Type::FuncProto(lp), Type::FuncProto(tp)) => {
                if lp.parameters.len() != tp.parameters.len() {
                    return Ok(false);
                }
                for (l, t) in lp.parameters.iter().zip(&tp.parameters) {
                    if level == 0 {
                        return Err("function prototypes nested too deep".to_owned());
                    }
                    let (l, _) = skip_mods(lb, l.get_type_id().unwrap_or(0))?;
                    let (t, _) = skip_mods(tb, t.get_type_id().unwrap_or(0))?;
                    if !types_are_compat(lb, l, tb, t, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = skip_mods(lb, lp.return_type_id())?.0;
                tid = skip_mods(tb, tp.return_type_id())?.0;
            }
            _ => return Ok(false),
        }
    }
    Err(format!("types [{lid}] and [{tid}] nested too deep"))
}

/// libbpf's `bpf_core_fields_are_compat`: may a local field of type `lid` be read as a target
/// field of type `tid`?
pub(super) fn fields_are_compat(lb: &Btf, lid: u32, tb: &Btf, tid: u32) -> Res<bool> {
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..MAX_DEPTH {
        let (_, lt) = skip_mods(lb, lid)?;
        let (_, tt) = skip_mods(tb, tid)?;
        if is_composite(&lt) && is_composite(&tt) {
            return Ok(true);
        }
        if !kinds_compat(&lt, &tt) {
            return Ok(false);
        }
        match (&lt, &tt) {
            (Type::Ptr(_) | Type::Float(_) | Type::Int(_), _) => return Ok(true),
            (Type::Fwd(_) | Type::Enum(_) | Type::Enum64(_), _) => {
                let (l, t) = (type_name(lb, &lt), type_name(tb, &tt));
                let (l, t) = (essential(&l), essential(&t));
                return Ok(l.is_empty() || t.is_empty() || l == t);
            }
            (Type::Array(_), Type::Array(_)) => {
                lid = next_id(&lt).unwrap_or(0);
                tid = next_id(&tt).unwrap_or(0);
            }
            _ => return Ok(false),
        }
    }
    Err("field types nested too deep".to_owned())
}

/// The variant names of an enum of either width.
fn enum_names(btf: &Btf, t: &Type) -> Vec<String> {
    match t {
        Type::Enum(e) => e.members.iter().map(|m| name_of(btf, m)).collect(),
        Type::Enum64(e) => e.members.iter().map(|m| name_of(btf, m)).collect(),
        _ => Vec::new(),
    }
}

/// libbpf's `bpf_core_types_match` (for `TYPE_MATCHES`), a stricter relation than
/// [`types_are_compat`]: names, member sets, int sizes and signedness, array lengths.
pub(super) fn types_match(lb: &Btf, lid: u32, tb: &Btf, tid: u32, behind_ptr: bool, level: u32) -> Res<bool> {
    if level == 0 {
        return Err("types nested too deep".to_owned());
    }
    let (mut lid, mut tid, mut behind_ptr) = (lid, tid, behind_ptr);
    for _ in 0..MAX_DEPTH {
        let (_, lt) = skip_mods(lb, lid)?;
        let (_, tt) = skip_mods(tb, tid)?;
        if !names_match(&type_name(lb, &lt), &type_name(tb, &tt)) {
            return Ok(false);
        }
        let same = kind(&lt) == kind(&tt);
        match (&lt, &tt) {
            (Type::Void, _) => return Ok(same),
            (Type::Fwd(lf), _) => {
                return Ok(match &tt {
                    Type::Fwd(tf) => lf.is_union() == tf.is_union(),
                    Type::Struct(_) => behind_ptr && !lf.is_union(),
                    Type::Union(_) => behind_ptr && lf.is_union(),
                    _ => false,
                })
            }
            (Type::Enum(_) | Type::Enum64(_), _) => {
                if !is_any_enum(&tt) || sized(&lt) != sized(&tt) {
                    return Ok(false);
                }
                let tn = enum_names(tb, &tt);
                let ln = enum_names(lb, &lt);
                if ln.len() > tn.len() {
                    return Ok(false);
                }
                return Ok(ln.iter().all(|l| tn.iter().any(|t| names_match(l, t))));
            }
            (Type::Struct(ls) | Type::Union(ls), _) => {
                if behind_ptr {
                    return Ok(
                        same || matches!(&tt, Type::Fwd(tf) if tf.is_union() == matches!(lt, Type::Union(_)))
                    );
                }
                if !same {
                    return Ok(false);
                }
                let (Type::Struct(ts) | Type::Union(ts)) = &tt else { return Ok(false) };
                if ls.members.len() > ts.members.len() {
                    return Ok(false);
                }
                for lm in &ls.members {
                    let ln = name_of(lb, lm);
                    let mut matched = false;
                    for tm in &ts.members {
                        if !names_match(&ln, &name_of(tb, tm)) {
                            continue;
                        }
                        let (l, t) = (lm.get_type_id().unwrap_or(0), tm.get_type_id().unwrap_or(0));
                        if types_match(lb, l, tb, t, behind_ptr, level - 1)? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Type::Int(li), Type::Int(ti)) => {
                return Ok(li.size() == ti.size() && li.is_signed() == ti.is_signed())
            }
            (Type::Ptr(_), Type::Ptr(_)) => {
                behind_ptr = true;
                lid = next_id(&lt).unwrap_or(0);
                tid = next_id(&tt).unwrap_or(0);
            }
            (Type::Array(la), Type::Array(ta)) => {
                if la.len() != ta.len() {
                    return Ok(false);
                }
                lid = next_id(&lt).unwrap_or(0);
                tid = next_id(&tt).unwrap_or(0);
            }
            (Type::FuncProto(lp), Type::FuncProto(tp)) => {
                if lp.parameters.len() != tp.parameters.len() {
                    return Ok(false);
                }
                for (l, t) in lp.parameters.iter().zip(&tp.parameters) {
                    let (l, t) = (l.get_type_id().unwrap_or(0), t.get_type_id().unwrap_or(0));
                    if !types_match(lb, l, tb, t, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = lp.return_type_id();
                tid = tp.return_type_id();
            }
            _ => return Ok(false),
        }
    }
    Err(format!("types [{lid}] and [{tid}] nested too deep"))
}
