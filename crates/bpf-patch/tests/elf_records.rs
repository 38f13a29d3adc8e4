//! Records an edit must keep valid: after deleting one plain instruction that carries line info,
//! `.rel.BTF.ext` still points at `insn_off` fields and line_info offsets stay strictly
//! increasing (the kernel rejects duplicates); mutated or truncated objects never panic (one used
//! to, inside `Builder::write`, on a non-power-of-two `sh_addralign`).
#![allow(clippy::print_stderr, clippy::unwrap_used)]
mod common;
use bpf_patch::elf::{rewrite, BpfObject, ObjectEdits};
use bpf_patch::filter::mov64_imm;
use bpf_patch::op::{encode_all, Reg};
use bpf_patch::Slot;

#[test]
fn mutated_and_truncated_objects_never_panic_the_rewrite() {
    let Some(files) = common::corpus_objects() else { return };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut panics = 0;
    let mut runs = 0;
    for file in files.iter().filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() < 20_000)) {
        let bytes = std::fs::read(file).unwrap();
        for _ in 0..16 {
            let mut m = bytes.clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            let cut = (next() as usize) % bytes.len();
            for input in [m.clone(), bytes[..cut].to_vec()] {
                runs += 1;
                let r = std::panic::catch_unwind(|| {
                    let _ = rewrite(&input, &ObjectEdits::new());
                    if let Ok(o) = BpfObject::parse(&input) {
                        let mut e = ObjectEdits::new();
                        for p in &o.programs {
                            if p.len > 0 {
                                e.insert_before(&p.name, Slot(0), encode_all(&[mov64_imm(Reg::R0, 0)]));
                            }
                        }
                        let _ = rewrite(&input, &e);
                    }
                });
                if r.is_err() {
                    panics += 1;
                    if panics < 4 {
                        std::fs::write(format!("/tmp/probe_panic_{panics}.o"), &input).unwrap();
                    }
                }
            }
        }
    }
    eprintln!("{runs} mutated or truncated objects rewritten, {panics} panics");
    assert_eq!(panics, 0, "inputs kept in /tmp/probe_panic_*.o");
}

fn rel_ext_ok(bytes: &[u8]) -> Result<usize, String> {
    use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
    let f = object::File::parse(bytes).map_err(|e| e.to_string())?;
    let Some(ext) = f.section_by_name(".BTF.ext") else { return Ok(0) };
    let data = ext.data().map_err(|e| e.to_string())?;
    let mut n = 0;
    for (off, r) in ext.relocations() {
        let RelocationTarget::Symbol(i) = r.target() else { continue };
        let sym = f.symbol_by_index(i).map_err(|e| e.to_string())?;
        let Some(sec) = sym.section_index().and_then(|i| f.section_by_index(i).ok()) else { continue };
        let w = data.get(off as usize..off as usize + 4).ok_or("past the end")?;
        let v = if f.is_little_endian() {
            u32::from_le_bytes(w.try_into().unwrap())
        } else {
            u32::from_be_bytes(w.try_into().unwrap())
        };
        if v % 8 != 0 || u64::from(v) >= sec.size().max(1) {
            return Err(format!("entry {off:#x} reads {v:#x}"));
        }
        n += 1;
    }
    Ok(n)
}

