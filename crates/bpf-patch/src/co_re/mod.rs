//! CO-RE relocation resolution: what libbpf's `bpf_core_calc_relo_insn` and
//! `bpf_core_patch_insn` compute, without libbpf.
//!
//! Inputs are the object's own (local) BTF, the `.BTF.ext` CO-RE records of a code section
//! ([`CoReRelo`], from [`records`]) and a [`Target`] BTF, normally `/sys/kernel/btf/vmlinux`.
//! A [`Resolver`] (or [`resolve`] for one section) turns every record into a [`Resolution`]
//! (the local value the instruction must hold, the target value, or "poison"); [`apply`]
//! patches the instructions (ALU imm, LDX/ST/STX `off` and access size, `ld_imm64` imm) after
//! checking each holds the expected local value; [`relocate_object`] / [`relocate_section`] do
//! both for a [`crate::elf::BpfObject`].
//!
//! As in libbpf: target candidates are the target types of the root type's kind whose
//! essential names (without `___flavor`) are equal; every matching candidate must agree (field
//! offset and value), else [`CoReError::Ambiguous`]. Without a matching candidate, type and
//! `*_EXISTS` kinds yield 0, while field offsets, sizes, shifts, signedness and enum values
//! poison the instruction (`call 0xbad2310`, both slots of an `ld_imm64`); so does a load or
//! store whose field changed size in a way the access cannot follow. Only one target BTF is
//! searched (libbpf also searches kernel module BTFs when vmlinux has no candidate, unless it
//! is given a custom target path).
//!
//! ```no_run
//! use bpf_patch::co_re::{relocate_object, Btf, Target};
//! use bpf_patch::elf::BpfObject;
//!
//! let obj = BpfObject::parse(&std::fs::read("core.o")?)?;
//! let vmlinux = Btf::from_file("/sys/kernel/btf/vmlinux")?;
//! let target = Target::new(&vmlinux); // index once, reuse for every object
//! for (section, insns) in relocate_object(&obj, &target)? {
//!     println!("{section}: {} slots", insns.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! BTF queries live in `types`, access specs in `spec`, instruction patching in `patch`, the
//! object-level entry points in `object`.

mod object;
mod patch;
mod spec;
#[cfg(test)]
mod tests;
mod types;

use std::collections::HashMap;
use std::fmt;

/// The BTF type the API takes (btf-rs), re-exported so that callers need no direct dependency.
pub use btf_rs::Btf;
pub use object::{records, relocate_object, relocate_section};
pub use patch::{apply, POISON_IMM};

use crate::elf::ObjectError;
use crate::insn::Slot;

/// `enum bpf_core_relo_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CoReKind {
    /// `BPF_CORE_FIELD_BYTE_OFFSET`: field offset in bytes.
    FieldByteOffset = 0,
    /// `BPF_CORE_FIELD_BYTE_SIZE`: field size in bytes.
    FieldByteSize = 1,
    /// `BPF_CORE_FIELD_EXISTS`: 1 if the field exists in the target.
    FieldExists = 2,
    /// `BPF_CORE_FIELD_SIGNED`: 1 if the field is signed.
    FieldSigned = 3,
    /// `BPF_CORE_FIELD_LSHIFT_U64`: left shift to extract a bitfield from a u64.
    FieldLshiftU64 = 4,
    /// `BPF_CORE_FIELD_RSHIFT_U64`: right shift to extract a bitfield from a u64.
    FieldRshiftU64 = 5,
    /// `BPF_CORE_TYPE_ID_LOCAL`: the type's id in the local BTF.
    TypeIdLocal = 6,
    /// `BPF_CORE_TYPE_ID_TARGET`: the type's id in the target BTF.
    TypeIdTarget = 7,
    /// `BPF_CORE_TYPE_EXISTS`: 1 if a compatible type exists in the target.
    TypeExists = 8,
    /// `BPF_CORE_TYPE_SIZE`: the target type's size.
    TypeSize = 9,
    /// `BPF_CORE_ENUMVAL_EXISTS`: 1 if the enum variant exists in the target.
    EnumvalExists = 10,
    /// `BPF_CORE_ENUMVAL_VALUE`: the enum variant's target value.
    EnumvalValue = 11,
    /// `BPF_CORE_TYPE_MATCHES`: 1 if the type matches a target type (stricter than exists).
    TypeMatches = 12,
}

impl CoReKind {
    /// Every kind, by wire value.
    pub const ALL: [CoReKind; 13] = [
        CoReKind::FieldByteOffset,
        CoReKind::FieldByteSize,
        CoReKind::FieldExists,
        CoReKind::FieldSigned,
        CoReKind::FieldLshiftU64,
        CoReKind::FieldRshiftU64,
        CoReKind::TypeIdLocal,
        CoReKind::TypeIdTarget,
        CoReKind::TypeExists,
        CoReKind::TypeSize,
        CoReKind::EnumvalExists,
        CoReKind::EnumvalValue,
        CoReKind::TypeMatches,
    ];

