//! Rewriting an object: edits to programs go through [`crate::edit::apply`], and the same
//! old → new maps update every side table that holds an instruction position. These fields are
//! enumerated here, in [`rewrite`] (the instruction-level ones in [`crate::edit::position_field`]):
//!
//! - symbol `st_value` (→ `Remap::target`, so code inserted before a function's first
//!   instruction belongs to it) and FUNC `st_size` (from the mapped ends);
//! - `.rel<sec>` `r_offset` (→ `Remap::position`; relocations of replaced or deleted
//!   instructions are dropped);
//! - the `imm` of relocated calls and callback addresses whose target is encoded relative to a
//!   section symbol (`callee = st_value / 8 + imm + 1`) when the callee's section was edited;
//! - `.BTF.ext` func_info / line_info `insn_off` (→ `Remap::target`: inserted code inherits the
//!   line of the instruction it precedes or replaces) and CO-RE relocation `insn_off`
//!   (→ `Remap::position`, dropped with their instruction).
//!
//! Everything else is copied. Written with `object::build::elf::Builder`: `.llvm_addrsig`
//! (which it cannot read) is dropped, and a `.shstrtab` is added when clang kept the section
//! names in `.strtab`.

use std::collections::{HashMap, HashSet};

use object::build::elf::{Builder, SectionData};
use object::build::Id;

use super::read::{BpfObject, RelocKind};
use super::{ObjectError, R_BPF_64_32, R_BPF_64_64};
use crate::edit::{apply, ApplyOptions, Edits, Remap};
use crate::insn::{slots_to_bytes, Insn, Slot};

/// Largest section alignment accepted when writing.
const MAX_ALIGN: u64 = 1 << 16;

/// `SHT_LLVM_ADDRSIG`, which `Builder::read` does not accept.
const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;

#[derive(Clone, Debug)]
enum Kind {
    Before(Vec<Insn>),
    After(Vec<Insn>),
    Replace(Vec<Insn>),
    Delete,
}

/// A relocation for inserted code: against an existing symbol of the object (a map, a kfunc or
/// function the object already declares), or, if none has that name, a new undefined global
/// symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReloc {
    /// Slot inside the inserted code.
    pub at: u32,
    /// `R_BPF_64_64` for `ld_imm64`, `R_BPF_64_32` for calls.
    pub r_type: u32,
    /// Target symbol.
    pub symbol: String,
}

/// Edits to an object's programs, addressed by program name and slot relative to the program's
/// first instruction.
#[derive(Clone, Debug, Default)]
pub struct ObjectEdits {
    entries: Vec<(String, Slot, Kind)>,
    /// Relocations of inserted code, by index into `entries`.
    relocs: Vec<(usize, NewReloc)>,
    /// See [`ObjectEdits::weaken_unused_externs`].
    weaken_unused_externs: bool,
}

impl ObjectEdits {
    /// No edits: [`rewrite`] then reproduces the object.
    pub fn new() -> Self {
        ObjectEdits::default()
    }

    /// Inserts `code` before instruction `at` of `program`.
    pub fn insert_before(&mut self, program: &str, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((program.to_owned(), at, Kind::Before(code)));
        self
    }

    /// Inserts `code` after instruction `at` of `program`.
    pub fn insert_after(&mut self, program: &str, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((program.to_owned(), at, Kind::After(code)));
        self
    }

    /// Replaces instruction `at` of `program`.
    pub fn replace(&mut self, program: &str, at: Slot, code: Vec<Insn>) -> &mut Self {
        self.entries.push((program.to_owned(), at, Kind::Replace(code)));
        self
    }

    /// Deletes instruction `at` of `program`.
    pub fn delete(&mut self, program: &str, at: Slot) -> &mut Self {
        self.entries.push((program.to_owned(), at, Kind::Delete));
        self
    }

    /// Attaches a relocation to the code of the edit added last (an insert or replace).
    pub fn with_reloc(&mut self, reloc: NewReloc) -> &mut Self {
        if let Some(last) = self.entries.len().checked_sub(1) {
            self.relocs.push((last, reloc));
        }
        self
    }

    /// After the edits, makes every undefined global symbol that no code relocation references
    /// any more weak (`STB_WEAK`): a kfunc whose calls were all replaced then no longer has to
    /// exist in the kernel the object is loaded on (libbpf resolves weak externs it cannot find,
    /// or finds with another prototype, to nothing). The symbol itself stays, because the
    /// object's BTF (`.ksyms`) still names it and libbpf wants a symbol for each such entry.
    pub fn weaken_unused_externs(&mut self) -> &mut Self {
        self.weaken_unused_externs = true;
        self
    }

