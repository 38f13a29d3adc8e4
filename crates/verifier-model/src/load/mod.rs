//! Loading a BPF object into the interpreter the way libbpf loads it into the kernel: maps from
//! `.maps` / `maps` / global data sections ([`maps`]), each entry program linked with the
//! subprograms it reaches and its relocations resolved ([`link`]), then a [`Vm`] with those maps
//! created and initialised, program arrays filled, and every other entry program registered as
//! a tail call target.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bpf_verifier_model::load::ObjectImage;
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/obj/xdp_parse.v3.o");
//! let obj = bpf_patch::elf::BpfObject::parse(&std::fs::read(path)?)?;
//! let image = ObjectImage::new(&obj, &Default::default())?;
//! let program = image.program("xdp_pass").expect("the object defines it");
//! assert!(program.insns.len() > 10);
//! # Ok(())
//! # }
//! ```

pub mod host;
pub mod link;
pub mod maps;
pub mod prog_type;
pub mod run;

use std::collections::BTreeMap;

use bpf_patch::co_re::{relocate_object, Btf, Target};
use bpf_patch::elf::{BpfObject, ExtRecord};
use bpf_patch::op::LdImm64Src;
use bpf_patch::{DecodeError, Insn, Slot};
use thiserror::Error;

pub use link::{LinkedProgram, Origin};
pub use maps::{MapShape, MapSpec};
pub use prog_type::ProgType;
pub use run::{run_packet, PacketRun, RunError};

use crate::interp::{Helpers, MapDef, MapKind, Program, Vm};

/// Why an object cannot be loaded into the interpreter.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A section is not what its name says.
    #[error("section {section}: {message}")]
    Malformed {
        /// Section name.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// A map type the interpreter does not model.
    #[error("map {map}: map type {map_type} is not modelled by the interpreter")]
    UnsupportedMap {
        /// Map name.
        map: String,
        /// `enum bpf_map_type`.
        map_type: u32,
    },
    /// A map larger than the interpreter creates.
    #[error("map {map}: {def:?} is larger than the interpreter models")]
    MapTooLarge {
        /// Map name.
        map: String,
        /// Its definition.
        def: MapDef,
    },
    /// A relocation or call that cannot be linked.
    #[error("section {section}, slot {slot}: {message}")]
    Link {
        /// Section name.
        section: String,
        /// Slot in the section.
        slot: Slot,
        /// What is wrong.
        message: String,
    },
    /// CO-RE relocations that need a target BTF.
    #[error(
        "section {section}, slot {slot}: CO-RE relocation ({access}) needs the target kernel's BTF (--btf)"
    )]
    CoReNeedsBtf {
        /// Section name.
        section: String,
        /// Slot in the section.
        slot: Slot,
        /// Type and access string.
        access: String,
    },
    /// CO-RE resolution failed.
    #[error("CO-RE: {source}")]
    CoRe {
        /// The cause.
        #[source]
        source: bpf_patch::co_re::CoReError,
    },
    /// The target BTF could not be read.
    #[error("{path}: {message}")]
    Btf {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The linked program exceeds [`link::MAX_LINKED_SLOTS`].
    #[error("program {program}: {slots} slots after linking")]
    TooLarge {
        /// Program name.
        program: String,
        /// Slots.
        slots: usize,
    },
    /// The program exists but did not link (the reason names section and slot).
    #[error("program {program}: {reason}")]
    NotLinked {
        /// Program name.
        program: String,
        /// Why.
        reason: String,
    },
    /// No entry program of that name.
    #[error("no program {name} (programs: {available})")]
    NoProgram {
        /// Requested name.
        name: String,
        /// The object's entry programs.
        available: String,
    },
    /// The linked program does not decode (e.g. a call into the middle of `ld_imm64`).
    #[error("program {program}: {source}")]
    Decode {
        /// Program name.
        program: String,
        /// The cause.
        #[source]
        source: DecodeError,
    },
}

/// What [`ObjectImage::new`] needs besides the object.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The code sections after CO-RE resolution, in [`BpfObject::sections`] order (`None`: as
    /// in the object, which then must have no CO-RE relocation in a linked function).
    pub sections: Option<Vec<Vec<Insn>>>,
    /// Values of `__kconfig` externs (`LINUX_KERNEL_VERSION`, `CONFIG_*`); missing ones are 0,
    /// as libbpf leaves a `__weak` extern it cannot find.
    pub kconfig: BTreeMap<String, u64>,
    /// Treat every function as an entry program, `.text` ones included (as PREVAIL and the
    /// `elf_inventory.json` expectations do), instead of only those libbpf would load.
    pub all_functions: bool,
}

/// Where the running kernel's BTF is.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

impl LoadOptions {
    /// Code sections of `obj` with CO-RE relocations resolved against `target`.
    pub fn resolve_core(obj: &BpfObject, target: &Target<'_>) -> Result<Vec<Vec<Insn>>, LoadError> {
        let mut by_name = relocate_object(obj, target).map_err(|source| LoadError::CoRe { source })?;
        Ok(obj.sections.iter().map(|s| by_name.remove(&s.name).unwrap_or_else(|| s.insns.clone())).collect())
    }

