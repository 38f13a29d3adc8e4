//! What `.BTF.ext` says about each instruction, resolved to names: the function starting there
//! (func_info, name from `.BTF` via btf-rs), its source line (line_info) and its CO-RE
//! relocations, keyed by code section and slot.

use std::collections::BTreeMap;

use super::ObjectError;
use crate::btf_ext::{btf_strings, string_at, BtfExt, InfoKind};
use crate::insn::{Endian, Slot};

/// One `.BTF.ext` record, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtRecord {
    /// A function starts here.
    Func {
        /// BTF type id of the FUNC.
        type_id: u32,
        /// Its name.
        name: String,
    },
    /// Source position of this and the following instructions.
    Line {
        /// Source file.
        file: String,
        /// Line number.
        line: u32,
        /// Column.
        col: u32,
        /// The source line's text, as recorded in `.BTF`.
        text: String,
    },
    /// A CO-RE relocation of this instruction.
    CoreRelo {
        /// BTF type id of the root type.
        type_id: u32,
        /// Type name (empty for anonymous types).
        type_name: String,
        /// Access string such as `0:1`.
        access: String,
        /// `enum bpf_core_relo_kind`.
        kind: u32,
    },
}

/// Records per code section name and slot.
pub type ExtInfo = BTreeMap<String, BTreeMap<Slot, Vec<ExtRecord>>>;

fn u32_at(rec: &[u8], at: usize, endian: Endian) -> u32 {
    let a = [rec[at], rec[at + 1], rec[at + 2], rec[at + 3]];
    match endian {
        Endian::Little => u32::from_le_bytes(a),
        Endian::Big => u32::from_be_bytes(a),
    }
}

/// Resolves every `.BTF.ext` record of an object. Names that cannot be resolved are left empty
/// rather than failing the whole listing; a malformed section is an error.
pub fn ext_info(btf: &[u8], ext: &[u8]) -> Result<ExtInfo, ObjectError> {
    let parsed = BtfExt::parse(ext).map_err(|source| ObjectError::BtfExt { source })?;
    let strings = btf_strings(btf).map_err(|source| ObjectError::BtfExt { source })?;
    let types = btf_rs::Btf::from_bytes(btf).ok();
    let type_name = |id: u32| -> String {
        let Some(t) = types.as_ref() else { return String::new() };
        t.resolve_type_by_id(id)
            .ok()
            .and_then(|ty| ty.as_btf_type().and_then(|b| t.resolve_name(b).ok()))
            .unwrap_or_default()
    };
    let s = |off: u32| string_at(strings, off).unwrap_or_default().to_owned();
    let mut out = ExtInfo::new();
    for (kind, sub) in parsed.sections() {
        for sec in &sub.secs {
            let name = s(sec.sec_name_off);
            let per_slot = out.entry(name).or_default();
            for rec in &sec.records {
                let slot = Slot(parsed.insn_off(rec) / 8);
                let e = parsed.endian;
                let r = match kind {
                    InfoKind::Func => {
                        let type_id = u32_at(rec, 4, e);
                        ExtRecord::Func { type_id, name: type_name(type_id) }
                    }
                    InfoKind::Line => {
                        let line_col = u32_at(rec, 12, e);
                        ExtRecord::Line {
                            file: s(u32_at(rec, 4, e)),
                            line: line_col >> 10,
                            col: line_col & 0x3ff,
                            text: s(u32_at(rec, 8, e)),
                        }
                    }
                    InfoKind::CoreRelo => {
                        let type_id = u32_at(rec, 4, e);
                        ExtRecord::CoreRelo {
                            type_id,
                            type_name: type_name(type_id),
                            access: s(u32_at(rec, 8, e)),
                            kind: u32_at(rec, 12, e),
                        }
                    }
                };
                per_slot.entry(slot).or_default().push(r);
            }
        }
    }
    Ok(out)
}