    /// True if there are no edits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where the code of one edit entry ended up: (ELF section index, first new slot).
type Placed = HashMap<usize, (usize, u32)>;

/// One edited code section: its new instructions and where the old slots went.
struct Edited {
    insns: Vec<Insn>,
    remap: Remap,
}

/// Places each edit entry's code in the new stream, mirroring the engine's group layout
/// `[inserted before..., replacement | original | nothing, inserted after...]`, edits of one
/// kind at one slot in the order they were added.
fn place(obj: &BpfObject, edits: &ObjectEdits, edited: &HashMap<usize, Edited>) -> Placed {
    let mut by_slot: std::collections::BTreeMap<(usize, u32), Vec<usize>> = std::collections::BTreeMap::new();
    for (i, (name, at, _)) in edits.entries.iter().enumerate() {
        if let Some(p) = obj.program(name) {
            by_slot.entry((p.section, p.start.0 + at.0)).or_default().push(i);
        }
    }
    let mut placed = Placed::new();
    for ((si, slot), ids) in by_slot {
        let cs = &obj.sections[si];
        let Some(e) = edited.get(&cs.index) else { continue };
        let Some(start) = e.remap.target(Slot(slot)) else { continue };
        let width = if cs.insns.get(slot as usize).is_some_and(Insn::is_ld_imm64) { 2 } else { 1 };
        let mut at = start.0;
        let kinds = |want: fn(&Kind) -> bool| ids.iter().copied().filter(move |&i| want(&edits.entries[i].2));
        for i in kinds(|k| matches!(k, Kind::Before(_))) {
            placed.insert(i, (cs.index, at));
            at += code_len(&edits.entries[i].2);
        }
        let mut middle = width;
        for i in kinds(|k| matches!(k, Kind::Replace(_) | Kind::Delete)) {
            placed.insert(i, (cs.index, at));
            middle = code_len(&edits.entries[i].2);
        }
        at += middle;
        for i in kinds(|k| matches!(k, Kind::After(_))) {
            placed.insert(i, (cs.index, at));
            at += code_len(&edits.entries[i].2);
        }
    }
    placed
}

fn code_len(kind: &Kind) -> u32 {
    match kind {
        Kind::Before(c) | Kind::After(c) | Kind::Replace(c) => c.len() as u32,
        Kind::Delete => 0,
    }
}

/// Bytes in, bytes out: applies `edits` and writes the object. With no edits, every section's
/// contents are reproduced (sections, symbols and relocations equal in meaning).
pub fn rewrite(input: &[u8], edits: &ObjectEdits) -> Result<Vec<u8>, ObjectError> {
    let obj = BpfObject::parse(input)?;
    let edited = apply_edits(&obj, edits)?;

    let patched = retype_addrsig(input)?;
    let mut b = Builder::read(&*patched).map_err(|source| ObjectError::Write { source })?;
    check_layout(&mut b)?;
    for s in b.sections.iter_mut() {
        if s.sh_type.0 == object::elf::SHT_PROGBITS.0 && s.name.as_slice() == b".llvm_addrsig" {
            s.delete = true;
        }
    }
    if !b.sections.iter().any(|s| s.name.as_slice() == b".shstrtab") {
        let s = b.sections.add();
        s.name = b".shstrtab"[..].into();
        s.sh_type = object::elf::SHT_STRTAB;
        s.sh_addralign = 1;
        s.data = SectionData::SectionString;
    }
    if !edited.is_empty() {
        update(&mut b, &obj, &edited)?;
        add_relocs(&mut b, &obj, edits, &edited)?;
    }
    if edits.weaken_unused_externs {
        weaken_unused_externs(&mut b);
    }
    let mut out = Vec::with_capacity(input.len() + 1024);
    b.write(&mut out).map_err(|source| ObjectError::Write { source })?;
    Ok(out)
}

/// Applies the edits of each code section; keyed by ELF section index.
fn apply_edits(obj: &BpfObject, edits: &ObjectEdits) -> Result<HashMap<usize, Edited>, ObjectError> {
    let mut per_section: HashMap<usize, Edits> = HashMap::new();
    for (name, at, kind) in &edits.entries {
        let p = obj.program(name).ok_or_else(|| ObjectError::NoSuchProgram { name: name.clone() })?;
        let slot = Slot(p.start.0 + at.0);
        let e = per_section.entry(p.section).or_default();
        match kind {
            Kind::Before(c) => e.insert_before(slot, c.clone()),
            Kind::After(c) => e.insert_after(slot, c.clone()),
            Kind::Replace(c) => e.replace(slot, c.clone()),
            Kind::Delete => e.delete(slot),
        };
    }
    let mut out = HashMap::new();
    for (si, e) in per_section {
        let cs = &obj.sections[si];
        // Relocated calls and addresses: their imm is not relative to the next instruction.
        let fixed: Vec<Slot> = cs
            .relocs
            .iter()
            .filter(|r| matches!(r.kind, RelocKind::Call | RelocKind::Kfunc | RelocKind::FuncAddr))
            .map(|r| r.slot)
            .collect();
        let applied = apply(&cs.insns, &e, &ApplyOptions { fixed_imm: &fixed }).map_err(|source| {
            ObjectError::Edit {
                section: cs.name.clone(),
                program: obj
                    .programs
                    .iter()
                    .find(|p| p.section == si)
                    .map_or_else(|| "-".to_owned(), |p| p.name.clone()),
                source,
            }
        })?;
        out.insert(cs.index, Edited { insns: applied.insns, remap: applied.remap });
    }
    Ok(out)
}

/// A copy of the input whose `.llvm_addrsig` section header says `SHT_PROGBITS`, so that
/// `Builder::read` accepts it (the section is then dropped).
fn retype_addrsig(input: &[u8]) -> Result<Vec<u8>, ObjectError> {
    let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(input)
        .map_err(|source| ObjectError::Elf { source })?;
    let endian = elf.endian();
    let header = elf.elf_header();
    let shoff = header.e_shoff.get(endian) as usize;
    let entsize = usize::from(header.e_shentsize.get(endian));
    let mut out = input.to_vec();
    for (i, sh) in elf.elf_section_table().iter().enumerate() {
        if sh.sh_type.get(endian).0 == SHT_LLVM_ADDRSIG {
            let at = shoff + i * entsize + 4;
            let bytes = match endian {
                object::Endianness::Little => object::elf::SHT_PROGBITS.0.to_le_bytes(),
                object::Endianness::Big => object::elf::SHT_PROGBITS.0.to_be_bytes(),
            };
            out.get_mut(at..at + 4)
                .ok_or_else(|| ObjectError::Malformed {
                    section: ".llvm_addrsig".to_owned(),
                    message: "section header outside the file".to_owned(),
                })?
                .copy_from_slice(&bytes);
        }
    }
    Ok(out)
}

fn section_data_mut<'a, 'd>(s: &'a mut object::build::elf::Section<'d>) -> Option<&'a mut Vec<u8>> {
    match &mut s.data {
        SectionData::Data(d) => Some(d.to_mut()),
        _ => None,
    }
}

