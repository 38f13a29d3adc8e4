//! Bodies of the fuzz targets in `fuzz/`, as plain functions so that the normal test suite runs
//! them on the committed seeds too. Each must return normally on any input: an `Err` is fine, a
//! panic is the bug being looked for.

use crate::insn::{slots_from_bytes, Endian};
use crate::op::{decode_all, encode_all};

/// Decodes arbitrary bytes as an instruction stream in both byte orders; whatever decodes must
/// re-encode to the same slots.
pub fn decode(data: &[u8]) {
    for endian in [Endian::Little, Endian::Big] {
        let Ok(slots) = slots_from_bytes(data, endian) else { return };
        if let Ok(ops) = decode_all(&slots) {
            let again = encode_all(ops.iter().map(|(_, op)| op));
            assert_eq!(again, slots, "decode/encode is not the identity");
        }
    }
}

/// Assembles arbitrary text; whatever assembles must print (lossless syntax) and assemble back
/// to the same slots.
pub fn assemble(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(slots) = crate::text::assemble(text) else { return };
    let listing =
        crate::text::listing_with(&slots, crate::text::Syntax::Lossless).expect("assembled code decodes");
    let again = crate::text::assemble(&listing).expect("printed code assembles");
    assert_eq!(again, slots, "assemble/print/assemble is not the identity");
}

/// Applies an edit set derived from the input bytes to the instruction stream the bytes also
/// hold: never a panic, and on success every kept jump still reaches its target's image.
pub fn edit(data: &[u8]) {
    use crate::edit::{apply, position_field, ApplyOptions, Edits};
    use crate::insn::{Insn, Slot};
    let (head, code) = data.split_at(data.len().min(16));
    let Ok(insns) = slots_from_bytes(&code[..code.len() / 8 * 8], Endian::Little) else { return };
    if insns.is_empty() {
        return;
    }
    let mut edits = Edits::new();
    for pair in head.chunks(2) {
        let at = Slot(u32::from(pair[0]) % insns.len() as u32);
        let n = pair.get(1).copied().unwrap_or(0);
        let code = vec![Insn::new(0xb7, 0, 0, 0, i32::from(n)); usize::from(n % 4)];
        match n % 4 {
            0 => edits.delete(at),
            1 => edits.insert_before(at, code),
            2 => edits.insert_after(at, code),
            _ => edits.replace(at, code),
        };
    }
    let Ok(applied) = apply(&insns, &edits, &ApplyOptions::default()) else { return };
    let mut i = 0usize;
    while i < insns.len() {
        let old = Slot(i as u32);
        if let (Some(new), Some(field)) = (applied.remap.position(old), position_field(&insns[i])) {
            let target = i64::from(old.0) + field.get(&insns[i]) + 1;
            let landed = applied.remap.target(Slot(target as u32)).expect("apply checked the target");
            assert_eq!(i64::from(new.0) + field.get(&applied.insns[new.index()]) + 1, i64::from(landed.0));
        }
        i += if insns[i].is_ld_imm64() { 2 } else { 1 };
    }
}

/// Parses arbitrary bytes as a BPF object; whatever parses must rewrite unchanged and, with an
/// instruction inserted in the middle of its first program, still parse with the same programs.
pub fn object(data: &[u8]) {
    use crate::elf::{rewrite, BpfObject, ObjectEdits};
    let Ok(obj) = BpfObject::parse(data) else { return };
    let Ok(same) = rewrite(data, &ObjectEdits::new()) else { return };
    let again = BpfObject::parse(&same).expect("a rewritten object parses");
    assert_eq!(again.programs, obj.programs, "the round trip changed the programs");
    let Some(p) = obj.programs.iter().find(|p| p.len > 0) else { return };
    let mut edits = ObjectEdits::new();
    let nop = crate::insn::Insn::new(0x05, 0, 0, 0, 0);
    edits.insert_before(&p.name, crate::insn::Slot(p.len / 2), vec![nop]);
    if let Ok(out) = rewrite(data, &edits) {
        let edited = BpfObject::parse(&out).expect("an edited object parses");
        let q = edited.program(&p.name).expect("the program survives");
        assert_eq!(q.len, p.len + 1, "the insertion is in the program");
    }
}

/// Parses arbitrary bytes as a BPF object and resolves every code section's CO-RE relocations
/// against the object's own BTF as target: an `Err` is fine, a panic is not.
pub fn co_re(data: &[u8]) {
    use crate::co_re::{relocate_section, Target};
    use crate::elf::BpfObject;
    let Ok(obj) = BpfObject::parse(data) else { return };
    let Ok(Some(btf)) = obj.btf() else { return };
    let target = Target::new(&btf);
    for cs in &obj.sections {
        if let Ok(insns) = relocate_section(&obj, &cs.name, &target) {
            assert_eq!(insns.len(), cs.insns.len(), "relocation keeps the length");
        }
    }
}