#[test]
fn deleting_a_line_info_instruction_keeps_rel_btf_ext_and_line_order_valid() {
    let Some(files) = common::corpus_objects() else { return };
    let (mut tried, mut stale, mut dup) = (0, 0, 0);
    for file in files.iter().filter(|f| !f.components().any(|c| c.as_os_str() == "invalid")) {
        let bytes = std::fs::read(file).unwrap();
        let Ok(o) = BpfObject::parse(&bytes) else { continue };
        if rel_ext_ok(&bytes).map_or(true, |n| n == 0) {
            continue;
        }
        // delete the 2nd instruction of the first program with >= 4 insns if plain
        let Some(p) = o.programs.iter().find(|p| p.len >= 4) else { continue };
        let insns = o.insns_of(p);
        let Some(k) = (1..insns.len() - 1).find(|&k| {
            let i = insns[k];
            !i.is_ld_imm64()
                && (i.code & 7) != 5
                && (i.code & 7) != 6
                && !o.sections[p.section].relocs.iter().any(|r| r.slot.0 == p.start.0 + k as u32)
        }) else {
            continue;
        };
        let mut e = ObjectEdits::new();
        e.delete(&p.name, Slot(k as u32));
        let Ok(out) = rewrite(&bytes, &e) else { continue };
        tried += 1;
        if let Err(msg) = rel_ext_ok(&out) {
            stale += 1;
            if stale < 4 {
                eprintln!("stale .rel.BTF.ext: {}: {msg}", file.display());
            }
        }
        // duplicate line_info offsets?
        let a = BpfObject::parse(&out).unwrap();
        if let (Some(btf), Some(ext)) = (&a.btf, &a.btf_ext) {
            let ext = bpf_patch::btf_ext::BtfExt::parse(ext).unwrap();
            let _ = btf;
            for s in &ext.line_info.secs {
                let offs: Vec<u32> = s.records.iter().map(|r| ext.insn_off(r)).collect();
                if offs.windows(2).any(|w| w[0] >= w[1]) {
                    dup += 1;
                    if dup < 4 {
                        eprintln!("non-increasing line_info: {}", file.display());
                    }
                    break;
                }
            }
        }
    }
    eprintln!(
        "PROBE delete: {tried} objects, {stale} with stale .rel.BTF.ext, {dup} with non-increasing line_info"
    );
}

/// Whether the undefined symbol `name` of `bytes` is weak, or `None` if there is none.
fn weak(bytes: &[u8], name: &str) -> Option<bool> {
    use object::{Object, ObjectSymbol};
    let file = object::File::parse(bytes).expect("rewritten objects parse");
    let sym = file.symbols().find(|s| s.name() == Ok(name) && s.is_undefined())?;
    Some(sym.is_weak())
}

#[test]
fn weakening_unused_externs_touches_only_symbols_no_call_references() {
    let bytes = std::fs::read(common::repo_root().join("testdata/obj/xdp_meta.v4.o")).expect("testdata");
    let obj = BpfObject::parse(&bytes).expect("parses");
    // Every kfunc call, by program and slot from the program's start.
    let calls: Vec<(String, Slot, String)> = obj
        .programs
        .iter()
        .flat_map(|p| {
            obj.sections[p.section]
                .relocs
                .iter()
                .filter(|r| r.kind == bpf_patch::elf::RelocKind::Kfunc)
                .filter(move |r| (p.start.0..p.start.0 + p.len).contains(&r.slot.0))
                .map(move |r| (p.name.clone(), Slot(r.slot.0 - p.start.0), r.symbol.clone()))
        })
        .collect();
    let ts = "bpf_xdp_metadata_rx_timestamp";
    assert!(calls.iter().filter(|c| c.2 == ts).count() >= 2, "{calls:?}");
    let zero = encode_all(&[mov64_imm(Reg::R0, 0)]);
    let edited = |which: &dyn Fn(&(String, Slot, String)) -> bool, weaken: bool| {
        let mut e = ObjectEdits::new();
        for c in calls.iter().filter(|c| which(c)) {
            e.replace(&c.0, c.1, zero.clone());
        }
        if weaken {
            e.weaken_unused_externs();
        }
        rewrite(&bytes, &e).expect("rewrites")
    };
    let names = ["bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_vlan_tag"];
    // All calls replaced: every kfunc symbol becomes weak, but only when asked.
    let all = edited(&|_| true, true);
    let kept = edited(&|_| true, false);
    for name in names {
        assert_eq!(weak(&all, name), Some(true), "{name}");
        assert_eq!(weak(&kept, name), Some(false), "{name}");
    }
    // One timestamp call left: that symbol stays global, the others go weak.
    let first_ts = calls.iter().position(|c| c.2 == ts).expect("a timestamp call");
    let partial = edited(&|c| !std::ptr::eq(c, &calls[first_ts]), true);
    assert_eq!(weak(&partial, ts), Some(false));
    assert_eq!(weak(&partial, "bpf_xdp_metadata_rx_hash"), Some(true));
}