    /// The kind with this wire value.
    pub fn from_raw(raw: u32) -> Option<CoReKind> {
        CoReKind::ALL.get(raw as usize).copied()
    }

    /// A field relocation (access string walks members and indices).
    pub fn is_field_based(self) -> bool {
        (self as u32) <= CoReKind::FieldRshiftU64 as u32
    }

    /// A type relocation (access string `0`).
    pub fn is_type_based(self) -> bool {
        matches!(
            self,
            CoReKind::TypeIdLocal
                | CoReKind::TypeIdTarget
                | CoReKind::TypeExists
                | CoReKind::TypeSize
                | CoReKind::TypeMatches
        )
    }

    /// An enum variant relocation.
    pub fn is_enumval_based(self) -> bool {
        matches!(self, CoReKind::EnumvalExists | CoReKind::EnumvalValue)
    }
}

impl fmt::Display for CoReKind {
    /// libbpf's spelling (`byte_off`, `field_exists`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CoReKind::FieldByteOffset => "byte_off",
            CoReKind::FieldByteSize => "byte_sz",
            CoReKind::FieldExists => "field_exists",
            CoReKind::FieldSigned => "signed",
            CoReKind::FieldLshiftU64 => "lshift_u64",
            CoReKind::FieldRshiftU64 => "rshift_u64",
            CoReKind::TypeIdLocal => "local_type_id",
            CoReKind::TypeIdTarget => "target_type_id",
            CoReKind::TypeExists => "type_exists",
            CoReKind::TypeSize => "type_size",
            CoReKind::EnumvalExists => "enumval_exists",
            CoReKind::EnumvalValue => "enumval_value",
            CoReKind::TypeMatches => "type_matches",
        })
    }
}

/// One `struct bpf_core_relo` of a code section, with its access string resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoReRelo {
    /// The instruction (`insn_off / 8`, relative to the section).
    pub slot: Slot,
    /// Root type id in the local BTF.
    pub type_id: u32,
    /// Access string, such as `0:1:2`.
    pub access: String,
    /// `enum bpf_core_relo_kind`, raw (unknown kinds are reported by [`resolve`]).
    pub kind: u32,
}

/// What one relocation does to its instruction (libbpf's `struct bpf_core_relo_res`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The instruction (relative to the section).
    pub slot: Slot,
    /// The relocation kind.
    pub kind: CoReKind,
    /// The access string (for messages).
    pub access: String,
    /// The value computed against the local BTF: what the instruction must hold.
    pub orig_val: u64,
    /// The value computed against the target BTF.
    pub new_val: u64,
    /// No target: the instruction becomes `call 0xbad2310` (both slots of an `ld_imm64`).
    pub poison: bool,
    /// Whether `orig_val` is checked against the instruction (false for bitfields and ids).
    pub validate: bool,
    /// Local field size in bytes, for the memory-size adjustment of loads and stores (0: none).
    pub orig_sz: u32,
    /// Target field size in bytes.
    pub new_sz: u32,
    /// The sizes differ in a way a load or store cannot follow: such an access is poisoned.
    pub fail_memsz_adjust: bool,
}

