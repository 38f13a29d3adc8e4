//! The site finder: calls of the metadata kfuncs in a [`BpfObject`], found from the ELF
//! relocations against the kfuncs' symbols ([`RelocKind::Kfunc`]), per function.
//!
//! Calls already in resolved form (`src_reg = BPF_PSEUDO_KFUNC_CALL`, `off = 0`, `imm` = a
//! vmlinux BTF id, no relocation) are found too when the caller gives the ids of the kfuncs
//! ([`KfuncIds`], from the BTF the object was resolved against).

use std::collections::HashMap;

use bpf_patch::elf::{BpfObject, RelocKind};
use bpf_patch::op::{CallTarget, Op};
use bpf_patch::Slot;

use crate::error::UnrollError;
use crate::kfunc::{Abi, Kfunc};

/// One call of a metadata kfunc.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Site {
    /// The function (symbol) containing the call.
    pub program: String,
    /// Index into [`BpfObject::programs`].
    pub program_index: usize,
    /// The call's slot, counted from the function's first instruction.
    pub slot: Slot,
    /// The kfunc called.
    pub kfunc: Kfunc,
}

/// The BTF ids of the metadata kfunc names in one BTF (vmlinux), for calls already resolved.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct KfuncIds {
    names: HashMap<i32, &'static str>,
}

impl KfuncIds {
    /// The ids of every catalogue name that `btf` has as a FUNC.
    pub fn from_btf(btf: &btf_rs::Btf) -> KfuncIds {
        let mut names = HashMap::new();
        for abi in Abi::ALL {
            for k in abi.kfuncs() {
                for id in btf.resolve_ids_by_name(k.name()).unwrap_or_default() {
                    if let (Ok(btf_rs::Type::Func(_)), Ok(id)) =
                        (btf.resolve_type_by_id(id), i32::try_from(id))
                    {
                        names.insert(id, k.name());
                    }
                }
            }
        }
        KfuncIds { names }
    }

    /// The ids in the BTF file at `path` (e.g. `/sys/kernel/btf/vmlinux`).
    pub fn from_file(path: &std::path::Path) -> Result<KfuncIds, UnrollError> {
        let btf = btf_rs::Btf::from_file(path)
            .map_err(|e| UnrollError::BtfRead { path: path.display().to_string(), reason: e.to_string() })?;
        Ok(KfuncIds::from_btf(&btf))
    }

    /// How many ids are known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no id is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `(id, name)` pairs given by hand.
    pub fn from_pairs(pairs: &[(i32, &'static str)]) -> KfuncIds {
        KfuncIds { names: pairs.iter().copied().collect() }
    }

    /// The kfunc name of `id`, if it is one of the catalogue.
    pub fn name(&self, id: i32) -> Option<&'static str> {
        self.names.get(&id).copied()
    }
}

/// Every call of a metadata kfunc of `abi` in `obj`, in program then slot order: relocated calls,
/// and with `resolved` the calls already carrying a vmlinux BTF id. A relocation against a
/// metadata kfunc on anything but a call, or outside every function, is an error.
pub fn find_sites(obj: &BpfObject, abi: Abi, resolved: Option<&KfuncIds>) -> Result<Vec<Site>, UnrollError> {
    let mut sites = Vec::new();
    if let Some(ids) = resolved {
        for (program_index, p) in obj.programs.iter().enumerate() {
            let ops = bpf_patch::op::decode_all(obj.insns_of(p)).map_err(|source| {
                bpf_patch::elf::ObjectError::Decode {
                    section: obj.sections[p.section].name.clone(),
                    program: p.name.clone(),
                    source,
                }
            })?;
            for (slot, op) in ops {
                let Op::Call(CallTarget::Kfunc { btf_id, off: 0 }) = op else { continue };
                let Some(kfunc) = ids.name(btf_id).and_then(|n| Kfunc::resolve(n, abi)) else { continue };
                sites.push(Site { program: p.name.clone(), program_index, slot, kfunc });
            }
        }
    }
    for (si, cs) in obj.sections.iter().enumerate() {
        for r in cs.relocs.iter().filter(|r| r.kind == RelocKind::Kfunc) {
            let Some(kfunc) = Kfunc::resolve(&r.symbol, abi) else { continue };
            let (program_index, p) = obj
                .programs
                .iter()
                .enumerate()
                .find(|(_, p)| p.section == si && p.start <= r.slot && r.slot.0 < p.start.0 + p.len)
                .ok_or_else(|| UnrollError::SiteOutsideFunction {
                    section: cs.name.clone(),
                    slot: r.slot,
                    kfunc: kfunc.name(),
                })?;
            let slot = Slot(r.slot.0 - p.start.0);
            match Op::decode(&cs.insns[r.slot.index()..], r.slot) {
                Ok(Op::Call(CallTarget::Local(_) | CallTarget::Kfunc { .. })) => {}
                _ => {
                    return Err(UnrollError::NotACall { program: p.name.clone(), slot, kfunc: kfunc.name() });
                }
            }
            sites.push(Site { program: p.name.clone(), program_index, slot, kfunc });
        }
    }
    sites.sort_by_key(|s| (s.program_index, s.slot));
    sites.dedup_by_key(|s| (s.program_index, s.slot));
    Ok(sites)
}
