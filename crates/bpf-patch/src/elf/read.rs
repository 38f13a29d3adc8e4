//! Reading a BPF ELF object: code sections as slots, programs and subprograms from FUNC symbols
//! (several may share a section), and each code section's relocations, classified.
//!
//! clang encodes a kfunc call like a bpf-to-bpf call (`src_reg = 1`, `imm = -1`); only the
//! relocation's target tells them apart: an undefined symbol is an extern (kfunc), a section or
//! defined FUNC symbol a bpf-to-bpf call.

use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, SectionKind,
    SymbolKind,
};

use super::{ObjectError, R_BPF_64_32, R_BPF_64_64};
use crate::insn::{slots_from_bytes, Endian, Insn, Slot};
use crate::op::decode_all;

/// What a relocation of a code section does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RelocKind {
    /// `R_BPF_64_64` on `ld_imm64` against a map (a symbol in `.maps` or a legacy `maps` section).
    Map,
    /// `R_BPF_64_64` on `ld_imm64` against global data (`.data`, `.rodata`, `.bss`, ...).
    Data,
    /// `R_BPF_64_64` on `ld_imm64` against code: a callback address (`BPF_PSEUDO_FUNC`).
    FuncAddr,
    /// `R_BPF_64_64` against an undefined symbol: a `__ksym` / kconfig extern variable.
    ExternVar,
    /// `R_BPF_64_32` on a call to a defined function (bpf-to-bpf).
    Call,
    /// `R_BPF_64_32` on a call to an undefined symbol: a kfunc.
    Kfunc,
    /// Any other relocation type.
    Other(u32),
}

/// One relocation of a code section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// The instruction it patches (`r_offset / 8`).
    pub slot: Slot,
    /// `r_type`.
    pub r_type: u32,
    /// The target symbol's name (empty for section symbols, whose section is `target_section`).
    pub symbol: String,
    /// Section the target symbol is defined in, if any.
    pub target_section: Option<String>,
    /// Classification.
    pub kind: RelocKind,
    /// The target symbol's value (its offset in its section; 0 for section symbols). With the
    /// instruction's `imm` it gives the byte or slot the relocation points at, as libbpf
    /// computes it.
    pub symbol_value: u64,
}

/// A data section: global variables (`.data`, `.rodata*`, `.bss`), map definitions (`.maps`,
/// legacy `maps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSection {
    /// ELF section index.
    pub index: usize,
    /// Section name.
    pub name: String,
    /// Size in bytes (for `.bss` too, whose `bytes` are empty).
    pub size: u64,
    /// Contents (empty for `SHT_NOBITS`).
    pub bytes: Vec<u8>,
    /// Relocations of the section (e.g. `.rel.maps` filling a program array's `values`).
    pub relocs: Vec<DataReloc>,
}

/// A relocation of a data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataReloc {
    /// Byte offset in the section.
    pub offset: u64,
    /// Target symbol name (empty for section symbols).
    pub symbol: String,
    /// Section the symbol is defined in.
    pub target_section: Option<String>,
    /// The symbol's value.
    pub symbol_value: u64,
}

/// A defined data symbol: a map or a global variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSymbol {
    /// Name.
    pub name: String,
    /// Index into [`BpfObject::data`].
    pub section: usize,
    /// Offset in the section.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A section holding BPF instructions.
#[derive(Clone, Debug)]
pub struct CodeSection {
    /// ELF section index.
    pub index: usize,
    /// Section name (`xdp`, `.text`, `tc/ingress`, ...).
    pub name: String,
    /// The instructions, as slots.
    pub insns: Vec<Insn>,
    /// Its relocations, sorted by slot.
    pub relocs: Vec<Reloc>,
}

/// A function: an entry program (in a section other than `.text`) or a subprogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Symbol name.
    pub name: String,
    /// Index into [`BpfObject::sections`].
    pub section: usize,
    /// First slot in its section.
    pub start: Slot,
    /// Length in slots.
    pub len: u32,
    /// `STB_GLOBAL` (a global function the kernel verifies on its own) rather than static.
    pub global: bool,
    /// An entry program rather than a subprogram (`.text`).
    pub entry: bool,
}

/// A parsed BPF object.
#[derive(Clone, Debug)]
pub struct BpfObject {
    /// Byte order.
    pub endian: Endian,
    /// Code sections.
    pub sections: Vec<CodeSection>,
    /// Functions, in section then address order.
    pub programs: Vec<Program>,
    /// The `license` section's string, if any.
    pub license: Option<String>,
    /// The `.BTF` section, if any (parse it with [`BpfObject::btf`]).
    pub btf: Option<Vec<u8>>,
    /// The `.BTF.ext` section, if any.
    pub btf_ext: Option<Vec<u8>>,
    /// Data sections, in ELF order.
    pub data: Vec<DataSection>,
    /// Named symbols defined in data sections, in symbol table order.
    pub data_symbols: Vec<DataSymbol>,
}

fn malformed(section: &str, message: impl Into<String>) -> ObjectError {
    ObjectError::Malformed { section: section.to_owned(), message: message.into() }
}

