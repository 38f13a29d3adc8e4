//! The interpreter against the kernel: random ALU/JMP programs (32- and 64-bit, register and
//! immediate operands, signed division, sign-extending moves, byte swaps, forward conditional
//! jumps) are loaded into the running kernel as XDP programs and run with `BPF_PROG_TEST_RUN`,
//! and in `bpf_verifier_model`'s interpreter; the return values must agree.
#![cfg(feature = "kernel")]
#![allow(clippy::print_stderr)]

mod common;

use bpf_patch::filter::{
    alu32_imm, alu32_reg, alu64_imm, alu64_reg, exit, jmp32_imm, jmp_reg, ld_imm64, mov64_imm,
};
use bpf_patch::op::{encode_all, AluOp, Cond, Op, Reg, Swap};
use bpf_verifier_model::interp::{Program, Vm};
use bpfpatch::kernel::raw::{RawError, RawProgram};
use proptest::prelude::*;

const BPF_PROG_TYPE_XDP: u32 = 6;
const REGS: [Reg; 6] = [Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop_oneof![
        Just(AluOp::Add),
        Just(AluOp::Sub),
        Just(AluOp::Mul),
        Just(AluOp::Div),
        Just(AluOp::Sdiv),
        Just(AluOp::Or),
        Just(AluOp::And),
        Just(AluOp::Lsh),
        Just(AluOp::Rsh),
        Just(AluOp::Mod),
        Just(AluOp::Smod),
        Just(AluOp::Xor),
        Just(AluOp::Mov),
        Just(AluOp::Arsh),
        Just(AluOp::Movsx(8)),
        Just(AluOp::Movsx(16)),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::Eq),
        Just(Cond::Gt),
        Just(Cond::Ge),
        Just(Cond::Set),
        Just(Cond::Ne),
        Just(Cond::Sgt),
        Just(Cond::Sge),
        Just(Cond::Lt),
        Just(Cond::Le),
        Just(Cond::Slt),
        Just(Cond::Sle),
    ]
}

/// One instruction of the body; jumps carry a forward distance resolved when the program is
/// built.
#[derive(Clone, Debug)]
enum Step {
    Alu { wide: bool, op: AluOp, dst: usize, src: Option<usize>, imm: i32 },
    Swap { kind: u8, bits: u8, dst: usize },
    Neg { dst: usize },
    Jump { wide: bool, cond: Cond, dst: usize, src: Option<usize>, imm: i32, skip: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    let imm = prop_oneof![any::<i32>(), -8i32..8, Just(i32::MIN), Just(-1)];
    prop_oneof![
        6 => (any::<bool>(), alu_op(), 0..6usize, prop::option::of(0..6usize), imm.clone())
            .prop_map(|(wide, op, dst, src, imm)| Step::Alu { wide, op, dst, src, imm }),
        1 => (0..3u8, prop_oneof![Just(16u8), Just(32), Just(64)], 0..6usize).prop_map(|(kind, bits, dst)| Step::Swap { kind, bits, dst }),
        1 => (0..6usize).prop_map(|dst| Step::Neg { dst }),
        2 => (any::<bool>(), cond(), 0..6usize, prop::option::of(0..6usize), imm, 0..6u8)
            .prop_map(|(wide, cond, dst, src, imm, skip)| Step::Jump { wide, cond, dst, src, imm, skip }),
    ]
}

/// Builds a program the verifier accepts: all of R0-R5 initialised, shift and division
/// immediates in range, forward jumps only, then `exit`.
fn build(init: &[u64; 6], steps: &[Step]) -> Vec<bpf_patch::Insn> {
    let mut ops: Vec<Op> = init
        .iter()
        .zip(REGS)
        .map(|(&v, r)| if v >> 31 == 0 { mov64_imm(r, v as i32) } else { ld_imm64(r, v) })
        .collect();
    let n = steps.len();
    for (i, s) in steps.iter().enumerate() {
        ops.push(match *s {
            Step::Alu { wide, op, dst, src, imm } => {
                let (d, bits) = (REGS[dst], if wide { 64 } else { 32 });
                match (src, op) {
                    (Some(s), _) => {
                        if wide {
                            alu64_reg(op, d, REGS[s])
                        } else {
                            alu32_reg(op, d, REGS[s])
                        }
                    }
                    // Movsx takes a register; the verifier rejects out-of-range shift immediates
                    // and a zero divisor immediate.
                    (None, AluOp::Movsx(_)) => {
                        if wide {
                            alu64_reg(op, d, Reg::R1)
                        } else {
                            alu32_reg(op, d, Reg::R1)
                        }
                    }
                    (None, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) => {
                        let imm = imm.rem_euclid(bits);
                        if wide {
                            alu64_imm(op, d, imm)
                        } else {
                            alu32_imm(op, d, imm)
                        }
                    }
                    (None, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod) => {
                        let imm = if imm == 0 { 7 } else { imm };
                        if wide {
                            alu64_imm(op, d, imm)
                        } else {
                            alu32_imm(op, d, imm)
                        }
                    }
                    (None, _) => {
                        if wide {
                            alu64_imm(op, d, imm)
                        } else {
                            alu32_imm(op, d, imm)
                        }
                    }
                }
            }
            Step::Swap { kind, bits, dst } => {
                let swap = [Swap::ToLe, Swap::ToBe, Swap::Bswap][usize::from(kind)];
                Op::Endian { swap, bits, dst: REGS[dst] }
            }
            Step::Neg { dst } => bpf_patch::filter::neg64(REGS[dst]),
            Step::Jump { wide, cond, dst, src, imm, skip } => {
                // Stay inside the body: at most to the `exit`.
                let off = i16::from(skip).min((n - i - 1) as i16);
                match (wide, src) {
                    (true, Some(s)) => jmp_reg(cond, REGS[dst], REGS[s], off),
                    (true, None) => bpf_patch::filter::jmp_imm(cond, REGS[dst], imm, off),
                    (false, Some(s)) => bpf_patch::filter::jmp32_reg(cond, REGS[dst], REGS[s], off),
                    (false, None) => jmp32_imm(cond, REGS[dst], imm, off),
                }
            }
        });
    }
    ops.push(exit());
    encode_all(&ops)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn interpreter_and_kernel_agree_on_random_alu_jmp_programs(
        init in prop::array::uniform6(any::<u64>()),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        if !common::kernel() {
            return Ok(());
        }
        let insns = build(&init, &steps);
        let kernel = match RawProgram::load(BPF_PROG_TYPE_XDP, &insns) {
            Ok(p) => p,
            Err(RawError::Rejected(log)) => {
                prop_assert!(false, "the kernel rejected a generated program: {:?}\n{}", log.message,
                    bpf_patch::text::listing(&insns).unwrap_or_default());
                unreachable!()
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let want = kernel.test_run(&[0u8; 64]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut vm = Vm::new(Program::new(&insns).expect("generated code decodes"));
        let got = vm.run([0; 5]).map_err(|e| TestCaseError::fail(format!("interpreter: {e}")))?;
        prop_assert_eq!(got.r0 as u32, want, "{}", bpf_patch::text::listing(&insns).unwrap_or_default());
    }
}
