//! BPF ELF objects: reading programs, subprograms and relocations ([`read`]), and rewriting an
//! object with edits applied to its code while every position-holding field stays consistent
//! ([`mod@write`]).
//!
//! Reading is on the `object` crate's read API; writing on `object::build::elf::Builder` (with
//! the two workarounds clang objects need: `.llvm_addrsig`, and section names kept in
//! `.strtab`). `.BTF.ext` goes through our own codec in [`crate::btf_ext`].

mod ext_fix;
pub mod info;
pub mod read;
pub mod write;

pub use info::{ext_info, ExtInfo, ExtRecord};
pub use read::{BpfObject, CodeSection, DataReloc, DataSection, DataSymbol, Program, Reloc, RelocKind};
pub use write::{rewrite, NewReloc, ObjectEdits};

use crate::btf_ext::BtfExtError;
use crate::edit::EditError;
use crate::op::DecodeError;

/// `R_BPF_64_64`: a 64-bit immediate (`ld_imm64`) relocation.
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: absolute 64-bit data relocation (e.g. in `.maps` or DWARF).
pub const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_ABS32`: absolute 32-bit data relocation.
pub const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: 32-bit relocation not applied by dynamic loaders (`.BTF`, `.BTF.ext`).
pub const R_BPF_64_NODYLD32: u32 = 4;
/// `R_BPF_64_32`: a call's 32-bit immediate.
pub const R_BPF_64_32: u32 = 10;

/// Why an object cannot be read or rewritten. The file name is not known here; the caller adds
/// it.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not a parseable ELF file.
    #[error("not a readable ELF object: {source}")]
    Elf {
        /// The parser's complaint.
        #[source]
        source: object::Error,
    },
    /// An ELF file for another machine.
    #[error("not a BPF object (e_machine {machine})")]
    NotBpf {
        /// `e_machine`.
        machine: u16,
    },
    /// A malformed part of the ELF structure.
    #[error("section {section}: {message}")]
    Malformed {
        /// The section concerned.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// An instruction does not decode.
    #[error("section {section}, program {program}: {source}")]
    Decode {
        /// Code section.
        section: String,
        /// The function containing the slot (or `-`).
        program: String,
        /// The decoder's error (with the slot in the section).
        #[source]
        source: DecodeError,
    },
    /// `.BTF.ext` is malformed.
    #[error("{source}")]
    BtfExt {
        /// The codec's error.
        #[source]
        source: BtfExtError,
    },
    /// An edit names a program the object does not have.
    #[error("no program named `{name}`")]
    NoSuchProgram {
        /// The name.
        name: String,
    },
    /// An edit set does not apply.
    #[error("section {section}, program {program}: {source}")]
    Edit {
        /// Code section.
        section: String,
        /// Program.
        program: String,
        /// The engine's error (slots relative to the section).
        #[source]
        source: EditError,
    },
    /// Writing the ELF file failed.
    #[error("cannot write the object: {source}")]
    Write {
        /// The builder's error.
        #[source]
        source: object::build::Error,
    },
}
