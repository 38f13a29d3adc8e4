//! The packet-trait codec ([`bpf_verifier_model::traits`]) with 1, 8 and 32 traits stored.
//!
//! Workload: a 216-byte area (the 256-byte XDP headroom minus the 40-byte `xdp_frame`) holding
//! `n` traits of 4 bytes at the even keys 0, 2, .., 2n - 2, in both formats. Per size:
//! - `get`: read the highest stored key into an 8-byte buffer (offset: two popcounts).
//! - `set`: overwrite the highest stored key in place (same size, no move).
//! - `move`: insert key 1 (4 bytes) and delete it again: both move the values of the `n - 1`
//!   keys above it, as the RFC's "xdp-trait-move" does.
//!
//! Baseline (kernel-notes §E.4, the RFC patch "trait: Replace memmove calls with inline move",
//! ns/op, Intel / AMD IBPB / AMD SRSO): xdp-trait-get 5.530 / 3.901 / 9.188, xdp-trait-set
//! 7.538 / 4.941 / 10.050, xdp-trait-move 14.245 / 8.865 / 14.834; a function call 1.319 /
//! 1.359 / 5.703 and an indirect call 8.922 / 6.251 / 10.329 for scale. Those figures time a BPF
//! program calling the kfunc in the kernel (call overhead and the XDP checks included, the
//! number of stored traits not stated), so they bound what the bare codec should cost, they do
//! not measure the same thing; our `move` is an insert plus a delete (two moves).

use bpf_verifier_model::traits::{self, Format};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

/// Bytes between the end of the `xdp_frame` area and `data` with the kernel's headroom.
const ROOM: usize = 256 - 40;

fn area(format: Format, n: u64) -> Vec<u8> {
    let mut a = vec![0u8; ROOM];
    traits::init(&mut a).expect("216 bytes hold a header");
    for i in 0..n {
        traits::set(&mut a, format, 2 * i, &(i as u32).to_le_bytes(), 0).expect("32 × 4 bytes fit");
    }
    a
}

fn bench(c: &mut Criterion) {
    for format in Format::ALL {
        let mut g = c.benchmark_group(format!("traits_{format:?}"));
        for n in [1u64, 8, 32] {
            let top = 2 * (n - 1);
            let mut a = area(format, n);
            g.bench_with_input(BenchmarkId::new("get", n), &n, |b, _| {
                let mut out = [0u8; 8];
                b.iter(|| traits::get(black_box(&a), format, black_box(top), &mut out))
            });
            g.bench_with_input(BenchmarkId::new("set", n), &n, |b, _| {
                b.iter(|| traits::set(black_box(&mut a), format, black_box(top), &[1, 2, 3, 4], 0))
            });
            g.bench_with_input(BenchmarkId::new("move", n), &n, |b, _| {
                b.iter(|| {
                    let r = traits::set(black_box(&mut a), format, black_box(1), &[1, 2, 3, 4], 0);
                    (r, traits::del(black_box(&mut a), format, black_box(1)))
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
