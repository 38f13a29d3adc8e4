//! Applying a batch of edits: each edit replaces one `call` with a 10-instruction sequence, on
//! programs of 10k, 100k and 1M instructions (about one instruction in eight is a jump).
//!
//! Compared against, in the same run:
//! - `kernel_sequential`: the kernel's approach, one `bpf_patch_insn_single` (reallocate, shift
//!   the tail, scan every jump) per edit (`bpf_patch::edit::reference`). Its cost is linear in the
//!   number of edits; at 10,000 edits on 1M instructions one run takes minutes, so that point is
//!   measured on 1,000 edits and the figure reported per edit (see `per_edit` in the output).
//! - `copy_floor`: copying the output buffer once, the least any rewrite must do.
//!
//! Target (issue #2): at 10,000 edits on 1M instructions, `batch` is at least 100x faster than
//! `kernel_sequential` and within 5x of `copy_floor`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bpf_patch::edit::{apply, reference, ApplyOptions, Edits};
use bpf_patch::{Insn, Slot};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const CALL: Insn = Insn::new(0x85, 0, 0, 0, 1);

/// A program of `n` slots with `calls` helper calls spread evenly, jumps elsewhere.
fn program(n: usize, calls: usize) -> (Vec<Insn>, Vec<Slot>) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let stride = (n / calls.max(1)).max(1);
    let mut insns = Vec::with_capacity(n);
    let mut sites = Vec::with_capacity(calls);
    for i in 0..n {
        if i % stride == 0 && sites.len() < calls {
            sites.push(Slot(i as u32));
            insns.push(CALL);
        } else if next() % 8 == 0 {
            // A jump within +-1000 that stays inside the program.
            let span = 1000i64.min(n as i64 - 1);
            let target = (i as i64 + (next() % (2 * span as u64 + 1)) as i64 - span).clamp(0, n as i64 - 1);
            insns.push(Insn::new(0x25, 1, 0, (target - i as i64 - 1) as i16, 5));
        } else {
            insns.push(Insn::new(0x07, 3, 0, 0, (i % 1000) as i32));
        }
    }
    (insns, sites)
}

fn sequence() -> Vec<Insn> {
    (0..10).map(|k| Insn::new(0xb7, 2, 0, 0, k)).collect()
}

fn bench(c: &mut Criterion) {
    let seq = sequence();
    let mut group = c.benchmark_group("edit");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for n in [10_000usize, 100_000, 1_000_000] {
        for e in [1usize, 100, 10_000] {
            let (insns, sites) = program(n, e);
            let mut edits = Edits::new();
            for &s in &sites {
                edits.replace(s, seq.clone());
            }
            let id = format!("{n}insns/{e}edits");
            group.bench_function(BenchmarkId::new("batch", &id), |b| {
                b.iter(|| {
                    apply(black_box(&insns), black_box(&edits), &ApplyOptions::default()).expect("applies")
                })
            });
            let out_len = insns.len() + sites.len() * (seq.len() - 1);
            group.bench_function(BenchmarkId::new("copy_floor", &id), |b| {
                let src: Vec<Insn> =
                    insns.iter().copied().chain(std::iter::repeat_n(CALL, out_len - insns.len())).collect();
                b.iter(|| black_box(&src).to_vec())
            });
            // The sequential baseline on at most 1,000 of the edits (linear in the edit count).
            let measured = sites.len().min(1_000);
            group.bench_function(
                BenchmarkId::new("kernel_sequential", format!("{id}/first{measured}")),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let mut prog = insns.clone();
                            let start = Instant::now();
                            for &s in sites[..measured].iter().rev() {
                                reference::patch_insn_single(&mut prog, s.index(), &seq).expect("fits");
                            }
                            total += start.elapsed();
                        }
                        total
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
