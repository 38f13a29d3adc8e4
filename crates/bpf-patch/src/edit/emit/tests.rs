//! The output written in two parts equals the single pass, at every kind of split point, for
//! random programs with near and far jumps, `ld_imm64` (plain and pseudo-func), bpf-to-bpf
//! calls and random edit sets, including edit sets that fail.

use super::super::{plan, reference, ApplyOptions};
use super::*;
use crate::opcode::{BPF_CALL, BPF_JA, BPF_JMP, BPF_JMP32, BPF_JNE, BPF_K, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC};

/// xorshift64: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A program of about `n` slots: moves, short and far jumps, `gotol`, local calls, `ld_imm64`
/// (every 16th a pseudo-func); `bad` in a thousand targets are out of range or inside an
/// `ld_imm64`.
fn program(rng: &mut Rng, n: usize, bad: u64) -> Vec<Insn> {
    const MOV: Insn = Insn::new(0xb7, 0, 0, 0, 1);
    let mut insns = vec![MOV; n];
    let mut second = vec![false; n];
    let mut i = 0;
    while i + 1 < n {
        if rng.below(10) == 0 {
            let src = if rng.below(16) == 0 { BPF_PSEUDO_FUNC } else { 0 };
            insns[i] = Insn::new(LD_IMM64, 1, src, 0, 0);
            insns[i + 1] = Insn::new(0, 0, 0, 0, 0);
            second[i + 1] = true;
            i += 2;
        } else {
            i += 1;
        }
    }
    for i in 0..n {
        if second[i] || (insns[i].code == LD_IMM64 && insns[i].src_reg() != BPF_PSEUDO_FUNC) {
            continue;
        }
        let far = rng.below(8) == 0;
        let mut t = if far {
            rng.below(n as u64) as i64
        } else {
            (i as i64 + rng.below(257) as i64 - 128).clamp(0, n as i64 - 1)
        };
        if rng.below(1000) < bad {
            t = if rng.below(2) == 0 { n as i64 + 3 } else { t };
        } else if second[t as usize] {
            t -= 1;
        }
        let rel = t - i as i64 - 1;
        let kind = if insns[i].code == LD_IMM64 { 9 } else { rng.below(9) };
        insns[i] = match kind {
            // Far enough from the 16-bit limit that edits do not push it over.
            0..=2 => match i16::try_from(rel).ok().filter(|off| off.unsigned_abs() < 32_000) {
                Some(off) => Insn::new(BPF_JMP | BPF_JNE | BPF_K, 1, 0, off, 0),
                None => Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, rel as i32),
            },
            3 => Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel as i32),
            4 => Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, 5),
            9 => Insn::new(LD_IMM64, 1, BPF_PSEUDO_FUNC, 0, rel as i32),
            _ => MOV,
        };
    }
    insns
}

/// `count` random edits of every kind at instruction starts.
fn edits(rng: &mut Rng, insns: &[Insn], count: usize) -> Edits {
    let mut e = Edits::new();
    let mut replaced = std::collections::HashSet::new();
    for _ in 0..count {
        let mut at = rng.below(insns.len() as u64) as usize;
        if at > 0 && insns[at - 1].code == LD_IMM64 {
            at -= 1;
        }
        let code: Vec<Insn> = (0..rng.below(4)).map(|k| Insn::new(0xb7, 2, 0, 0, k as i32)).collect();
        let at = Slot(at as u32);
        match rng.below(4) {
            0 => e.insert_before(at, code),
            1 => e.insert_after(at, code),
            2 if replaced.insert(at) => e.replace(at, code),
            3 if replaced.insert(at) => e.delete(at),
            _ => e.insert_after(at, code),
        };
    }
    e
}