/// Adds the relocations of inserted code to the `.rel` sections (created if missing), against
/// existing symbols or new undefined global ones.
fn add_relocs(
    b: &mut Builder<'_>,
    obj: &BpfObject,
    edits: &ObjectEdits,
    edited: &HashMap<usize, Edited>,
) -> Result<(), ObjectError> {
    if edits.relocs.is_empty() {
        return Ok(());
    }
    let placed = place(obj, edits, edited);
    let symtab = b.sections.iter().find(|s| matches!(s.data, SectionData::Symbol)).map(|s| s.id());
    for (entry, r) in &edits.relocs {
        let &(elf_index, start) = placed.get(entry).ok_or_else(|| ObjectError::Malformed {
            section: "-".to_owned(),
            message: format!("relocation for `{}` on an edit that was not applied", r.symbol),
        })?;
        if r.at >= code_len(&edits.entries[*entry].2) {
            return Err(ObjectError::Malformed {
                section: "-".to_owned(),
                message: format!(
                    "relocation for `{}` at slot {} is outside its inserted code",
                    r.symbol, r.at
                ),
            });
        }
        let sym = match b.symbols.iter().find(|s| s.name.as_slice() == r.symbol.as_bytes()) {
            Some(s) => s.id(),
            None => {
                let s = b.symbols.add();
                s.name = r.symbol.as_bytes().to_vec().into();
                s.set_st_info(object::elf::STB_GLOBAL, object::elf::STT_NOTYPE);
                s.id()
            }
        };
        let code_id =
            b.sections.iter().find(|s| s.id().index() + 1 == elf_index).map(|s| s.id()).ok_or_else(|| {
                ObjectError::Malformed {
                    section: "-".to_owned(),
                    message: format!("no section with index {elf_index}"),
                }
            })?;
        let rel = b
            .sections
            .iter()
            .find(|s| s.sh_info_section == Some(code_id) && matches!(s.data, SectionData::Relocation(_)))
            .map(|s| s.id());
        let rel = match rel {
            Some(id) => id,
            None => {
                let name =
                    format!(".rel{}", String::from_utf8_lossy(b.sections.get(code_id).name.as_slice()));
                let s = b.sections.add();
                s.name = name.into_bytes().into();
                s.sh_type = object::elf::SHT_REL;
                s.sh_flags = object::elf::SHF_INFO_LINK;
                s.sh_addralign = 8;
                s.sh_entsize = 16;
                s.sh_link_section = symtab;
                s.sh_info_section = Some(code_id);
                s.data = SectionData::Relocation(Vec::new());
                s.id()
            }
        };
        if let SectionData::Relocation(v) = &mut b.sections.get_mut(rel).data {
            v.push(object::build::elf::Relocation {
                r_offset: Slot(start + r.at).byte_offset(),
                symbol: Some(sym),
                r_type: object::elf::RelocationType(r.r_type),
                r_addend: 0,
            });
            v.sort_by_key(|r| r.r_offset);
        }
    }
    Ok(())
}

