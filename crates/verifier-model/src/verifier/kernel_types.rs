//! Kernel types as the loads through `PTR_TO_BTF_ID` pointers need them ([`TypeInfo`]): read
//! from a BTF, or from the `type` lines of a bundled kfunc table
//! ([`crate::verifier::kfunc_bundle`]), which carry the kernel context structs and the
//! structs referenced kfuncs return, with every type they contain and the structs their
//! pointer members point to (one hop; structs further away are [`TypeInfo::Opaque`]).
//!
//! Type lines, with the BTF's own ids:
//!
//! ```text
//! type <id> struct|union <name> <size> <member>:<type id>:<bit offset>[:<bitfield bits>] ...
//! type <id> int <size>          (int, enum, enum64, float)
//! type <id> ptr <type id>       (0: void)
//! type <id> array <elem id> <len>
//! type <id> alias <type id>     (typedef, const, volatile, restrict, type tag)
//! type <id> opaque <name> <size>
//! type <id> other
//! ```
//!
//! An anonymous struct or member is named `-`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use btf_rs::{Btf, BtfType, Type};

/// A struct or union member.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Member {
    /// Name (empty when anonymous).
    pub name: String,
    /// Its type's id.
    pub ty: u32,
    /// Offset in bits.
    pub bit_offset: u32,
    /// Bitfield width, 0 for a plain member.
    pub bits: u32,
}

/// What the struct walk needs to know of one type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TypeInfo {
    /// A struct or union.
    Struct {
        /// A union rather than a struct.
        union: bool,
        /// Name (empty when anonymous).
        name: String,
        /// Size in bytes.
        size: u64,
        /// Members.
        members: Vec<Member>,
    },
    /// A scalar of `size` bytes (int, enum, float).
    Scalar(u64),
    /// A pointer to type `to` (0: void).
    Ptr(u32),
    /// An array of `len` elements of type `elem`.
    Array {
        /// Element type.
        elem: u32,
        /// Element count.
        len: u64,
    },
    /// A typedef or modifier of type `to`.
    Alias(u32),
    /// A struct whose members a bundled table does not carry.
    Opaque {
        /// Name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
    /// Anything else (`void`, functions, forward declarations).
    Other,
}

/// Type `id` of `btf`.
pub fn from_btf(btf: &Btf, id: u32) -> Option<TypeInfo> {
    let t = btf.resolve_type_by_id(id).ok()?;
    let named = |b: &dyn BtfType| btf.resolve_name(b).unwrap_or_default();
    Some(match &t {
        Type::Struct(s) | Type::Union(s) => TypeInfo::Struct {
            union: matches!(t, Type::Union(_)),
            name: named(s),
            size: s.size() as u64,
            members: s
                .members
                .iter()
                .map(|m| Member {
                    name: named(m),
                    ty: m.get_type_id().unwrap_or(0),
                    bit_offset: m.bit_offset(),
                    bits: m.bitfield_size().unwrap_or(0),
                })
                .collect(),
        },
        Type::Int(x) => TypeInfo::Scalar(x.size() as u64),
        Type::Enum(x) => TypeInfo::Scalar(x.size() as u64),
        Type::Enum64(x) => TypeInfo::Scalar(x.size() as u64),
        Type::Float(x) => TypeInfo::Scalar(x.size() as u64),
        Type::Ptr(p) => TypeInfo::Ptr(p.get_type_id().unwrap_or(0)),
        Type::Array(a) => TypeInfo::Array { elem: a.get_type_id().unwrap_or(0), len: a.len() as u64 },
        Type::Typedef(x) => TypeInfo::Alias(x.get_type_id().unwrap_or(0)),
        Type::Const(x) | Type::Volatile(x) | Type::Restrict(x) => {
            TypeInfo::Alias(x.get_type_id().unwrap_or(0))
        }
        Type::TypeTag(x) => TypeInfo::Alias(x.get_type_id().unwrap_or(0)),
        _ => TypeInfo::Other,
    })
}

/// `id` with aliases skipped, and what it is.
pub fn skip(types: &dyn Fn(u32) -> Option<TypeInfo>, mut id: u32) -> Option<(u32, TypeInfo)> {
    for _ in 0..32 {
        match types(id)? {
            TypeInfo::Alias(to) => id = to,
            t => return Some((id, t)),
        }
    }
    None
}

