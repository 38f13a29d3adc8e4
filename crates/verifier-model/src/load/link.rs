//! Linking one entry program the way libbpf does before `BPF_PROG_LOAD`: the program's own
//! instructions, then every subprogram it reaches (through calls or callback addresses), each
//! appended once; call and `ld_imm64` offsets rewritten to the new positions; map and global
//! data references turned into `BPF_PSEUDO_MAP_FD` / `BPF_PSEUDO_MAP_VALUE` with the map's index
//! as `imm`; kfunc calls into `BPF_PSEUDO_KFUNC_CALL` with an id from the image's kfunc table.
//!
//! Where a relocation points follows libbpf's `bpf_object__reloc_code`: a call reaches slot
//! `symbol_value / 8 + imm + 1` of the target section, a callback address byte
//! `symbol_value + imm`, and without a relocation both are relative to the instruction.

use std::collections::HashMap;

use bpf_patch::elf::{BpfObject, Program, RelocKind};
use bpf_patch::opcode::{
    BPF_CALL, BPF_JMP, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
};
use bpf_patch::{Insn, Slot};

use super::maps::MapSpec;
use super::LoadError;

const CALL: u8 = BPF_JMP | BPF_CALL;
const LD_IMM64: u8 = 0x18;

/// The most slots a linked program may have (the kernel's `BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_LINKED_SLOTS: usize = 1_000_000;

/// Where a slot of a linked program came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Index into [`BpfObject::sections`].
    pub section: usize,
    /// The slot in that section.
    pub slot: Slot,
    /// Index into [`BpfObject::programs`] of the function holding it.
    pub function: usize,
}

/// A linked entry program.
#[derive(Clone, Debug)]
pub struct LinkedProgram {
    /// The entry function's name.
    pub name: String,
    /// Its section name (`xdp`, `tc`, `socket`, ...).
    pub section: String,
    /// The linked instructions.
    pub insns: Vec<Insn>,
    /// Where each slot came from.
    pub origin: Vec<Origin>,
}

/// Shared state of linking all programs of one object: the kfunc table.
pub(super) struct Linker<'a> {
    pub obj: &'a BpfObject,
    /// Section instructions after CO-RE resolution.
    pub sections: &'a [Vec<Insn>],
    pub maps: &'a [MapSpec],
    /// `__kconfig` externs and their offsets in the `.kconfig` map.
    pub kconfig: &'a [super::maps::KconfigExtern],
    /// Kfunc names; a call's id is its index + 1.
    pub kfuncs: Vec<String>,
}

