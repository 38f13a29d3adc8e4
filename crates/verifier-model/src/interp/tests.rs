//! Whole-program tests of the interpreter, written in the conformance `%r` assembly: instruction
//! families through the machine, frames, helpers, packets, faults with their slots, budgets.

use bpf_patch::op::{encode_all, AtomicOp, LdImm64Src, Op, Reg, Size};
use bpf_patch::Slot;

use super::*;
use crate::conformance::asm::assemble;

fn program(src: &str) -> Program {
    Program::new(&assemble(src).expect("test program assembles")).expect("test program loads")
}

/// Runs `src` with a writable 16-byte buffer `00 01 .. 0f` in R1 (and its length in R2).
fn run(src: &str) -> Result<u64, Fault> {
    let mut vm = Interpreter::new(program(src));
    let base = vm.memory.map(RegionKind::Buffer, (0..16).collect(), true);
    vm.run(&[base, 16]).map(|e| e.r0)
}

#[test]
fn instruction_families_through_the_machine() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, u64)] = &[
        ("alu32 zero-extends", "lddw %r0, -1\nadd32 %r0, 1\nexit", 0),
        ("mov32 zero-extends", "lddw %r1, -1\nmov32 %r0, %r1\nexit", 0xffff_ffff),
        ("div by zero is 0", "mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit", 0),
        ("mod by zero keeps", "mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit", 7),
        ("mod32 by zero keeps low half", "lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit", 7),
        ("sdiv INT_MIN / -1", "lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 1 << 63),
        ("smod INT_MIN % -1", "lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", 0),
        ("shift amount masked", "mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit", 2),
        ("arsh32", "mov32 %r0, 0x80000000\narsh32 %r0, 4\nexit", 0xf800_0000),
        ("movsx864", "mov %r1, 0x80\nmovsx864 %r0, %r1\nexit", 0xffff_ffff_ffff_ff80),
        ("neg64", "mov %r0, 1\nneg %r0\nexit", u64::MAX),
        ("be32", "mov %r0, 0x11223344\nbe32 %r0\nexit", 0x4433_2211),
        ("bswap16 drops high bits", "lddw %r0, 0x1122334455667788\nbswap16 %r0\nexit", 0x8877),
        ("ldxh little-endian", "ldxh %r0, [%r1+2]\nexit", 0x0302),
        ("stdw sign-extends imm", "stdw [%r10-8], -1\nldxdw %r0, [%r10-8]\nexit", u64::MAX),
        ("stb then ldxdw", "stdw [%r10-8], 0\nstb [%r10-8], 0x7f\nldxdw %r0, [%r10-8]\nexit", 0x7f),
        ("jmp32 ignores high half", "lddw %r1, 0x100000001\nmov %r0, 0\njeq32 %r1, 1, +1\nexit\nmov %r0, 1\nexit", 1),
        ("jmp64 sees high half", "lddw %r1, 0x100000001\nmov %r0, 0\njeq %r1, 1, +1\nexit\nmov %r0, 1\nexit", 0),
        ("jsgt signed", "mov %r1, -1\nmov %r0, 0\njsgt %r1, 0, +1\nexit\nmov %r0, 1\nexit", 0),
        ("gotol", "mov %r0, 1\nja32 L\nmov %r0, 2\nL: exit", 1),
        ("lddw constant", "lddw %r0, 0x1122334455667788\nexit", 0x1122_3344_5566_7788),
        ("buffer length in r2", "mov %r0, %r2\nexit", 16),
    ];
    for (name, src, want) in cases {
        assert_eq!(run(src), Ok(*want), "{name}");
    }
}