/// Why CO-RE relocations cannot be resolved or applied. Every variant names the code section,
/// the instruction slot and, where there is one, the access string.
#[derive(Debug, thiserror::Error)]
pub enum CoReError {
    /// A record carries a kind outside `enum bpf_core_relo_kind`.
    #[error("section {section}, insn {slot}: unknown CO-RE relocation kind {kind}")]
    UnknownKind {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// The raw kind.
        kind: u32,
    },
    /// The record does not make sense against the local BTF (libbpf: "parsing ... failed").
    #[error("section {section}, insn {slot}: {kind} [{type_id}] + `{access}`: {reason}")]
    BadSpec {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// Relocation kind.
        kind: CoReKind,
        /// Local root type id.
        type_id: u32,
        /// Access string.
        access: String,
        /// What is wrong.
        reason: String,
    },
    /// Only `TYPE_ID_LOCAL` may be rooted at an anonymous type.
    #[error("section {section}, insn {slot}: {kind} relocation of anonymous type [{type_id}]")]
    Anonymous {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// Relocation kind.
        kind: CoReKind,
        /// Local root type id.
        type_id: u32,
    },
    /// Matching a target candidate failed (malformed target BTF, too deep nesting, ...).
    #[error("section {section}, insn {slot}: {kind} `{access}` against target [{target_id}]: {reason}")]
    Target {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// Relocation kind.
        kind: CoReKind,
        /// Access string.
        access: String,
        /// The target candidate.
        target_id: u32,
        /// What went wrong.
        reason: String,
    },
    /// Two matching target candidates disagree.
    #[error("section {section}, insn {slot}: {kind} `{access}`: ambiguous targets: {detail}")]
    Ambiguous {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// Relocation kind.
        kind: CoReKind,
        /// Access string.
        access: String,
        /// The disagreement (offsets or values of two candidates).
        detail: String,
    },
    /// The instruction does not hold the expected local value or has an unexpected form.
    #[error("section {section}, insn {slot}: {kind} `{access}`: unexpected insn: {detail}")]
    UnexpectedInsn {
        /// Code section.
        section: String,
        /// Instruction slot.
        slot: Slot,
        /// Relocation kind.
        kind: CoReKind,
        /// Access string.
        access: String,
        /// What was found versus expected.
        detail: String,
    },
    /// The object has CO-RE records but no readable `.BTF`, or unreadable `.BTF.ext`.
    #[error("{source}")]
    Object {
        /// The reader's error.
        #[source]
        source: ObjectError,
    },
    /// The object has no code section of this name.
    #[error("no code section named `{section}`")]
    NoSection {
        /// The name asked for.
        section: String,
    },
}

/// A target BTF indexed by essential name, built once and reused for every relocation.
pub struct Target<'a> {
    btf: &'a Btf,
    by_name: HashMap<String, Vec<u32>>,
}

impl<'a> Target<'a> {
    /// Indexes every named type of `btf` (base and split parts). Types btf-rs cannot read are
    /// left out.
    pub fn new(btf: &'a Btf) -> Target<'a> {
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        let ranges =
            std::iter::once(btf.base().type_id_range()).chain(btf.split().map(|s| s.type_id_range()));
        for (start, end) in ranges {
            for id in start.max(1)..=end {
                let Ok(t) = btf.resolve_type_by_id(id) else { continue };
                let name = types::type_name(btf, &t);
                if !name.is_empty() {
                    by_name.entry(types::essential(&name).to_owned()).or_default().push(id);
                }
            }
        }
        Target { btf, by_name }
    }

    /// The BTF.
    pub fn btf(&self) -> &'a Btf {
        self.btf
    }

    /// libbpf's `bpf_core_add_cands`: target types of a kind compatible with `local` whose
    /// essential name equals `local_name`'s, by increasing id.
    fn candidates(&self, local: &btf_rs::Type, local_name: &str) -> Vec<u32> {
        let Some(ids) = self.by_name.get(types::essential(local_name)) else { return Vec::new() };
        ids.iter()
            .copied()
            .filter(|&id| self.btf.resolve_type_by_id(id).is_ok_and(|t| types::kinds_compat(&t, local)))
            .collect()
    }
}

/// Resolves the CO-RE records of code section `section` against `target`, in record order,
/// with a fresh [`Resolver`].
pub fn resolve(
    local: &Btf,
    section: &str,
    records: &[CoReRelo],
    target: &Target<'_>,
) -> Result<Vec<Resolution>, CoReError> {
    let mut r = Resolver::new(local, target);
    records.iter().map(|rec| r.resolve_one(section, rec)).collect()
}

/// Resolves relocations one after the other, keeping libbpf's per-object candidate cache:
/// once a relocation of local type `T` has matched some target candidates, later relocations
/// of `T` consider only those. Feed it an object's records in `.BTF.ext` order (as
/// [`records`] returns them) to decide exactly as libbpf does when several candidates exist.
pub struct Resolver<'a> {
    local: &'a Btf,
    target: &'a Target<'a>,
    cands: HashMap<u32, Vec<u32>>,
}