impl Linker<'_> {
    fn err(&self, section: usize, slot: Slot, message: String) -> LoadError {
        LoadError::Link { section: self.obj.sections[section].name.clone(), slot, message }
    }

    /// The function of `section` containing `slot`.
    fn function_at(&self, section: usize, slot: usize) -> Option<usize> {
        self.obj.programs.iter().position(|p| {
            p.section == section && p.start.index() <= slot && slot < p.start.index() + p.len as usize
        })
    }

    fn kfunc_id(&mut self, name: &str) -> i32 {
        let i = self.kfuncs.iter().position(|k| k == name).unwrap_or_else(|| {
            self.kfuncs.push(name.to_owned());
            self.kfuncs.len() - 1
        });
        i32::try_from(i + 1).unwrap_or(i32::MAX)
    }

    fn section_of<'s>(&'s self, m: &'s MapSpec) -> &'s str {
        m.section.map_or(m.name.as_str(), |s| self.obj.data[s].name.as_str())
    }

    fn map_index(&self, section: &str, offset: u64) -> Option<usize> {
        self.maps.iter().position(|m| self.section_of(m) == section && m.offset == offset)
    }

    fn data_map(&self, section: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.init.is_some() && self.section_of(m) == section)
    }

    /// Links entry program `entry` (an index into [`BpfObject::programs`]).
    pub fn link(&mut self, entry: usize) -> Result<LinkedProgram, LoadError> {
        let p: &Program = &self.obj.programs[entry];
        let mut out: Vec<Insn> = Vec::new();
        let mut origin: Vec<Origin> = Vec::new();
        let mut placed: HashMap<usize, usize> = HashMap::new();
        let mut queue = vec![entry];
        let (obj, sections) = (self.obj, self.sections);
        let append = |f: usize, out: &mut Vec<Insn>, origin: &mut Vec<Origin>| {
            let q = &obj.programs[f];
            let start = out.len();
            let range = q.start.index()..q.start.index() + q.len as usize;
            for s in range.clone() {
                origin.push(Origin { section: q.section, slot: Slot(s as u32), function: f });
            }
            out.extend_from_slice(&sections[q.section][range]);
            start
        };
        placed.insert(entry, append(entry, &mut out, &mut origin));
        while let Some(f) = queue.pop() {
            let q = self.obj.programs[f].clone();
            let base = placed[&f];
            let mut j = 0usize;
            while j < q.len as usize {
                let sec = q.section;
                let orig = q.start.index() + j;
                let pos = base + j;
                let insn = out[pos];
                let relocs = &self.obj.sections[sec].relocs;
                let reloc = relocs
                    .binary_search_by_key(&Slot(orig as u32), |r| r.slot)
                    .ok()
                    .map(|i| relocs[i].clone());
                let is_call = insn.code == CALL && insn.src_reg() == BPF_PSEUDO_CALL;
                let is_ld = insn.code == LD_IMM64;
                let kind = reloc.as_ref().map(|r| r.kind);
                // libbpf's RELO_EXTERN_CALL takes a call against an extern function whatever
                // its src_reg (`bpfpatch unroll` leaves its routine calls as `src_reg = 2`).
                if insn.code == CALL && kind == Some(RelocKind::Kfunc) {
                    let name = reloc.as_ref().map(|r| r.symbol.clone()).unwrap_or_default();
                    let id = self.kfunc_id(&name);
                    out[pos] = Insn::new(CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, id);
                } else if is_call
                    || (is_ld && insn.src_reg() == BPF_PSEUDO_FUNC)
                    || kind == Some(RelocKind::FuncAddr)
                {
                    // A bpf-to-bpf call or a callback address.
                    let (tsec, tslot) = match &reloc {
                        Some(r) if matches!(r.kind, RelocKind::Call | RelocKind::FuncAddr) => {
                            let tname = r.target_section.as_deref().unwrap_or("");
                            let tsec =
                                self.obj.sections.iter().position(|c| c.name == tname).ok_or_else(|| {
                                    self.err(
                                        sec,
                                        Slot(orig as u32),
                                        format!("call into unknown section {tname:?}"),
                                    )
                                })?;
                            let t = if is_call {
                                (r.symbol_value / 8) as i64 + i64::from(insn.imm) + 1
                            } else {
                                (r.symbol_value as i64 + i64::from(insn.imm)) / 8
                            };
                            (tsec, t)
                        }
                        Some(r) => {
                            return Err(self.err(
                                sec,
                                Slot(orig as u32),
                                format!("unexpected {:?} relocation on a call", r.kind),
                            ))
                        }
                        None => (sec, orig as i64 + i64::from(insn.imm) + 1),
                    };
                    let callee = usize::try_from(tslot)
                        .ok()
                        .and_then(|t| self.function_at(tsec, t).map(|f| (f, t)))
                        .ok_or_else(|| {
                            self.err(
                                sec,
                                Slot(orig as u32),
                                format!("call target slot {tslot} is not in a function"),
                            )
                        })?;
                    let (cf, t) = callee;
                    let cbase = match placed.get(&cf) {
                        Some(&b) => b,
                        None => {
                            let b = append(cf, &mut out, &mut origin);
                            if out.len() > MAX_LINKED_SLOTS {
                                return Err(LoadError::TooLarge {
                                    program: p.name.clone(),
                                    slots: out.len(),
                                });
                            }
                            placed.insert(cf, b);
                            queue.push(cf);
                            b
                        }
                    };
                    let new_target = cbase + (t - self.obj.programs[cf].start.index());
                    let rel = i32::try_from(new_target as i64 - pos as i64 - 1).map_err(|_| {
                        self.err(sec, Slot(orig as u32), "call offset does not fit in 32 bits".into())
                    })?;
                    out[pos].imm = rel;
                    if is_ld {
                        out[pos].set_src_reg(BPF_PSEUDO_FUNC);
                    }
                } else if is_ld {
                    self.ld_imm64(sec, orig, &reloc, &mut out, pos)?;
                }
                j += if is_ld { 2 } else { 1 };
            }
        }
        Ok(LinkedProgram {
            name: p.name.clone(),
            section: self.obj.sections[p.section].name.clone(),
            insns: out,
            origin,
        })
    }

    /// Map and global data references.
    fn ld_imm64(
        &self,
        sec: usize,
        orig: usize,
        reloc: &Option<bpf_patch::elf::Reloc>,
        out: &mut [Insn],
        pos: usize,
    ) -> Result<(), LoadError> {
        let Some(r) = reloc else { return Ok(()) };
        let slot = Slot(orig as u32);
        let tname = r.target_section.clone().unwrap_or_default();
        if pos + 1 >= out.len() {
            return Err(self.err(sec, slot, "ld_imm64 without its second slot".into()));
        }
        match r.kind {
            RelocKind::Map => {
                let off = r.symbol_value.wrapping_add(out[pos].imm as u32 as u64);
                let m = self
                    .map_index(&tname, off)
                    .ok_or_else(|| self.err(sec, slot, format!("no map at offset {off} of {tname}")))?;
                out[pos].set_src_reg(BPF_PSEUDO_MAP_FD);
                out[pos].imm = m as i32;
                out[pos + 1].imm = 0;
            }
            RelocKind::Data => {
                let m = self.data_map(&tname).ok_or_else(|| {
                    self.err(sec, slot, format!("reference to {tname:?}, which is not a global data section"))
                })?;
                let off = i64::from(out[pos].imm) + r.symbol_value as i64;
                out[pos].set_src_reg(BPF_PSEUDO_MAP_VALUE);
                out[pos].imm = m as i32;
                out[pos + 1].imm = i32::try_from(off)
                    .map_err(|_| self.err(sec, slot, format!("offset {off} into {tname} is out of range")))?;
            }
            RelocKind::ExternVar if self.kconfig.iter().any(|k| k.name == r.symbol) => {
                let at = self.kconfig.iter().find(|k| k.name == r.symbol).map_or(0, |k| k.offset);
                let m =
                    self.data_map(".kconfig").ok_or_else(|| self.err(sec, slot, "no .kconfig map".into()))?;
                out[pos].set_src_reg(BPF_PSEUDO_MAP_VALUE);
                out[pos].imm = m as i32;
                out[pos + 1].imm = at as i32;
            }
            RelocKind::ExternVar => {
                return Err(self.err(
                    sec,
                    slot,
                    format!("extern variable {} (__ksym) is not modelled by the interpreter", r.symbol),
                ))
            }
            RelocKind::Other(t) => {
                return Err(self.err(sec, slot, format!("relocation type {t} on ld_imm64")))
            }
            RelocKind::Call | RelocKind::Kfunc | RelocKind::FuncAddr => {
                return Err(self.err(sec, slot, format!("{:?} relocation on ld_imm64", r.kind)))
            }
        }
        Ok(())
    }
}