    /// Whether `obj` has CO-RE relocations at all.
    pub fn has_core(obj: &BpfObject) -> Result<bool, LoadError> {
        let info = obj
            .ext_info()
            .map_err(|e| LoadError::Malformed { section: ".BTF.ext".into(), message: e.to_string() })?;
        Ok(info.values().flat_map(|m| m.values()).flatten().any(|r| matches!(r, ExtRecord::CoreRelo { .. })))
    }

    /// Options for loading `obj` against the kernel whose BTF is at `btf` (CO-RE resolved
    /// only when the object has relocations; the BTF file is read only then).
    pub fn for_btf(obj: &BpfObject, btf: &std::path::Path) -> Result<LoadOptions, LoadError> {
        let mut options = LoadOptions::default();
        if LoadOptions::has_core(obj)? {
            let parsed = Btf::from_file(btf)
                .map_err(|e| LoadError::Btf { path: btf.display().to_string(), message: e.to_string() })?;
            options.sections = Some(LoadOptions::resolve_core(obj, &Target::new(&parsed))?);
        }
        Ok(options)
    }

    /// Options for loading `obj` as libbpf would on this machine: CO-RE against
    /// [`VMLINUX_BTF`] and the `__kconfig` values of the running kernel
    /// ([`host::running_kconfig`]).
    pub fn for_running_kernel(obj: &BpfObject) -> Result<LoadOptions, LoadError> {
        let mut options = LoadOptions::for_btf(obj, std::path::Path::new(VMLINUX_BTF))?;
        options.kconfig = host::running_kconfig();
        Ok(options)
    }
}

/// An object ready to run: its maps, its linked entry programs and the kfunc table.
#[derive(Debug)]
pub struct ObjectImage {
    /// Maps, in the order their indices appear in `ld_imm64`.
    pub maps: Vec<MapSpec>,
    /// Entry programs that linked, by name.
    pub programs: BTreeMap<String, LinkedProgram>,
    /// Entry programs that did not link, with why.
    pub failed: BTreeMap<String, LoadError>,
    /// Kfunc names; `call` with `BPF_PSEUDO_KFUNC_CALL` and `imm = i + 1` calls `kfuncs[i]`.
    pub kfuncs: Vec<String>,
}

impl ObjectImage {
    /// Reads the maps and links every entry program.
    pub fn new(obj: &BpfObject, options: &LoadOptions) -> Result<ObjectImage, LoadError> {
        let btf =
            obj.btf().map_err(|e| LoadError::Malformed { section: ".BTF".into(), message: e.to_string() })?;
        let mut maps = maps::read_maps(obj, btf.as_ref())?;
        let kconfig = btf.as_ref().map(maps::kconfig_externs).unwrap_or_default();
        if !kconfig.is_empty() {
            maps.push(maps::kconfig_map(&kconfig, &options.kconfig));
        }
        let sections = options.sections.clone();
        if sections.as_ref().is_some_and(|s| s.len() != obj.sections.len()) {
            return Err(LoadError::Malformed {
                section: "-".into(),
                message: "resolved sections do not match the object's code sections".into(),
            });
        }
        let core_checked = sections.is_some();
        let sections = sections.unwrap_or_else(|| obj.sections.iter().map(|s| s.insns.clone()).collect());
        let info = if core_checked {
            Default::default()
        } else {
            obj.ext_info()
                .map_err(|e| LoadError::Malformed { section: ".BTF.ext".into(), message: e.to_string() })?
        };
        let mut linker =
            link::Linker { obj, sections: &sections, maps: &maps, kconfig: &kconfig, kfuncs: Vec::new() };
        let (mut programs, mut failed) = (BTreeMap::new(), BTreeMap::new());
        for (i, p) in obj.programs.iter().enumerate().filter(|(_, p)| p.entry || options.all_functions) {
            let linked = linker.link(i).and_then(|l| {
                check_core(obj, &info, &l)?;
                Program::new(&l.insns)
                    .map_err(|source| LoadError::Decode { program: l.name.clone(), source })?;
                Ok(l)
            });
            match linked {
                Ok(l) => {
                    programs.insert(p.name.clone(), l);
                }
                Err(e) => {
                    failed.insert(p.name.clone(), e);
                }
            }
        }
        let kfuncs = linker.kfuncs;
        Ok(ObjectImage { maps, programs, failed, kfuncs })
    }

    /// The maps as the verifier sees them: [`ObjectImage::maps`] in order (so `ld_imm64` map
    /// indices stay valid), then the inner map templates of maps of maps, each outer map's
    /// [`MapShape::inner`] naming its template's index.
    pub fn map_shapes(&self) -> Vec<MapShape> {
        let mut shapes: Vec<MapShape> = self.maps.iter().map(|m| m.shape).collect();
        for (i, m) in self.maps.iter().enumerate() {
            if let Some(inner) = m.inner {
                shapes[i].inner = u32::try_from(shapes.len()).ok();
                shapes.push(inner);
            }
        }
        shapes
    }

