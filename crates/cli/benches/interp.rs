//! Interpreted instructions per second on a packet-parsing XDP program (Ethernet, IPv4 and UDP
//! checks, then a bounded loop summing 32 payload bytes with a bounds check per byte: about 300
//! instructions per run), against the kernel running the same program under
//! `BPF_PROG_TEST_RUN` with `repeat` (JIT-compiled: the ceiling), timed by the kernel itself.

use std::time::Duration;

use bpf_verifier_model::interp::{Program, Vm, XdpSetup};
use bpfpatch::kernel::raw::RawProgram;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PARSER: &str = "
    r2 = *(u32 *)(r1 + 0x4)
    r1 = *(u32 *)(r1 + 0x0)
    r3 = r1
    r3 += 0x2a
    if r3 > r2 goto <pass>
    r4 = *(u16 *)(r1 + 0xc)
    if r4 != 0x8 goto <pass>
    r4 = *(u8 *)(r1 + 0x17)
    if r4 != 0x11 goto <pass>
    r0 = 0x0
    r5 = 0x0
loop:
    r3 = r1
    r3 += r5
    r4 = r3
    r4 += 0x2b
    if r4 > r2 goto <done>
    r4 = *(u8 *)(r3 + 0x2a)
    r0 += r4
    r5 += 0x1
    if r5 < 0x20 goto <loop>
done:
    r0 &= 0x3
    exit
pass:
    r0 = 0x2
    exit
";

fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 128];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = 17;
    for (i, b) in p[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn bench(c: &mut Criterion) {
    let insns = bpf_patch::text::assemble(PARSER).expect("the parser assembles");
    let pkt = packet();
    let mut vm = Vm::new(Program::new(&insns).expect("decodes"));
    let ctx = vm.setup_xdp(&XdpSetup::new(pkt.clone()));
    let per_run = vm.run([ctx, 0, 0, 0, 0]).expect("runs").insns;
    let mut g = c.benchmark_group("packet_parser");
    g.throughput(Throughput::Elements(per_run));
    g.bench_function("interpreter", |b| b.iter(|| vm.run([ctx, 0, 0, 0, 0]).expect("runs")));
    match RawProgram::load(6, &insns) {
        Ok(prog) => {
            g.bench_function("kernel_jit_test_run", |b| {
                b.iter_custom(|iters| {
                    let repeat = u32::try_from(iters).unwrap_or(u32::MAX);
                    let (_, avg_ns) = prog.test_run_repeat(&pkt, repeat).expect("BPF_PROG_TEST_RUN");
                    Duration::from_nanos(u64::from(avg_ns) * iters)
                })
            });
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipping the kernel side: {e}");
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