/// The single-pass output and the output split at every point worth trying.
fn check_splits(insns: &[Insn], edits: &Edits, fixed: &[Slot], seed: u64) -> usize {
    let order = edits.order();
    let (groups, new_len) = plan(insns, edits, &order).expect("edits are valid");
    let remap = Remap { old_len: insns.len() as u32, new_len, groups };
    let plan = Plan { insns, edits, order: &order, remap: &remap, fixed };
    let whole = emit_parts(plan, &[], false);
    if let Ok(out) = &whole {
        let opts = ApplyOptions { fixed_imm: fixed };
        assert_eq!(reference::apply(insns, edits, &opts).as_ref(), Ok(out), "seed {seed}");
    }
    let mut rng = Rng(seed | 1);
    let mut points: Vec<u32> = vec![0, 1, remap.old_len, split_point(&remap, remap.new_len / 2)];
    for g in &remap.groups {
        points.extend([g.old.saturating_sub(1), g.old, g.old + g.width, g.old + g.width + 1]);
    }
    points.extend((0..40).map(|_| rng.below(u64::from(remap.old_len)) as u32));
    let straddled = |s: u32| remap.groups.iter().any(|g| g.old < s && s < g.old + g.width);
    points.retain(|&s| s <= remap.old_len && !straddled(s));
    for &s in &points {
        assert_eq!(emit_parts(plan, &[s], false), whole, "seed {seed}, split at slot {s}");
    }
    // Several parts, taken by two threads; empty parts included.
    for round in 0..8 {
        let mut cuts: Vec<u32> =
            (0..1 + round % 5).map(|_| points[rng.below(points.len() as u64) as usize]).collect();
        cuts.sort_unstable();
        assert_eq!(emit_parts(plan, &cuts, true), whole, "seed {seed}, split at slots {cuts:?}");
    }
    points.len()
}

#[test]
fn split_output_equals_the_single_pass() {
    let (mut splits, mut failing) = (0, 0);
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let n = [300, 5_000, 12_000][seed as usize % 3];
        let bad = if seed % 4 == 0 { 2 } else { 0 };
        let prog = program(&mut rng, n, bad);
        let e = edits(&mut rng, &prog, [0, 3, 60][(seed as usize / 3) % 3]);
        let fixed: Vec<Slot> = if seed % 2 == 0 {
            (0..n as u32).step_by(97).filter(|&s| s % 2 == 0).map(Slot).collect()
        } else {
            vec![]
        };
        splits += check_splits(&prog, &e, &fixed, seed);
        let order = e.order();
        let (groups, new_len) = plan(&prog, &e, &order).expect("edits are valid");
        let remap = Remap { old_len: n as u32, new_len, groups };
        failing += usize::from(
            emit_parts(
                Plan { insns: &prog, edits: &e, order: &order, remap: &remap, fixed: &fixed },
                &[],
                false,
            )
            .is_err(),
        );
    }
    assert!(splits > 300, "only {splits} split points tried");
    assert!(failing >= 1, "no failing edit set among the seeds");
}

#[test]
fn split_points_are_monotonic_near_their_target_and_straddle_no_group() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let prog = program(&mut rng, 4_000, 0);
        let e = edits(&mut rng, &prog, (seed * 7) as usize);
        let order = e.order();
        let (groups, new_len) = plan(&prog, &e, &order).expect("edits are valid");
        let remap = Remap { old_len: prog.len() as u32, new_len, groups };
        let s = split_point(&remap, new_len / 2);
        let cuts: Vec<u32> = (0..=new_len).step_by(97).map(|new| split_point(&remap, new)).collect();
        assert!(cuts.windows(2).all(|w| w[0] <= w[1]), "seed {seed}: split points not monotonic");
        assert!(s <= remap.old_len);
        assert!(remap.groups.iter().all(|g| !(g.old < s && s < g.old + g.width)), "seed {seed}: {s}");
        let widest = remap.groups.iter().map(|g| g.len()).max().unwrap_or(0);
        assert!(remap.start(s).abs_diff(new_len / 2) <= widest, "seed {seed}: {s}");
    }
}

#[test]
fn apply_above_the_parallel_threshold_matches_the_reference() {
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let prog = program(&mut rng, PARALLEL_MIN as usize + 20_000, 0);
    let e = edits(&mut rng, &prog, 40);
    let opts = ApplyOptions::default();
    let got = super::super::apply(&prog, &e, &opts).expect("edits are valid");
    assert!(got.remap.new_len() >= PARALLEL_MIN);
    assert_eq!(reference::apply(&prog, &e, &opts).as_ref(), Ok(&got.insns));
}