/// The ids of the types a bundled table carries for `roots` (struct ids): each root with
/// every type it contains, and, one pointer hop away, the structs its members point to with
/// theirs; structs further away are opaque (the second set).
pub fn closure(btf: &Btf, roots: &[u32]) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut full = BTreeSet::new();
    let mut opaque = BTreeSet::new();
    let mut todo: Vec<(u32, u32)> = roots.iter().map(|r| (*r, 0)).collect();
    while let Some((id, hop)) = todo.pop() {
        if id == 0 || full.contains(&id) {
            continue;
        }
        let Some(t) = from_btf(btf, id) else { continue };
        full.insert(id);
        match t {
            TypeInfo::Struct { members, .. } => todo.extend(members.iter().map(|m| (m.ty, hop))),
            TypeInfo::Array { elem, .. } => todo.push((elem, hop)),
            TypeInfo::Alias(to) => todo.push((to, hop)),
            TypeInfo::Ptr(to) => {
                // The pointee, modifiers and typedefs kept, as the walk resolves them.
                let mut chain = Vec::new();
                let mut at = to;
                while let Some(TypeInfo::Alias(next)) = from_btf(btf, at) {
                    chain.push(at);
                    at = next;
                }
                if matches!(from_btf(btf, at), Some(TypeInfo::Struct { union: false, .. })) {
                    full.extend(chain);
                    if hop == 0 {
                        todo.push((at, 1));
                    } else if !full.contains(&at) {
                        opaque.insert(at);
                    }
                }
            }
            _ => {}
        }
    }
    opaque.retain(|id| !full.contains(id));
    (full, opaque)
}

fn word(name: &str) -> String {
    if name.is_empty() {
        "-".into()
    } else {
        name.replace(' ', "+")
    }
}

fn unword(w: &str) -> String {
    if w == "-" {
        String::new()
    } else {
        w.replace('+', " ")
    }
}

/// The `type` line of type `id` (opaque: only its name and size).
pub fn line(btf: &Btf, id: u32, opaque: bool) -> String {
    let t = from_btf(btf, id).unwrap_or(TypeInfo::Other);
    match t {
        TypeInfo::Struct { name, size, .. } if opaque => format!("type {id} opaque {} {size}", word(&name)),
        TypeInfo::Struct { union, name, size, members } => {
            let mut out =
                format!("type {id} {} {} {size}", if union { "union" } else { "struct" }, word(&name));
            for m in members {
                let _ = write!(out, " {}:{}:{}", word(&m.name), m.ty, m.bit_offset);
                if m.bits > 0 {
                    let _ = write!(out, ":{}", m.bits);
                }
            }
            out
        }
        TypeInfo::Scalar(size) => format!("type {id} int {size}"),
        TypeInfo::Ptr(to) => format!("type {id} ptr {to}"),
        TypeInfo::Array { elem, len } => format!("type {id} array {elem} {len}"),
        TypeInfo::Alias(to) => format!("type {id} alias {to}"),
        TypeInfo::Opaque { name, size } => format!("type {id} opaque {} {size}", word(&name)),
        TypeInfo::Other => format!("type {id} other"),
    }
}

/// Parses the words after `type` of a type line: the id and the type.
pub fn parse_line(words: &[&str]) -> Result<(u32, TypeInfo), String> {
    let num = |i: usize| -> Result<u64, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("type line: expected a number at word {}", i + 2))
    };
    let id = u32::try_from(num(0)?).map_err(|_| "type id too large".to_owned())?;
    let id32 =
        |i: usize| num(i).and_then(|n| u32::try_from(n).map_err(|_| format!("type {id}: id too large")));
    let kind = words.get(1).copied().unwrap_or_default();
    let t = match kind {
        "struct" | "union" => {
            let name = unword(words.get(2).ok_or_else(|| format!("type {id}: no name"))?);
            let size = num(3)?;
            let mut members = Vec::new();
            for w in &words[4..] {
                let parts: Vec<&str> = w.split(':').collect();
                let n = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
                let (Some(ty), Some(bit_offset)) = (n(1), n(2)) else {
                    return Err(format!("type {id}: bad member `{w}`"));
                };
                if parts.len() > 4 || (parts.len() == 4 && n(3).is_none()) {
                    return Err(format!("type {id}: bad member `{w}`"));
                }
                members.push(Member { name: unword(parts[0]), ty, bit_offset, bits: n(3).unwrap_or(0) });
            }
            TypeInfo::Struct { union: kind == "union", name, size, members }
        }
        "int" => TypeInfo::Scalar(num(2)?),
        "ptr" => TypeInfo::Ptr(id32(2)?),
        "array" => TypeInfo::Array { elem: id32(2)?, len: num(3)? },
        "alias" => TypeInfo::Alias(id32(2)?),
        "opaque" => TypeInfo::Opaque {
            name: unword(words.get(2).ok_or_else(|| format!("type {id}: no name"))?),
            size: num(3)?,
        },
        "other" => TypeInfo::Other,
        _ => return Err(format!("type {id}: unknown kind `{kind}`")),
    };
    Ok((id, t))
}

/// Types by id, as a bundled table holds them.
pub type Types = BTreeMap<u32, TypeInfo>;