#[test]
fn atomics_all_variants() {
    // Each program stores 0x10 at [r10-8] (and 0xffffffff_00000010 for the 32-bit cmpxchg),
    // runs one atomic with r1 = 3, then returns (memory << 32 | r1) or R0 as noted.
    let pre = "stdw [%r10-8], 0x10\nmov %r1, 3\n";
    let post = "ldxdw %r0, [%r10-8]\nlsh %r0, 32\nor %r0, %r1\nexit";
    #[rustfmt::skip]
    let cases: &[(&str, u64)] = &[
        ("lock add [%r10-8], %r1", 0x13 << 32 | 3),
        ("lock fetch add [%r10-8], %r1", 0x13 << 32 | 0x10),
        ("lock or32 [%r10-8], %r1", 0x13 << 32 | 3),
        ("lock fetch or [%r10-8], %r1", 0x13 << 32 | 0x10),
        ("lock and [%r10-8], %r1", 3),
        ("lock fetch and32 [%r10-8], %r1", 0x10),
        ("lock xor [%r10-8], %r1", 0x13 << 32 | 3),
        ("lock fetch xor [%r10-8], %r1", 0x13 << 32 | 0x10),
        ("lock xchg [%r10-8], %r1", 3 << 32 | 0x10),
        ("lock xchg32 [%r10-8], %r1", 3 << 32 | 0x10),
    ];
    for (atomic, want) in cases {
        let src = format!("{pre}{atomic}\n{post}");
        assert_eq!(run(&src), Ok(*want), "{atomic}");
    }
    // cmpxchg: R0 gets the old value; the store happens only when R0 (its low half for 32-bit)
    // matched.
    let cmpxchg = |op: &str, r0: &str| {
        format!("stdw [%r10-8], 0x10\nmov %r1, 3\nlddw %r0, {r0}\nlock {op} [%r10-8], %r1\nldxdw %r2, [%r10-8]\nlsh %r2, 32\nor %r0, %r2\nexit")
    };
    assert_eq!(run(&cmpxchg("cmpxchg", "0x10")), Ok(3 << 32 | 0x10));
    assert_eq!(run(&cmpxchg("cmpxchg", "0x11")), Ok(0x10 << 32 | 0x10));
    assert_eq!(run(&cmpxchg("cmpxchg32", "0xffffffff00000010")), Ok(3 << 32 | 0x10));
    assert_eq!(run(&cmpxchg("cmpxchg", "0xffffffff00000010")), Ok(0x10 << 32 | 0x10));
}

#[test]
fn load_acquire_and_store_release() {
    let (r0, r1, r10) = (Reg::R0, Reg::R1, Reg::R10);
    let ops = [
        Op::Alu {
            width: bpf_patch::op::Width::W64,
            op: bpf_patch::op::AluOp::Mov,
            dst: r1,
            src: bpf_patch::op::Operand::Imm(-2),
        },
        Op::Atomic { size: Size::H, op: AtomicOp::StoreRelease, dst: r10, src: r1, off: -2 },
        Op::Atomic { size: Size::H, op: AtomicOp::LoadAcquire, dst: r0, src: r10, off: -2 },
        Op::Exit,
    ];
    let mut vm = Interpreter::new(Program::new(&encode_all(&ops)).expect("loads"));
    assert_eq!(vm.run(&[]).map(|e| e.r0), Ok(0xfffe));
}

#[test]
fn calls_preserve_callee_saved_and_use_their_own_stack() {
    let src = "mov %r6, 6\nmov %r9, 9\nstdw [%r10-8], 1\nmov %r1, %r10\ncall local f\n\
               ldxdw %r2, [%r10-8]\nadd %r0, %r2\nadd %r0, %r6\nadd %r0, %r9\nexit\n\
               f:\nstdw [%r10-8], 100\nldxdw %r0, [%r1-8]\nldxdw %r3, [%r10-8]\nadd %r0, %r3\n\
               mov %r6, 0\nmov %r9, 0\nexit";
    // callee: caller's slot (1) + own slot (100); caller: + its slot (1) + r6 + r9.
    assert_eq!(run(src), Ok(1 + 100 + 1 + 6 + 9));
}

/// (name, program, expected fault, slot it names).
type FaultCase = (&'static str, &'static str, fn(&Fault) -> bool, u32);