impl<'a> Resolver<'a> {
    /// A resolver with an empty candidate cache.
    pub fn new(local: &'a Btf, target: &'a Target<'a>) -> Resolver<'a> {
        Resolver { local, target, cands: HashMap::new() }
    }

    /// Resolves one record of code section `section`.
    pub fn resolve_one(&mut self, section: &str, r: &CoReRelo) -> Result<Resolution, CoReError> {
        let local = self.local;
        let kind = CoReKind::from_raw(r.kind).ok_or_else(|| CoReError::UnknownKind {
            section: section.to_owned(),
            slot: r.slot,
            kind: r.kind,
        })?;
        let bad = |reason: String| CoReError::BadSpec {
            section: section.to_owned(),
            slot: r.slot,
            kind,
            type_id: r.type_id,
            access: r.access.clone(),
            reason,
        };
        let local_type = types::ty(local, r.type_id).map_err(bad)?;
        let local_name = types::type_name(local, &local_type);
        let local_spec = spec::parse(local, r.type_id, &r.access, kind).map_err(bad)?;
        let mut res = Resolution {
            slot: r.slot,
            kind,
            access: r.access.clone(),
            orig_val: 0,
            new_val: 0,
            poison: false,
            validate: true,
            orig_sz: 0,
            new_sz: 0,
            fail_memsz_adjust: false,
        };
        if kind == CoReKind::TypeIdLocal {
            res.orig_val = u64::from(r.type_id);
            res.new_val = u64::from(r.type_id);
            res.validate = false;
            return Ok(res);
        }
        if local_name.is_empty() {
            return Err(CoReError::Anonymous {
                section: section.to_owned(),
                slot: r.slot,
                kind,
                type_id: r.type_id,
            });
        }
        let tb = self.target.btf();
        let target = self.target;
        let cands = self
            .cands
            .entry(r.type_id)
            .or_insert_with(|| target.candidates(&local_type, &local_name))
            .clone();
        let mut chosen: Option<(spec::Spec, Resolution)> = None;
        let mut matched = Vec::new();
        for cand in cands {
            let targ_err = |reason: String| CoReError::Target {
                section: section.to_owned(),
                slot: r.slot,
                kind,
                access: r.access.clone(),
                target_id: cand,
                reason,
            };
            let Some(cand_spec) = spec::matches(&local_spec, local, kind, tb, cand).map_err(targ_err)? else {
                continue;
            };
            let cand_res = calc(kind, local, &local_spec, tb, Some(&cand_spec), res.clone()).map_err(bad)?;
            matched.push(cand);
            match &chosen {
                None => chosen = Some((cand_spec, cand_res)),
                Some((first, first_res)) => {
                    let ambiguous = |detail: String| CoReError::Ambiguous {
                        section: section.to_owned(),
                        slot: r.slot,
                        kind,
                        access: r.access.clone(),
                        detail,
                    };
                    if cand_spec.bit_offset != first.bit_offset {
                        return Err(ambiguous(format!(
                            "field bit offset {} in [{}] but {} in [{cand}]",
                            first.bit_offset, first.root_type_id, cand_spec.bit_offset
                        )));
                    }
                    if cand_res.poison != first_res.poison || cand_res.new_val != first_res.new_val {
                        return Err(ambiguous(format!(
                            "value {} from [{}] but {} from [{cand}]",
                            first_res.new_val, first.root_type_id, cand_res.new_val
                        )));
                    }
                }
            }
        }
        if !matched.is_empty() {
            // libbpf narrows its cached list to the matching candidates (when any matched).
            self.cands.insert(r.type_id, matched);
        }
        match chosen {
            Some((_, res)) => Ok(res),
            None => calc(kind, local, &local_spec, tb, None, res).map_err(bad),
        }
    }
}

/// libbpf's `bpf_core_calc_relo`: local and target values of one relocation.
fn calc(
    kind: CoReKind,
    lb: &Btf,
    local: &spec::Spec,
    tb: &Btf,
    targ: Option<&spec::Spec>,
    mut res: Resolution,
) -> types::Res<Resolution> {
    if kind.is_field_based() {
        let orig = spec::calc_field(kind, lb, Some(local))?.ok_or("local field missing")?;
        res.orig_val = orig.val;
        res.validate = orig.validate;
        res.orig_sz = orig.field_sz;
        match spec::calc_field(kind, tb, targ)? {
            None => res.poison = true,
            Some(new) => {
                res.new_val = new.val;
                res.new_sz = new.field_sz;
                if res.orig_sz != res.new_sz {
                    let orig_t = types::ty(lb, orig.type_id)?;
                    let new_t = types::ty(tb, new.type_id)?;
                    res.fail_memsz_adjust = !match (&orig_t, &new_t) {
                        (btf_rs::Type::Ptr(_), btf_rs::Type::Ptr(_)) => true,
                        (btf_rs::Type::Int(a), btf_rs::Type::Int(b)) => !a.is_signed() && !b.is_signed(),
                        _ => false,
                    };
                }
            }
        }
    } else if kind.is_type_based() {
        let orig = spec::calc_type(kind, lb, Some(local))?;
        res.orig_val = orig.val;
        res.validate = orig.validate;
        res.new_val = spec::calc_type(kind, tb, targ)?.val;
    } else {
        res.orig_val = spec::calc_enumval(kind, lb, Some(local))?.ok_or("local enum value missing")?.val;
        match spec::calc_enumval(kind, tb, targ)? {
            None => res.poison = true,
            Some(v) => res.new_val = v.val,
        }
    }
    Ok(res)
}