/// (name, defining section, defined, kind, value) of a relocation's target.
fn reloc_target(
    elf: &object::File<'_>,
    r: &object::Relocation,
    section: &str,
) -> Result<(String, Option<String>, bool, SymbolKind, u64), ObjectError> {
    let section_name =
        |idx: SectionIndex| elf.section_by_index(idx).ok().and_then(|s| s.name().ok().map(str::to_owned));
    Ok(match r.target() {
        RelocationTarget::Symbol(i) => {
            let sym = elf.symbol_by_index(i).map_err(|e| malformed(section, e.to_string()))?;
            let target = sym.section_index().and_then(section_name);
            let value = if sym.kind() == SymbolKind::Section { 0 } else { sym.address() };
            (sym.name().unwrap_or("").to_owned(), target, !sym.is_undefined(), sym.kind(), value)
        }
        RelocationTarget::Section(i) => (String::new(), section_name(i), true, SymbolKind::Section, 0),
        _ => (String::new(), None, false, SymbolKind::Unknown, 0),
    })
}

/// Whether a section holds data a program can reference (globals, maps).
fn is_data_section(kind: SectionKind, name: &str) -> bool {
    matches!(
        kind,
        SectionKind::Data
            | SectionKind::ReadOnlyData
            | SectionKind::ReadOnlyString
            | SectionKind::UninitializedData
    ) && !matches!(name, "license" | "version")
        && !name.starts_with(".BTF")
}

/// The data sections with their relocations, and the symbols defined in them.
fn read_data(elf: &object::File<'_>) -> Result<(Vec<DataSection>, Vec<DataSymbol>), ObjectError> {
    let mut data = Vec::new();
    for s in elf.sections() {
        let name = s.name().map_err(|e| malformed("?", e.to_string()))?.to_owned();
        if !is_data_section(s.kind(), &name) {
            continue;
        }
        let bytes = if s.kind() == SectionKind::UninitializedData {
            Vec::new()
        } else {
            s.data().map_err(|e| malformed(&name, e.to_string()))?.to_vec()
        };
        let mut relocs = Vec::new();
        for (offset, r) in s.relocations() {
            let (symbol, target_section, _, _, symbol_value) = reloc_target(elf, &r, &name)?;
            relocs.push(DataReloc { offset, symbol, target_section, symbol_value });
        }
        data.push(DataSection { index: s.index().0, name, size: s.size(), bytes, relocs });
    }
    let mut symbols = Vec::new();
    for sym in elf.symbols() {
        let Some(idx) = sym.section_index() else { continue };
        let Some(section) = data.iter().position(|d| d.index == idx.0) else { continue };
        let name = sym.name().unwrap_or("");
        if name.is_empty() || sym.kind() == SymbolKind::Section {
            continue;
        }
        symbols.push(DataSymbol { name: name.to_owned(), section, offset: sym.address(), size: sym.size() });
    }
    Ok((data, symbols))
}