#[test]
fn frame_faults_name_their_slot() {
    #[rustfmt::skip]
    let cases: &[FaultCase] = &[
        ("recursion exceeds 8 frames", "mov %r0, 0\ncall local f\nexit\nf:\ncall local f\nexit",
            |f| matches!(f, Fault::CallDepth { max: 8, .. }), 3),
        ("callee's stack is gone after return", "call local f\nldxdw %r0, [%r0-8]\nexit\nf:\nmov %r0, %r10\nexit",
            |f| matches!(f, Fault::Memory { source: MemError::Unmapped { .. }, .. }), 1),
        ("callee cannot read caller's r6", "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit",
            |f| matches!(f, Fault::UninitRegister { reg: Reg::R6, .. }), 3),
        ("r1-r5 are clobbered by a call", "mov %r1, 1\ncall local f\nmov %r0, %r1\nexit\nf:\nmov %r0, 0\nexit",
            |f| matches!(f, Fault::UninitRegister { reg: Reg::R1, .. }), 2),
    ];
    for (name, src, ok, slot) in cases {
        let err = run(src).expect_err(name);
        assert!(ok(&err), "{name}: {err}");
        assert_eq!(err.slot(), Slot(*slot), "{name}");
    }
}

#[test]
fn memory_and_register_faults_name_their_slot() {
    #[rustfmt::skip]
    let cases: &[FaultCase] = &[
        ("stack top overrun", "mov %r0, 0\nldxdw %r0, [%r10-4]\nexit",
            |f| matches!(f, Fault::Memory { source: MemError::OutOfBounds { kind: RegionKind::Stack { depth: 0 }, .. }, .. }), 1),
        ("below the stack", "stb [%r10-513], 0\nexit",
            |f| matches!(f, Fault::Memory { source: MemError::Unmapped { .. }, .. }), 0),
        ("buffer overrun", "mov %r0, 0\nldxdw %r0, [%r1+12]\nexit",
            |f| matches!(f, Fault::Memory { source: MemError::OutOfBounds { kind: RegionKind::Buffer, len: 16, .. }, .. }), 1),
        ("null dereference", "mov %r1, 0\nldxb %r0, [%r1]\nexit",
            |f| matches!(f, Fault::Memory { source: MemError::Unmapped { addr: 0, size: 1 }, .. }), 1),
        ("atomic out of bounds", "mov %r0, 0\nlock add [%r1+16], %r0\nexit",
            |f| matches!(f, Fault::Memory { .. }), 1),
        ("uninitialised r0 at exit", "exit",
            |f| matches!(f, Fault::UninitRegister { reg: Reg::R0, .. }), 0),
        ("uninitialised source", "mov %r0, %r7\nexit",
            |f| matches!(f, Fault::UninitRegister { reg: Reg::R7, .. }), 0),
        ("write to r10", "mov %r10, 0\nexit",
            |f| matches!(f, Fault::WriteFramePointer { .. }), 0),
        ("unknown helper", "call 9999\nexit",
            |f| matches!(f, Fault::UnknownHelper { id: 9999, .. }), 0),
        ("callx to garbage", "lddw %r2, 0x123456789\ncall %r2\nexit",
            |f| matches!(f, Fault::BadCallx { .. }), 2),
        ("falls off the end", "mov %r0, 0",
            |f| matches!(f, Fault::FallOffEnd { .. }), 0),
    ];
    for (name, src, ok, slot) in cases {
        let err = match Program::new(&assemble(src).expect("assembles")) {
            Ok(p) => {
                let mut vm = Interpreter::new(p);
                let base = vm.memory.map(RegionKind::Buffer, vec![0; 16], true);
                vm.run(&[base, 16]).expect_err(name)
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert!(ok(&err), "{name}: {err}");
        assert_eq!(err.slot(), Slot(*slot), "{name}");
    }
}

#[test]
fn read_only_context_is_not_writable() {
    let mut vm = Interpreter::new(program("stw [%r1], 1\nexit"));
    let ctx = vm.memory.map(RegionKind::Context, vec![0; 8], false);
    let err = vm.run(&[ctx]).expect_err("context is read-only");
    assert!(matches!(err, Fault::Memory { slot: Slot(0), source: MemError::ReadOnly { .. } }), "{err}");
}

#[test]
fn bad_targets_are_refused_at_load() {
    let cases = ["ja +5\nexit", "ja -3\nexit", "ja +1\nlddw %r0, 1\nexit", "call local f\nexit\nf: exit"];
    for (i, src) in cases.iter().enumerate() {
        let insns = assemble(src).expect("assembles");
        let res = Program::new(&insns);
        if i == 3 {
            assert!(res.is_ok(), "{src}");
        } else {
            assert!(matches!(res, Err(LoadError::BadTarget { slot: Slot(0), .. })), "{src}: {res:?}");
        }
    }
    assert_eq!(Program::new(&[]).err(), Some(LoadError::Empty));
    let bad = Program::new(&assemble("ja +5\nexit").expect("assembles")).expect_err("bad target");
    assert_eq!(bad.slot(), Some(Slot(0)));
}

#[test]
fn instruction_budget_stops_endless_loops() {
    let mut vm = Interpreter::new(program("mov %r0, 0\nL: add %r0, 1\nja L\nexit"));
    vm.config.insn_budget = 1000;
    let err = vm.run(&[]).expect_err("never exits");
    // mov, then (add, ja) pairs: the 1001st instruction is a `ja`.
    assert_eq!(err, Fault::Budget { slot: Slot(2), budget: 1000 });
    assert!(err.to_string().contains("instruction budget of 1000 exhausted"), "{err}");
    let mut vm = Interpreter::new(program("mov %r0, 0\nexit"));
    vm.config.insn_budget = 2;
    assert_eq!(vm.run(&[]).map(|e| e.insns), Ok(2));
    vm.config.insn_budget = 1;
    assert_eq!(vm.run(&[]), Err(Fault::Budget { slot: Slot(1), budget: 1 }));
}

#[test]
fn may_goto_falls_through_budget_times_then_jumps() {
    // r0 counts fall-throughs of `may_goto +2` until it jumps to the exit.
    let ops = [
        bpf_patch::filter::mov64_imm(Reg::R0, 0),
        Op::MayGoto { off: 2 },
        bpf_patch::filter::alu64_imm(bpf_patch::op::AluOp::Add, Reg::R0, 1),
        Op::Ja { off: -3 },
        Op::Exit,
    ];
    let mut vm = Interpreter::new(Program::new(&encode_all(&ops)).expect("loads"));
    vm.config.may_goto_budget = 5;
    assert_eq!(vm.run(&[]).map(|e| e.r0), Ok(5));
    vm.config.may_goto_budget = 0;
    assert_eq!(vm.run(&[]).map(|e| e.r0), Ok(0));
}

#[test]
fn ld_abs_and_ld_ind_read_the_packet_big_endian() {
    let packet: Vec<u8> = vec![0x11, 0x22, 0x33, 0x44, 0x55];
    #[rustfmt::skip]
    let cases: &[(&str, u64)] = &[
        ("ldabsb 1\nexit", 0x22),
        ("ldabsh 0\nexit", 0x1122),
        ("ldabsw 1\nexit", 0x2233_4455),
        ("mov %r2, 2\nldindh %r2, 1\nexit", 0x4455),
        ("ldabsw 2\nexit", 0),             // out of bounds: the program returns 0
        ("mov %r0, 7\nldabsb 5\nexit", 0), // one past the end
        ("mov %r2, -1\nldindb %r2, 0\nexit", 0),
        ("mov %r2, -1\nldindb %r2, 2\nexit", 0x22), // 32-bit wrapping add
        ("lddw %r2, 0x100000001\nldindb %r2, 0\nexit", 0x22), // high half ignored
        // out of bounds in a subprogram exits that frame only, with R0 = 0
        ("mov %r6, 5\ncall local f\nadd %r0, %r6\nexit\nf:\nldabsb 9\nmov %r0, 1\nexit", 5),
    ];
    for (src, want) in cases {
        let mut vm = Interpreter::new(program(src));
        vm.memory.map(RegionKind::Packet, packet.clone(), false);
        assert_eq!(vm.run(&[]).map(|e| e.r0), Ok(*want), "{src}");
    }
    let mut vm = Interpreter::new(program("mov %r1, 0\nldabsb 0\nmov %r0, %r1\nexit"));
    vm.memory.map(RegionKind::Packet, packet, false);
    let err = vm.run(&[]).expect_err("r1 is clobbered");
    assert!(matches!(err, Fault::UninitRegister { reg: Reg::R1, .. }), "{err}");
}

#[test]
fn helpers_use_the_settable_clock_and_seeded_rng() {
    let mut vm = Interpreter::new(program("call 5\nmov %r6, %r0\ncall 5\nsub %r0, %r6\nexit"));
    vm.kernel.clock_ns = 1_000;
    vm.kernel.clock_step_ns = 250;
    assert_eq!(vm.run(&[]).map(|e| e.r0), Ok(250));
    assert_eq!(vm.kernel.clock_ns, 1_500);

    let rand = |seed| {
        let mut vm = Interpreter::new(program("call 7\nexit"));
        vm.kernel.rng = Prng::new(seed);
        vm.run(&[]).map(|e| e.r0)
    };
    assert_eq!(rand(1), rand(1));
    assert_ne!(rand(1), rand(2));
    assert!(rand(3).is_ok_and(|v| v <= u64::from(u32::MAX)));
}

#[test]
fn registered_helpers_see_memory_and_report_errors() {
    let mut vm = Interpreter::new(program("mov %r2, 8\ncall 1000\nexit"));
    vm.helpers.register(
        1000,
        "sum_bytes",
        Box::new(|env, [ptr, len, ..]| {
            let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX).min(64)];
            env.memory.read(ptr, &mut buf)?;
            Ok(buf.iter().map(|&b| u64::from(b)).sum())
        }),
    );
    let base = vm.memory.map(RegionKind::Buffer, (1..=8).collect(), false);
    assert_eq!(vm.run(&[base]).map(|e| e.r0), Ok(36));
    let err = vm.run(&[base + 1]).expect_err("reads past the buffer");
    assert!(matches!(err, Fault::Helper { slot: Slot(1), id: 1000, .. }), "{err}");
}