/// Marks undefined global symbols without a relocation from an executable section weak.
fn weaken_unused_externs(b: &mut Builder<'_>) {
    let code: HashSet<usize> = b
        .sections
        .iter()
        .filter(|s| s.sh_flags.contains(object::elf::SHF_EXECINSTR))
        .map(|s| s.id().index())
        .collect();
    let mut used: HashSet<usize> = HashSet::new();
    for s in b.sections.iter() {
        let (SectionData::Relocation(relocs), Some(target)) = (&s.data, s.sh_info_section) else { continue };
        if code.contains(&target.index()) {
            used.extend(relocs.iter().filter_map(|r| r.symbol).map(|sym| sym.index()));
        }
    }
    for sym in b.symbols.iter_mut() {
        let undefined_global = sym.section.is_none()
            && sym.st_shndx == object::elf::SHN_UNDEF
            && !sym.name.is_empty()
            && sym.st_bind() == object::elf::STB_GLOBAL;
        if undefined_global && !used.contains(&sym.id().index()) {
            sym.set_st_info(object::elf::STB_WEAK, sym.st_type());
        }
    }
}

/// Where a position that starts something (a function, a line) lands: [`Remap::target`], and the
/// end of the new code for the end of the old (or a deleted tail).
pub(super) fn landing(remap: &Remap, old: Slot) -> Slot {
    remap.target(old).unwrap_or(Slot(remap.new_len()))
}