    /// The linked entry program `name`.
    pub fn program(&self, name: &str) -> Option<&LinkedProgram> {
        self.programs.get(name)
    }

    /// The programs of a VM built by [`ObjectImage::vm`] for `main`, by id: `main` first, then
    /// the other linked entry programs in name order.
    pub fn program_ids<'a>(&'a self, main: &'a str) -> Vec<&'a str> {
        let rest = self.programs.keys().map(String::as_str).filter(|n| *n != main);
        std::iter::once(main).chain(rest).collect()
    }

    /// The linked program `name`, or why there is none.
    pub fn require(&self, name: &str) -> Result<&LinkedProgram, LoadError> {
        if let Some(p) = self.programs.get(name) {
            return Ok(p);
        }
        if let Some(e) = self.failed.get(name) {
            return Err(LoadError::NotLinked { program: name.to_owned(), reason: e.to_string() });
        }
        let available =
            self.programs.keys().chain(self.failed.keys()).cloned().collect::<Vec<_>>().join(", ");
        Err(LoadError::NoProgram { name: name.to_owned(), available })
    }

    /// A VM that runs `name`: the image's maps created in order (map `i` has handle
    /// `maps::MAP_BASE | i`) and initialised, `ld_imm64` map references resolved, kfunc ids bound
    /// to their names in `helpers`, every other linked entry program added for tail calls and
    /// program arrays filled from their `.values`.
    pub fn vm(&self, name: &str, mut helpers: Helpers) -> Result<Vm, LoadError> {
        let main = self.require(name)?;
        let decode = |l: &LinkedProgram| {
            Program::new(&l.insns).map_err(|source| LoadError::Decode { program: l.name.clone(), source })
        };
        for (i, k) in self.kfuncs.iter().enumerate() {
            helpers.bind_kfunc_id(i32::try_from(i + 1).unwrap_or(i32::MAX), k);
        }
        let defs = self.maps.iter().map(MapSpec::def).collect::<Result<Vec<MapDef>, LoadError>>()?;
        let regions: u64 = defs
            .iter()
            .filter(|d| matches!(d.kind, MapKind::Array | MapKind::PercpuArray))
            .map(|d| u64::from(d.max_entries))
            .sum();
        if regions > maps::MAX_ARRAY_ENTRIES_TOTAL {
            return Err(LoadError::Malformed {
                section: ".maps".into(),
                message: format!(
                    "{regions} array entries in all (the interpreter models at most {})",
                    maps::MAX_ARRAY_ENTRIES_TOTAL
                ),
            });
        }
        let mut vm = Vm::new(decode(main)?);
        vm.helpers = helpers;
        let mut ids = BTreeMap::new();
        for (i, n) in self.program_ids(name).into_iter().enumerate() {
            if i > 0 {
                let l = &self.programs[n];
                ids.insert(n.to_owned(), vm.add_program(decode(l)?));
            } else {
                ids.insert(n.to_owned(), 0u32);
            }
        }
        for (i, (m, def)) in self.maps.iter().zip(defs).enumerate() {
            let handle = vm.maps.create(&mut vm.memory, def);
            let imm = i32::try_from(i).unwrap_or(i32::MAX);
            vm.ld_imm64_env.insert((LdImm64Src::MapFd, imm), handle);
            if let Some(init) = &m.init {
                let value =
                    vm.maps.lookup(handle, &0u32.to_le_bytes()).ok_or_else(|| LoadError::Malformed {
                        section: m.name.clone(),
                        message: "data map has no entry 0".into(),
                    })?;
                vm.memory
                    .write_bytes(value, init)
                    .map_err(|e| LoadError::Malformed { section: m.name.clone(), message: e.to_string() })?;
                if m.read_only {
                    if let Ok((region, _)) = vm.memory.resolve(value, 1) {
                        if let Some(r) = vm.memory.region_mut(region) {
                            r.writable = false;
                        }
                    }
                }
                vm.ld_imm64_env.insert((LdImm64Src::MapValue, imm), value);
            }
            for (slot, prog) in &m.prog_values {
                let id = ids.get(prog).copied().ok_or_else(|| LoadError::Malformed {
                    section: m.name.clone(),
                    message: format!("program array slot {slot} names {prog}, which did not link"),
                })?;
                vm.maps.set_prog(handle, *slot, Some(id));
            }
        }
        Ok(vm)
    }
}

/// Refuses a linked program whose functions carry CO-RE relocations when no resolution ran.
fn check_core(obj: &BpfObject, info: &bpf_patch::elf::ExtInfo, l: &LinkedProgram) -> Result<(), LoadError> {
    for o in &l.origin {
        let section = &obj.sections[o.section].name;
        let records = info.get(section).and_then(|m| m.get(&o.slot));
        for r in records.into_iter().flatten() {
            if let ExtRecord::CoreRelo { type_name, access, .. } = r {
                return Err(LoadError::CoReNeedsBtf {
                    section: section.clone(),
                    slot: o.slot,
                    access: format!("{type_name} {access}"),
                });
            }
        }
    }
    Ok(())
}
