//! End-to-end rewrite of the largest object in `../shared/corpus`
//! (`ebpf-samples/new_linux/tracex1_kern.o`, 236 KB), against `llvm-objcopy-19` copying the same
//! file: the I/O floor. Target (issue #3): at most 1.5x llvm-objcopy's time.
//!
//! - `llvm_objcopy_process`: `llvm-objcopy-19 IN OUT`, a process.
//! - `bpfpatch_patch_process`: `bpfpatch patch IN -o OUT --prog P --insert-before N --asm ...`,
//!   a process, with one insertion in the middle of the first program.
//! - `library_rewrite`: the same rewrite in-process, bytes in, bytes out, written to a file.

use std::path::{Path, PathBuf};
use std::process::Command;

use bpf_patch::elf::{rewrite, BpfObject, ObjectEdits};
use bpf_patch::{Insn, Slot};
use criterion::{criterion_group, criterion_main, Criterion};

fn input() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/ebpf-samples/new_linux/tracex1_kern.o");
    p.exists().then_some(p)
}

fn bench(c: &mut Criterion) {
    let Some(path) = input() else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping: ../shared/corpus is absent");
        }
        return;
    };
    let bytes = std::fs::read(&path).expect("read");
    let obj = BpfObject::parse(&bytes).expect("the corpus object parses");
    let p = obj.programs.iter().find(|p| p.len > 2).expect("a program").clone();
    let mid = (p.len / 2).to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.o");
    let mut g = c.benchmark_group("rewrite_largest_corpus_object");
    g.sample_size(30);
    g.bench_function("llvm_objcopy_process", |b| {
        b.iter(|| {
            let st =
                Command::new("llvm-objcopy-19").arg(&path).arg(&out).status().expect("llvm-objcopy-19 runs");
            assert!(st.success());
        })
    });
    g.bench_function("bpfpatch_patch_process", |b| {
        b.iter(|| {
            let st = Command::new(env!("CARGO_BIN_EXE_bpfpatch"))
                .args(["patch"])
                .arg(&path)
                .arg("-o")
                .arg(&out)
                .args(["--prog", &p.name, "--insert-before", &mid, "--asm", "goto +0x0"])
                .status()
                .expect("bpfpatch runs");
            assert!(st.success());
        })
    });
    g.bench_function("library_rewrite", |b| {
        b.iter(|| {
            let mut edits = ObjectEdits::new();
            edits.insert_before(&p.name, Slot(p.len / 2), vec![Insn::new(0x05, 0, 0, 0, 0)]);
            let bytes_out = rewrite(&bytes, &edits).expect("rewrites");
            std::fs::write(&out, bytes_out).expect("write");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
