//! Batched edits versus the kernel's way of patching, and versus a plain copy.
//!
//! Workload: programs of 10k, 100k and 1M slots (moves, short forward and backward conditional
//! jumps, `ld_imm64`, a helper call every 8th slot); 1, 100 or 10,000 of the calls (evenly spread)
//! are each replaced by a 10-instruction sequence. 10,000 edits on 10k slots is skipped: that
//! program holds only 1,250 calls.
//!
//! Three measurements per size:
//! - `batch`: [`bpf_patch::edit::apply`], one pass over the program.
//! - `kernel_sequential` (baseline): [`bpf_patch::edit::reference::apply`], the kernel approach —
//!   one `bpf_patch_insn_single`-style realloc-and-shift plus a full `bpf_adj_branches` scan per
//!   edit. It costs O(n) per edit, so when edits × slots exceeds 2·10⁸ only an evenly strided
//!   subset of the edits is run and the time is scaled by (edits / subset) (`iter_custom`).
//! - `copy_floor` (baseline): cloning the output buffer (allocation plus memcpy), the least any
//!   approach that returns a new program can cost.

use std::time::{Duration, Instant};

use bpf_patch::edit::{apply, reference, ApplyOptions, Edits};
use bpf_patch::filter::{call_helper, exit, jmp_imm, ld_imm64, mov64_imm};
use bpf_patch::op::{encode_all, Cond, Op, Reg};
use bpf_patch::{Insn, Slot};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

/// A deterministic program of `n` slots and the slots of its helper calls.
fn program(n: usize) -> (Vec<Insn>, Vec<Slot>) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Lay out kinds first: 0 mov, 1 jump, 2 ld_imm64 (two slots), 3 call.
    let mut kinds = Vec::with_capacity(n);
    while kinds.len() < n - 1 {
        let k = if kinds.len() % 8 == 7 {
            3
        } else {
            match rnd() % 10 {
                0..=5 => 0,
                6..=8 => 1,
                _ if kinds.len() + 3 < n => 2,
                _ => 0,
            }
        };
        kinds.push(k);
        if k == 2 {
            kinds.push(4); // second slot
        }
    }
    let mut ops: Vec<Op> = Vec::with_capacity(n);
    let mut calls = Vec::new();
    let mut i = 0;
    while i < kinds.len() {
        match kinds[i] {
            1 => {
                let span = (rnd() % 129) as i64 - 64;
                let mut t = (i as i64 + 1 + span).clamp(0, kinds.len() as i64);
                if (t as usize) < kinds.len() && kinds[t as usize] == 4 {
                    t -= 1;
                }
                let off = i16::try_from(t - i as i64 - 1).expect("short jumps");
                ops.push(jmp_imm(Cond::Gt, Reg::R1, 7, off));
            }
            2 => {
                ops.push(ld_imm64(Reg::R2, rnd()));
                i += 1;
            }
            3 => {
                calls.push(Slot(i as u32));
                ops.push(call_helper(5));
            }
            _ => ops.push(mov64_imm(Reg::R0, i as i32)),
        }
        i += 1;
    }
    ops.push(exit());
    let insns = encode_all(&ops);
    assert_eq!(insns.len(), n);
    (insns, calls)
}

fn edits(calls: &[Slot], count: usize, stride_subset: usize) -> Edits {
    let body = encode_all(
        &(0..9).map(|k| mov64_imm(Reg::R3, k)).chain(std::iter::once(call_helper(6))).collect::<Vec<_>>(),
    );
    let step = calls.len() / count;
    let mut e = Edits::new();
    for k in (0..count).step_by(stride_subset) {
        e.replace(calls[k * step], body.clone());
    }
    e
}

fn bench(c: &mut Criterion) {
    let opts = ApplyOptions::default();
    for n in [10_000usize, 100_000, 1_000_000] {
        let (prog, calls) = program(n);
        let mut group = c.benchmark_group(format!("edit/{n}"));
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        for count in [1usize, 100, 10_000] {
            if count > calls.len() {
                continue;
            }
            let all = edits(&calls, count, 1);
            let out = apply(&prog, &all, &opts).expect("valid edits").insns;
            group.bench_function(BenchmarkId::new("batch", count), |b| {
                b.iter(|| apply(black_box(&prog), black_box(&all), &opts).expect("valid"))
            });
            group.bench_function(BenchmarkId::new("copy_floor", count), |b| {
                b.iter(|| black_box(&out).clone())
            });
            let stride = ((count * n) / 200_000_000).max(1);
            let subset = edits(&calls, count, stride);
            let scale = count as f64 / subset.len() as f64;
            group.bench_function(BenchmarkId::new("kernel_sequential", count), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(reference::apply(black_box(&prog), &subset, &opts).expect("valid"));
                    }
                    start.elapsed().mul_f64(scale)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
