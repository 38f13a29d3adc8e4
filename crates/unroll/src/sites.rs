//! The site finder: calls of the metadata kfuncs in a [`BpfObject`], found from the ELF
//! relocations against the kfuncs' symbols ([`RelocKind::Kfunc`]), per function.
//!
//! Already-resolved calls (`src_reg = 2`, `imm` = a BTF id, with no relocation) are not found
//! here: that needs the target's BTF (issue 5 asks for it; not in this slice).

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

/// Every call of a metadata kfunc of `abi` in `obj`, in program then slot order. A relocation
/// against a metadata kfunc on anything but a call, or outside every function, is an error.
pub fn find_sites(obj: &BpfObject, abi: Abi) -> Result<Vec<Site>, UnrollError> {
    let mut sites = Vec::new();
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
    Ok(sites)
}
