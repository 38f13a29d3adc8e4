//! `.BTF.ext` of every object in `../shared/corpus` and `testdata/`: parsed, every section name
//! resolved in `.BTF`, every `insn_off` inside its code section, and written back byte for byte.
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::btf_ext::{btf_strings, string_at, BtfExt};
use object::{Object, ObjectSection};

#[test]
fn every_btf_ext_round_trips_byte_for_byte() {
    let Some(files) = common::corpus_objects() else { return };
    let (mut sections, mut records, mut refused) = (0, 0, Vec::new());
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let Ok(elf) = object::File::parse(&*bytes) else { continue };
        let Some(ext) = elf.section_by_name(".BTF.ext").and_then(|s| s.data().ok()) else { continue };
        let Some(btf) = elf.section_by_name(".BTF").and_then(|s| s.data().ok()) else { continue };
        let parsed = match BtfExt::parse(ext) {
            Ok(p) => p,
            Err(e) if file.components().any(|c| c.as_os_str() == "invalid") => {
                refused.push(format!("{}: {e}", file.display()));
                continue;
            }
            Err(e) => panic!("{}: {e}", file.display()),
        };
        sections += 1;
        assert_eq!(parsed.write(), ext, "{}: .BTF.ext does not round-trip", file.display());
        let strings = btf_strings(btf).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (kind, sub) in parsed.sections() {
            for sec in &sub.secs {
                let name = string_at(strings, sec.sec_name_off)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let code = elf
                    .section_by_name(name)
                    .unwrap_or_else(|| panic!("{}: {kind:?} names missing section {name}", file.display()));
                for r in &sec.records {
                    records += 1;
                    let off = u64::from(parsed.insn_off(r));
                    assert!(
                        off % 8 == 0 && off < code.size(),
                        "{}: {kind:?} insn_off {off} outside {name}",
                        file.display()
                    );
                }
            }
        }
    }
    eprintln!("round-tripped {sections} .BTF.ext sections ({records} records); refused {}", refused.len());
    for r in &refused {
        eprintln!("refused: {r}");
    }
    assert!(sections > 50, "only {sections} .BTF.ext sections found");
}
