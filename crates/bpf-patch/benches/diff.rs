//! Instruction diff versus the plain O(ND) diff of raw slots.
//!
//! Workload: programs of 100k and 1M slots drawn from a small alphabet (register moves and adds
//! over 8 registers with immediates 0-15, loads at 16 offsets, short forward and backward
//! conditional jumps, `ld_imm64`, a helper call every 16th slot), so equal instructions recur
//! as in real code. An edit set of 100, 1,000 or 5,000 edits (evenly spread; cycling through
//! insert-before of 3 instructions, replace by 5 instructions, delete) is applied with
//! [`bpf_patch::edit::apply`], which shifts every jump across an edit.
//!
//! Two measurements per case, inputs decoded beforehand:
//! - `diff`: [`bpf_patch::diff::diff`] on the decoded instructions (keys, alignment, pairing,
//!   jump-target check).
//! - `raw_slots` (baseline): the same Myers engine on the raw 8-byte slots with plain equality,
//!   i.e. what a generic line diff of the two slot streams does. It sees every shifted jump as
//!   a change, so its edit distance is larger.
//!
//! Plus the worst case, `diff_unrelated`: two unrelated programs of the same size (most
//! instructions differ; the cost cap of the alignment bounds the time).

use bpf_patch::diff::{diff, matches};
use bpf_patch::edit::{apply, ApplyOptions, Edits};
use bpf_patch::filter::{alu64_imm, call_helper, exit, jmp_imm, ld_imm64, ldx_mem, mov64_imm};
use bpf_patch::op::{decode_all, encode_all, AluOp, Cond, Op, Reg, Size};
use bpf_patch::{Insn, Slot};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

fn rng(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

fn reg(n: u64) -> Reg {
    [Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5, Reg::R6, Reg::R7][(n % 8) as usize]
}

/// A deterministic program of `n` slots; jumps target instruction starts.
fn program(n: usize, seed: u64) -> Vec<Insn> {
    let mut rnd = rng(seed);
    // Layout first: 0 plain, 1 jump, 2 ld_imm64 (two slots), 3 call.
    let mut kinds: Vec<u8> = Vec::with_capacity(n);
    while kinds.len() < n - 1 {
        let k = if kinds.len() % 16 == 15 {
            3
        } else {
            match rnd() % 10 {
                0..=6 => 0,
                7 | 8 => 1,
                _ if kinds.len() + 3 < n => 2,
                _ => 0,
            }
        };
        kinds.push(k);
        if k == 2 {
            kinds.push(4);
        }
    }
    let mut ops: Vec<Op> = Vec::with_capacity(n);
    let mut i = 0;
    while i < kinds.len() {
        let r = rnd();
        ops.push(match kinds[i] {
            1 => {
                let span = (r % 129) as i64 - 64;
                let mut t = (i as i64 + 1 + span).clamp(0, kinds.len() as i64);
                if (t as usize) < kinds.len() && kinds[t as usize] == 4 {
                    t -= 1;
                }
                let off = i16::try_from(t - i as i64 - 1).expect("short jumps");
                jmp_imm(Cond::Gt, reg(r >> 8), (r >> 16) as i32 & 15, off)
            }
            2 => {
                i += 1;
                ld_imm64(reg(r >> 8), (r >> 16) & 0xff)
            }
            3 => call_helper(((r >> 8) % 4) as i32 + 1),
            _ => match (r >> 8) % 3 {
                0 => mov64_imm(reg(r >> 12), (r >> 16) as i32 & 15),
                1 => alu64_imm(AluOp::Add, reg(r >> 12), (r >> 16) as i32 & 15),
                _ => ldx_mem(Size::W, reg(r >> 12), reg(r >> 20), ((r >> 24) as i16 & 15) * 4),
            },
        });
        i += 1;
    }
    ops.push(exit());
    let insns = encode_all(&ops);
    assert_eq!(insns.len(), n);
    insns
}

/// `count` evenly spread edits on instruction starts of `insns`.
fn edited(insns: &[Insn], count: usize) -> Vec<Insn> {
    let starts: Vec<Slot> = decode_all(insns).expect("decodes").into_iter().map(|(s, _)| s).collect();
    let step = starts.len() / (count + 1);
    let mut edits = Edits::new();
    for k in 0..count {
        let at = starts[(k + 1) * step];
        let code = |n: i32| encode_all(&(0..n).map(|v| mov64_imm(Reg::R9, v)).collect::<Vec<_>>());
        match k % 3 {
            0 => edits.insert_before(at, code(3)),
            1 => edits.replace(at, code(5)),
            _ => edits.delete(at),
        };
    }
    apply(insns, &edits, &ApplyOptions::default()).expect("edits apply").insns
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let old = program(n, SEED);
        let old_ops = decode_all(&old).expect("decodes");
        for edits in [100usize, 1_000, 5_000] {
            let new = edited(&old, edits);
            let new_ops = decode_all(&new).expect("decodes");
            let id = format!("{n}_slots/{edits}_edits");
            group.bench_with_input(BenchmarkId::new("diff", &id), &(), |b, ()| {
                b.iter(|| diff(black_box(&old_ops), black_box(&new_ops)))
            });
            group.bench_with_input(BenchmarkId::new("raw_slots", &id), &(), |b, ()| {
                b.iter(|| matches(black_box(&old), black_box(&new)))
            });
        }
    }
    // Worst case: two unrelated programs (every middle-point search hits the cost cap).
    for n in [100_000usize, 1_000_000] {
        let (old, new) = (program(n, SEED), program(n, SEED ^ 0x9e37_79b9_7f4a_7c15));
        let (old_ops, new_ops) = (decode_all(&old).expect("decodes"), decode_all(&new).expect("decodes"));
        group.bench_with_input(BenchmarkId::new("diff_unrelated", n), &(), |b, ()| {
            b.iter(|| diff(black_box(&old_ops), black_box(&new_ops)))
        });
    }
    group.finish();
}

const SEED: u64 = 0x2545_f491_4f6c_dd1d;

criterion_group!(benches, bench);
criterion_main!(benches);