#[test]
fn pseudo_func_address_is_callable_with_callx() {
    let ops = [
        Op::LdImm64 { dst: Reg::R2, src: LdImm64Src::Func, imm: 3, next_imm: 0 },
        Op::Callx { reg: Reg::R2 },
        Op::Exit,                                  // slot 3
        bpf_patch::filter::mov64_imm(Reg::R0, 42), // slot 4 = 0 + 1 + 3
        Op::Exit,
    ];
    let mut vm = Interpreter::new(Program::new(&encode_all(&ops)).expect("loads"));
    assert_eq!(vm.run(&[]), Ok(Exit { r0: 42, insns: 5 }));
}

/// Opcodes that decode with all other fields zero (plus `ld_imm64`), to bias random programs
/// towards loadable ones.
fn loadable_codes() -> Vec<u8> {
    let tail = bpf_patch::Insn::new(0, 0, 0, 0, 0);
    (0..=255u8)
        .filter(|&c| Op::decode(&[bpf_patch::Insn::new(c, 0, 0, 0, 0), tail], Slot(0)).is_ok())
        .collect()
}

proptest::proptest! {
    /// Any slot stream either fails to load or runs to an exit or a fault: never a panic.
    #[test]
    fn arbitrary_programs_never_panic(
        slots in proptest::collection::vec(
            (
                proptest::prelude::any::<proptest::sample::Index>(),
                0u8..11,
                0u8..11,
                proptest::prop_oneof![proptest::strategy::Just(0i16), -4i16..4, 8i16..17],
                proptest::prop_oneof![proptest::strategy::Just(0i32), -8i32..8, proptest::prelude::any::<i32>()],
            ),
            1..24,
        ),
    ) {
        let codes = loadable_codes();
        let tail = bpf_patch::Insn::new(0, 0, 0, 0, 0);
        // Keep the slots that decode on their own, then end with `r0 = 0; exit`.
        let mut insns = Vec::new();
        for &(code, dst, src, off, imm) in &slots {
            let insn = bpf_patch::Insn::new(*code.get(&codes), dst, src, off, imm);
            if let Ok(op) = Op::decode(&[insn, tail], Slot(0)) {
                insns.push(insn);
                if op.slots() == 2 {
                    insns.push(tail);
                }
            }
        }
        insns.extend(encode_all(&[bpf_patch::filter::mov64_imm(Reg::R0, 0), Op::Exit]));
        if let Ok(p) = Program::new(&insns) {
            let mut vm = Interpreter::new(p);
            vm.config.insn_budget = 2_000;
            vm.config.may_goto_budget = 3;
            let base = vm.memory.map(RegionKind::Buffer, vec![0; 64], true);
            vm.memory.map(RegionKind::Packet, vec![0xab; 32], false);
            let r = vm.run(&[base, 64]);
            if let Ok(exit) = r {
                proptest::prop_assert!(exit.insns <= 2_000);
            }
        }
    }
}
