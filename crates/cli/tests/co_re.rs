//! `bpf_patch::co_re` against libbpf, the oracle: for every object in `testdata/obj/` and in
//! the shared corpus that has CO-RE records, libbpf 1.7's `bpf_object__prepare` (all
//! relocations, no program load; target `/sys/kernel/btf/vmlinux` given as custom BTF so that
//! no module BTF is searched) produces each program's final instructions; at every slot of a
//! main program that carries a CO-RE record, ours must equal libbpf's. Objects libbpf cannot
//! prepare are skipped and counted, as are records in `.text` subprograms (libbpf appends
//! those to each caller; only main programs' own slots are compared by position) and in
//! programs libbpf does not load (autoload off: libbpf leaves them unrelocated).
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use bpf_patch::co_re::{apply, records, relocate_object, Btf, CoReRelo, Resolver, Target, POISON_IMM};
use bpf_patch::elf::BpfObject;
use bpf_patch::{Endian, Insn};
use common::{kernel, testdata_objects};
use libbpf_sys as sys;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// One program as libbpf prepared it.
struct Prepared {
    section: String,
    autoload: bool,
    insns: Vec<Insn>,
}

/// Opens and prepares `bytes` with libbpf: program name → prepared program, or libbpf's error.
fn libbpf_prepare(bytes: &[u8], name: &str) -> Result<BTreeMap<String, Prepared>, i32> {
    let name = CString::new(name).expect("no NUL in file names");
    let vmlinux = CString::new(VMLINUX).expect("no NUL");
    let opts = sys::bpf_object_open_opts {
        sz: std::mem::size_of::<sys::bpf_object_open_opts>() as _,
        object_name: name.as_ptr(),
        btf_custom_path: vmlinux.as_ptr(),
        ..Default::default()
    };
    // SAFETY: `bytes`, `opts` and the strings it points to outlive the call; libbpf copies
    // the object.
    let obj = unsafe { sys::bpf_object__open_mem(bytes.as_ptr().cast(), bytes.len() as _, &opts) };
    if obj.is_null() {
        return Err(-std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `obj` is a live object from open_mem; it is closed below on every path.
    let err = unsafe { sys::bpf_object__prepare(obj) };
    let mut out = BTreeMap::new();
    if err == 0 {
        let mut prog = std::ptr::null_mut();
        loop {
            // SAFETY: iterating the live object's programs; libbpf owns the returned pointers
            // and the strings and instruction arrays they hand out until close.
            unsafe {
                prog = sys::bpf_object__next_program(obj, prog);
                if prog.is_null() {
                    break;
                }
                let pname = CStr::from_ptr(sys::bpf_program__name(prog)).to_string_lossy().into_owned();
                let section =
                    CStr::from_ptr(sys::bpf_program__section_name(prog)).to_string_lossy().into_owned();
                let n = sys::bpf_program__insn_cnt(prog) as usize;
                let raw = sys::bpf_program__insns(prog).cast::<[u8; 8]>();
                let insns = (0..n).map(|i| Insn::from_bytes(*raw.add(i), Endian::Little)).collect();
                out.insert(pname, Prepared { section, autoload: sys::bpf_program__autoload(prog), insns });
            }
        }
    }
    // SAFETY: `obj` came from open_mem and is not used afterwards.
    unsafe { sys::bpf_object__close(obj) };
    if err != 0 {
        return Err(err);
    }
    Ok(out)
}

/// `testdata/obj/*.o` and every ELF file below `../shared/corpus` (when present).
fn objects() -> Vec<PathBuf> {
    let mut v = testdata_objects();
    let shared = std::env::var_os("BPFPATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let corpus = shared.join("corpus");
    if corpus.is_dir() {
        let mut stack = vec![corpus];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() && std::fs::read(&p).is_ok_and(|b| b.starts_with(b"\x7fELF")) => {
                        v.push(p)
                    }
                    _ => {}
                }
            }
        }
    } else {
        assert!(
            std::env::var_os("BPFPATCH_REQUIRE_CORPUS").is_none(),
            "BPFPATCH_REQUIRE_CORPUS is set but {} is missing",
            shared.display()
        );
        eprintln!("note: {} absent, testdata only", shared.display());
    }
    v.sort();
    v
}

#[derive(Default, Debug)]
struct Counts {
    objects: usize,
    with_core: usize,
    libbpf_failed: usize,
    records: usize,
    /// Records per raw kind.
    kinds: BTreeMap<u32, usize>,
    compared: usize,
    equal: usize,
    /// Compared slots where libbpf changed the instruction.
    changed: usize,
    /// Compared slots libbpf poisoned.
    poisoned: usize,
    /// Compared slots inside subprograms (found appended to a main program).
    subprog: usize,
    /// Subprogram records whose function libbpf did not append anywhere (never called).
    subprog_not_found: usize,
    not_loaded: usize,
}

/// The slots of a function libbpf may rewrite for reasons other than this test: calls,
/// `ld_imm64` pairs, and CO-RE slots (compared separately).
fn mask(sub: &[Insn], start: usize, recs: &[CoReRelo]) -> Vec<bool> {
    let mut m: Vec<bool> = sub.iter().map(|i| i.code == 0x85 || i.is_ld_imm64()).collect();
    for i in 1..sub.len() {
        if sub[i - 1].is_ld_imm64() {
            m[i] = true;
        }
    }
    for r in recs {
        if let Some(x) = r.slot.index().checked_sub(start).and_then(|i| m.get_mut(i)) {
            *x = true;
        }
    }
    m
}