impl BpfObject {
    /// Parses an object. Objects with `e_machine = 0` are accepted when they hold code.
    pub fn parse(data: &[u8]) -> Result<BpfObject, ObjectError> {
        let elf = object::File::parse(data).map_err(|source| ObjectError::Elf { source })?;
        if let object::File::Elf64(e) = &elf {
            let machine = e.elf_header().e_machine.get(e.endian()).0;
            if machine != object::elf::EM_BPF.0 && machine != 0 {
                return Err(ObjectError::NotBpf { machine });
            }
        }
        let endian = if elf.is_little_endian() { Endian::Little } else { Endian::Big };
        let mut sections = Vec::new();
        for s in elf.sections() {
            if s.kind() != SectionKind::Text {
                continue;
            }
            let name = s.name().map_err(|e| malformed("?", e.to_string()))?.to_owned();
            let bytes = s.data().map_err(|e| malformed(&name, e.to_string()))?;
            if bytes.is_empty() {
                continue;
            }
            let insns = slots_from_bytes(bytes, endian).map_err(|e| malformed(&name, e.to_string()))?;
            sections.push(CodeSection { index: s.index().0, name, insns, relocs: Vec::new() });
        }
        for cs in &mut sections {
            let sec = elf
                .section_by_index(SectionIndex(cs.index))
                .map_err(|e| malformed(&cs.name, e.to_string()))?;
            for (off, r) in sec.relocations() {
                let RelocationFlags::Elf { r_type } = r.flags() else { continue };
                let r_type = r_type.0;
                let slot =
                    Slot::from_byte_offset(off).filter(|s| s.index() < cs.insns.len()).ok_or_else(|| {
                        malformed(&cs.name, format!("relocation at byte {off} is not on an instruction"))
                    })?;
                let (symbol, target_section, defined, sym_kind, symbol_value) =
                    reloc_target(&elf, &r, &cs.name)?;
                let into_code = target_section
                    .as_deref()
                    .is_some_and(|t| elf.section_by_name(t).is_some_and(|s| s.kind() == SectionKind::Text));
                // libbpf classifies a code relocation by its instruction and symbol, not its
                // type: old toolchains (OVS's datapath.o) put type 0 (`R_BPF_NONE`) on map
                // references, which libbpf and `bpf_load.c` load as `R_BPF_64_64`.
                let on_ld_imm64 = cs.insns[slot.index()].code == crate::opcode::LD_IMM64;
                let class = if r_type == 0 && on_ld_imm64 { R_BPF_64_64 } else { r_type };
                let kind = match class {
                    R_BPF_64_32 if defined => RelocKind::Call,
                    R_BPF_64_32 => RelocKind::Kfunc,
                    R_BPF_64_64 if !defined => RelocKind::ExternVar,
                    R_BPF_64_64 if into_code || sym_kind == SymbolKind::Text => RelocKind::FuncAddr,
                    R_BPF_64_64
                        if target_section
                            .as_deref()
                            .is_some_and(|t| t == ".maps" || t.starts_with("maps")) =>
                    {
                        RelocKind::Map
                    }
                    R_BPF_64_64 => RelocKind::Data,
                    other => RelocKind::Other(other),
                };
                cs.relocs.push(Reloc { slot, r_type, symbol, target_section, kind, symbol_value });
            }
            cs.relocs.sort_by_key(|r| r.slot);
        }
        let mut programs = Vec::new();
        for sym in elf.symbols() {
            if sym.kind() != SymbolKind::Text || sym.is_undefined() {
                continue;
            }
            let Some(idx) = sym.section_index() else { continue };
            let Some(si) = sections.iter().position(|c| c.index == idx.0) else { continue };
            let cs = &sections[si];
            let name = sym.name().map_err(|e| malformed(&cs.name, e.to_string()))?.to_owned();
            let start = Slot::from_byte_offset(sym.address())
                .filter(|s| s.index() <= cs.insns.len())
                .ok_or_else(|| {
                    malformed(
                        &cs.name,
                        format!("function {name} starts at byte {} (not an instruction)", sym.address()),
                    )
                })?;
            let len = u32::try_from(sym.size() / 8).unwrap_or(u32::MAX);
            if sym.size() % 8 != 0 || start.index() + len as usize > cs.insns.len() {
                return Err(malformed(
                    &cs.name,
                    format!("function {name} has size {} past the section end", sym.size()),
                ));
            }
            programs.push(Program {
                name,
                section: si,
                start,
                len,
                global: sym.is_global(),
                entry: cs.name != ".text",
            });
        }
        // Old objects: code with no FUNC symbol is one program named after its section.
        for (si, cs) in sections.iter().enumerate() {
            if !programs.iter().any(|p| p.section == si) {
                let len = u32::try_from(cs.insns.len()).unwrap_or(u32::MAX);
                programs.push(Program {
                    name: cs.name.clone(),
                    section: si,
                    start: Slot(0),
                    len,
                    global: true,
                    entry: cs.name != ".text",
                });
            }
        }
        programs.sort_by_key(|p| (p.section, p.start));
        let license = elf
            .section_by_name("license")
            .and_then(|s| s.data().ok())
            .map(|d| String::from_utf8_lossy(d.split(|&b| b == 0).next().unwrap_or_default()).into_owned());
        let raw = |name: &str| elf.section_by_name(name).and_then(|s| s.data().ok()).map(<[u8]>::to_vec);
        let (data, data_symbols) = read_data(&elf)?;
        let obj = BpfObject {
            endian,
            sections,
            programs,
            license,
            btf: raw(".BTF"),
            btf_ext: raw(".BTF.ext"),
            data,
            data_symbols,
        };
        obj.check_decodes()?;
        Ok(obj)
    }

    /// Every code section must decode; the error names the program containing the bad slot.
    fn check_decodes(&self) -> Result<(), ObjectError> {
        for (si, cs) in self.sections.iter().enumerate() {
            if let Err(source) = decode_all(&cs.insns) {
                let slot = source.slot();
                let program = self
                    .programs
                    .iter()
                    .find(|p| p.section == si && p.start <= slot && slot.0 < p.start.0 + p.len)
                    .map_or_else(|| "-".to_owned(), |p| p.name.clone());
                return Err(ObjectError::Decode { section: cs.name.clone(), program, source });
            }
        }
        Ok(())
    }

    /// The object's `.BTF`, parsed by btf-rs.
    pub fn btf(&self) -> Result<Option<btf_rs::Btf>, ObjectError> {
        self.btf
            .as_deref()
            .map(|b| btf_rs::Btf::from_bytes(b).map_err(|e| malformed(".BTF", e.to_string())))
            .transpose()
    }

    /// What `.BTF.ext` says about each instruction (empty without `.BTF` / `.BTF.ext`).
    pub fn ext_info(&self) -> Result<super::ExtInfo, ObjectError> {
        match (&self.btf, &self.btf_ext) {
            (Some(btf), Some(ext)) => super::ext_info(btf, ext),
            _ => Ok(super::ExtInfo::new()),
        }
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The instructions of a program.
    pub fn insns_of(&self, p: &Program) -> &[Insn] {
        &self.sections[p.section].insns[p.start.index()..p.start.index() + p.len as usize]
    }
}
