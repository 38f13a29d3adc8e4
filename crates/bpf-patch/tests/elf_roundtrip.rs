//! Rewriting every object of `../shared/corpus` and `testdata/` with no edits: code, data, BTF
//! and BTF.ext sections come back byte for byte, symbols and relocations equal in meaning, and
//! the output parses with goblin (an independent ELF parser) with the same sections, symbols
//! and relocations. Objects we cannot handle are refused with an error, never a panic.
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::elf::{rewrite, BpfObject, ObjectEdits};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

type Sym = (String, u64, u64, String, bool, Option<String>);

fn symbols(elf: &object::File<'_>) -> Vec<Sym> {
    let mut v: Vec<Sym> = elf
        .symbols()
        .map(|s| {
            let sec = s
                .section_index()
                .and_then(|i| elf.section_by_index(i).ok())
                .and_then(|x| x.name().ok().map(str::to_owned));
            (
                s.name().unwrap_or("").to_owned(),
                s.address(),
                s.size(),
                format!("{:?}", s.kind()),
                s.is_global(),
                sec,
            )
        })
        .collect();
    v.sort();
    v
}

fn relocations(elf: &object::File<'_>) -> Vec<(String, u64, String, String)> {
    let mut v = Vec::new();
    for s in elf.sections() {
        for (off, r) in s.relocations() {
            let target = match r.target() {
                RelocationTarget::Symbol(i) => elf.symbol_by_index(i).ok().map(|t| {
                    let name = t.name().unwrap_or("").to_owned();
                    if name.is_empty() {
                        t.section_index()
                            .and_then(|i| elf.section_by_index(i).ok())
                            .and_then(|x| x.name().ok().map(str::to_owned))
                            .unwrap_or_default()
                    } else {
                        name
                    }
                }),
                _ => None,
            };
            v.push((
                s.name().unwrap_or("").to_owned(),
                off,
                format!("{:?}", r.flags()),
                target.unwrap_or_default(),
            ));
        }
    }
    v.sort();
    v
}

/// Sections whose bytes are layout, not content: rebuilt by the writer.
fn layout_section(name: &str) -> bool {
    matches!(name, "" | ".strtab" | ".shstrtab" | ".symtab" | ".llvm_addrsig") || name.starts_with(".rel")
}

#[test]
fn empty_edit_batch_reproduces_every_object() {
    let Some(files) = common::corpus_objects() else { return };
    let (mut ok, mut refused) = (0, Vec::new());
    for file in &files {
        let input = std::fs::read(file).expect("read corpus file");
        let out = match BpfObject::parse(&input).and_then(|_| rewrite(&input, &ObjectEdits::new())) {
            Ok(out) => out,
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty());
                refused.push(format!("{}: {msg}", file.display()));
                continue;
            }
        };
        let a = object::File::parse(&*input).expect("input parsed before");
        let b = object::File::parse(&*out)
            .unwrap_or_else(|e| panic!("{}: output does not parse: {e}", file.display()));
        for s in a.sections() {
            let name = s.name().unwrap_or("");
            if layout_section(name) {
                continue;
            }
            let t =
                b.section_by_name(name).unwrap_or_else(|| panic!("{}: section {name} lost", file.display()));
            assert_eq!(s.data().ok(), t.data().ok(), "{}: section {name} differs", file.display());
        }
        assert_eq!(symbols(&a), symbols(&b), "{}: symbols differ", file.display());
        assert_eq!(relocations(&a), relocations(&b), "{}: relocations differ", file.display());
        let g = goblin::elf::Elf::parse(&out)
            .unwrap_or_else(|e| panic!("{}: goblin cannot parse the output: {e}", file.display()));
        let goblin_sections: Vec<&str> =
            g.section_headers.iter().filter_map(|h| g.shdr_strtab.get_at(h.sh_name)).collect();
        let object_sections: Vec<&str> = b.sections().filter_map(|s| s.name().ok()).collect();
        assert_eq!(
            goblin_sections.len(),
            b.sections().count() + 1,
            "{}: section count (goblin counts the null section)",
            file.display()
        );
        for name in object_sections {
            assert!(
                goblin_sections.contains(&name),
                "{}: goblin does not see section {name}",
                file.display()
            );
        }
        assert_eq!(
            g.syms.len(),
            b.symbols().count() + 1,
            "{}: symbol count (goblin counts the null symbol)",
            file.display()
        );
        let goblin_relocs: usize = g.shdr_relocs.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(goblin_relocs, relocations(&b).len(), "{}: relocation count", file.display());
        ok += 1;
    }
    eprintln!("round-tripped {ok} objects, refused {} with clear errors", refused.len());
    for r in &refused {
        eprintln!("refused: {r}");
    }
    assert!(ok > 150, "only {ok} objects round-tripped");
    assert!(
        refused.iter().all(|r| r.contains("/invalid/") || r.contains("datapath")),
        "unexpected refusals:\n{}",
        refused.join("\n")
    );
}