/// Where `sub` sits in `prog` (after the first `from` slots), judged on its unmasked slots;
/// `None` if nowhere or if too few slots are unmasked to tell.
fn locate(sub: &[Insn], masked: &[bool], prog: &[Insn], from: usize) -> Option<usize> {
    if masked.iter().filter(|m| !**m).count() < 4 || prog.len() < sub.len() {
        return None;
    }
    (from..=prog.len() - sub.len())
        .find(|&o| sub.iter().zip(&prog[o..]).zip(masked).all(|((a, b), m)| *m || a == b))
}

/// The program name under which libbpf listed `t`.
fn obj_name_of(prepared: &BTreeMap<String, Prepared>, t: &Prepared) -> String {
    prepared.iter().find(|(_, v)| std::ptr::eq(*v, t)).map(|(k, _)| k.clone()).unwrap_or_default()
}

#[test]
fn co_re_matches_libbpf_prepare() {
    if !kernel() {
        return;
    }
    if std::env::var_os("BPFPATCH_LIBBPF_LOG").is_none() {
        // SAFETY: clearing libbpf's print callback is always allowed.
        unsafe { sys::libbpf_set_print(None) };
    }
    let vmlinux = Btf::from_file(VMLINUX).expect("vmlinux BTF parses");
    let started = std::time::Instant::now();
    let target = Target::new(&vmlinux);
    eprintln!("indexed {VMLINUX} in {:?}", started.elapsed());
    let mut c = Counts::default();
    let mut mismatches = Vec::new();
    for path in objects() {
        c.objects += 1;
        let bytes = std::fs::read(&path).expect("readable");
        let Ok(obj) = BpfObject::parse(&bytes) else { continue };
        let Ok(recs) = records(&obj) else { continue };
        if recs.iter().all(|(_, r)| r.is_empty()) {
            continue;
        }
        c.with_core += 1;
        let file = path.file_name().expect("file").to_string_lossy().into_owned();
        let prepared = match libbpf_prepare(&bytes, &file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("libbpf cannot prepare {} ({e}): skipped", path.display());
                c.libbpf_failed += 1;
                continue;
            }
        };
        let local = obj.btf().expect(".BTF parses").expect("CO-RE needs .BTF");
        // The whole-object entry point must agree with the per-record results below.
        let all_loaded = prepared.values().all(|t| t.autoload);
        let whole = relocate_object(&obj, &target);
        if let (Err(e), true) = (&whole, all_loaded) {
            mismatches.push(format!("{}: relocate_object failed where libbpf did not: {e}", path.display()));
        }
        // One resolver per object, fed in .BTF.ext order: libbpf's candidate cache.
        let mut resolver = Resolver::new(&local, &target);
        for (section, list) in &recs {
            let cs = obj.sections.iter().find(|s| &s.name == section).expect("records name code sections");
            for rec in list {
                c.records += 1;
                *c.kinds.entry(rec.kind).or_default() += 1;
                let Some(p) = obj.programs.iter().find(|p| {
                    &obj.sections[p.section].name == section
                        && p.start <= rec.slot
                        && rec.slot.0 < p.start.0 + p.len
                }) else {
                    continue;
                };
                let entry_copy = prepared.get(&p.name).filter(|t| &t.section == section && t.autoload);
                if p.entry && entry_copy.is_none() {
                    // libbpf neither resolves nor patches programs it will not load.
                    c.not_loaded += 1;
                    continue;
                }
                let at = rec.slot.index();
                let width = if cs.insns[at].is_ld_imm64() { 2 } else { 1 };
                let mut ours = cs.insns.clone();
                let outcome = resolver
                    .resolve_one(section, rec)
                    .and_then(|r| apply(section, &mut ours, std::slice::from_ref(&r)));
                if let (Ok(()), Ok(w)) = (&outcome, &whole) {
                    if w[section][at..at + width] != ours[at..at + width] {
                        mismatches.push(format!(
                            "{}: {section} slot {at}: relocate_object differs",
                            path.display()
                        ));
                    }
                }
                // Where libbpf's copy of this function starts, in which prepared program.
                let copy = match entry_copy {
                    Some(t) => Some((t, 0)),
                    None => {
                        let sub = obj.insns_of(p);
                        let masked = mask(sub, p.start.index(), list);
                        prepared.values().filter(|t| t.autoload).find_map(|t| {
                            let own = obj.program(&obj_name_of(&prepared, t)).map_or(0, |m| m.len as usize);
                            locate(sub, &masked, &t.insns, own).map(|o| (t, o))
                        })
                    }
                };
                let Some((theirs, base)) = copy else {
                    c.subprog_not_found += 1;
                    continue;
                };
                if !p.entry {
                    c.subprog += 1;
                }
                c.compared += 1;
                let rel = base + at - p.start.index();
                let want = theirs.insns.get(rel..rel + width);
                if want.is_some_and(|w| *w != cs.insns[at..at + width]) {
                    c.changed += 1;
                }
                if want.is_some_and(|w| w[0].code == 0x85 && w[0].imm == POISON_IMM) {
                    c.poisoned += 1;
                }
                match (outcome, want) {
                    (Ok(()), Some(w)) if ours[at..at + width] == *w => c.equal += 1,
                    (outcome, want) => mismatches.push(format!(
                        "{}: {section} {} insn {} kind {} `{}`: ours {:?} {:?}, libbpf {want:?}",
                        path.display(),
                        p.name,
                        rel,
                        rec.kind,
                        rec.access,
                        outcome.err().map(|e| e.to_string()),
                        &ours[at..at + width],
                    )),
                }
            }
        }
    }
    eprintln!("{c:?}");
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    assert!(c.with_core > 0, "no object with CO-RE records found");
    assert!(c.compared > 0, "nothing compared");
    assert!(mismatches.is_empty(), "{} of {} CO-RE slots differ from libbpf", mismatches.len(), c.compared);
}