/// Writes the edited code and every position-holding side field into the builder.
fn update(b: &mut Builder<'_>, obj: &BpfObject, edited: &HashMap<usize, Edited>) -> Result<(), ObjectError> {
    let endian = obj.endian;
    // The builder numbers the input's sections in order without the null section: ELF index
    // = id + 1.
    let index_of = |id: object::build::elf::SectionId| Some(id.index() + 1);

    // Old symbol values, needed to decode section-relative call targets.
    let old_sym: HashMap<usize, (Option<usize>, u64)> =
        b.symbols.iter().map(|s| (s.id().index(), (s.section.and_then(index_of), s.st_value))).collect();

    // Symbols in edited sections.
    for sym in b.symbols.iter_mut() {
        let Some(idx) = sym.section.and_then(index_of) else { continue };
        let Some(e) = edited.get(&idx) else { continue };
        let start = Slot::from_byte_offset(sym.st_value).unwrap_or(Slot(0));
        let new_start = landing(&e.remap, start);
        if sym.st_type() == object::elf::STT_FUNC && sym.st_size > 0 {
            let end = Slot(start.0.saturating_add((sym.st_size / 8) as u32));
            let new_end = landing(&e.remap, end);
            sym.st_size = u64::from(new_end.0.saturating_sub(new_start.0)) * 8;
        }
        sym.st_value = new_start.byte_offset();
    }
    let new_sym: HashMap<usize, u64> = b.symbols.iter().map(|s| (s.id().index(), s.st_value)).collect();

    // New instruction streams: edited sections, plus any section whose relocated calls point
    // into an edited section (their imm may change).
    let mut code: HashMap<usize, Vec<Insn>> = edited.iter().map(|(&i, e)| (i, e.insns.clone())).collect();
    for s in b.sections.iter_mut() {
        let Some(target_idx) = s.sh_info_section.and_then(index_of) else { continue };
        let SectionData::Relocation(relocs) = &mut s.data else { continue };
        let Some(cs) = obj.sections.iter().find(|c| c.index == target_idx) else { continue };
        let own = edited.get(&target_idx);
        let mut kept = Vec::with_capacity(relocs.len());
        for mut r in relocs.drain(..) {
            let old_slot = Slot::from_byte_offset(r.r_offset).unwrap_or(Slot(u32::MAX));
            let new_slot = match own {
                Some(e) => match e.remap.position(old_slot) {
                    Some(n) => n,
                    None => continue,
                },
                None => old_slot,
            };
            r.r_offset = new_slot.byte_offset();
            // A call or address whose target is encoded relative to a symbol in an edited
            // section: recompute the imm.
            if let Some(sym) = r.symbol {
                let (sym_sec, old_value) = old_sym.get(&sym.index()).copied().unwrap_or((None, 0));
                if let Some(e) = sym_sec.and_then(|i| edited.get(&i)) {
                    let new_value = new_sym.get(&sym.index()).copied().unwrap_or(old_value);
                    let insns = code.entry(target_idx).or_insert_with(|| cs.insns.clone());
                    if let Some(insn) = insns.get_mut(new_slot.index()) {
                        match r.r_type.0 {
                            R_BPF_64_32 => {
                                let callee = (old_value / 8) as i64 + i64::from(insn.imm) + 1;
                                if let Some(n) =
                                    u32::try_from(callee).ok().and_then(|c| e.remap.target(Slot(c)))
                                {
                                    insn.imm = (i64::from(n.0) - (new_value / 8) as i64 - 1) as i32;
                                }
                            }
                            R_BPF_64_64 => {
                                let callee = old_value as i64 + i64::from(insn.imm);
                                if let Some(n) =
                                    u32::try_from(callee / 8).ok().and_then(|c| e.remap.target(Slot(c)))
                                {
                                    insn.imm = (n.byte_offset() as i64 - new_value as i64) as i32;
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            kept.push(r);
        }
        *relocs = kept;
    }
    for s in b.sections.iter_mut() {
        let Some(idx) = index_of(s.id()) else { continue };
        if let Some(insns) = code.get(&idx) {
            if let Some(d) = section_data_mut(s) {
                *d = slots_to_bytes(insns, endian);
            }
        }
    }

    // .BTF.ext (and .rel.BTF.ext, which points at its record fields); builder ids are ELF
    // index - 1.
    let mut remaps = HashMap::new();
    let mut names = HashMap::new();
    for (i, e) in edited {
        let (Some(id), Some(c)) = (i.checked_sub(1), obj.sections.iter().find(|c| c.index == *i)) else {
            continue;
        };
        remaps.insert(id, e.remap.clone());
        names.insert(id, c.name.clone());
    }
    super::ext_fix::fix_btf_ext(b, obj.endian, &remaps, &names)?;
    Ok(())
}

/// Refuses layouts `Builder::write` cannot lay out (its alignment arithmetic would overflow and
/// panic): alignments that are not a power of two or absurdly large. 0 ("none") becomes the
/// equivalent 1.
fn check_layout(b: &mut Builder<'_>) -> Result<(), ObjectError> {
    for s in b.sections.iter_mut().filter(|s| !s.delete) {
        if s.sh_addralign == 0 {
            s.sh_addralign = 1;
        }
        let a = s.sh_addralign;
        // BPF objects align to at most 8 bytes; a huge alignment would make the writer pad
        // the output by gigabytes (found by fuzzing).
        if !(a.is_power_of_two() && a <= MAX_ALIGN) {
            return Err(ObjectError::Malformed {
                section: String::from_utf8_lossy(&s.name).into_owned(),
                message: format!("sh_addralign {a:#x} is not a power of two up to {MAX_ALIGN:#x}"),
            });
        }
    }
    Ok(())
}
