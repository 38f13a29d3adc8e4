//! Soundness of the abstract verifier against the concrete interpreter: for random ALU/JMP
//! programs (64- and 32-bit, register and immediate operands, forward conditional jumps), every
//! register value the interpreter sees before an instruction is allowed by some abstract state
//! the explorer visited at that instruction, whenever that register is a scalar there.

use bpf_patch::filter::{
    alu32_imm, alu32_reg, alu64_imm, alu64_reg, exit, jmp32_imm, jmp_imm, jmp_reg, mov64_imm,
};
use bpf_patch::op::{decode_all, encode_all, AluOp, Cond, Op, Reg as R};
use bpf_verifier_model::interp::{Program, Vm};
use bpf_verifier_model::load::ProgType;
use bpf_verifier_model::verifier::explore::{verify_observed, Env, Outcome};
use bpf_verifier_model::verifier::helpers::Version;
use bpf_verifier_model::verifier::live::Liveness;
use bpf_verifier_model::verifier::state::{Reg, State};
use proptest::prelude::*;

const REGS: [R; 6] = [R::R0, R::R1, R::R2, R::R3, R::R4, R::R5];

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop::sample::select(vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Mod,
        AluOp::Or,
        AluOp::And,
        AluOp::Xor,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Arsh,
        AluOp::Mov,
        AluOp::Movsx(8),
        AluOp::Movsx(16),
    ])
}

fn cond() -> impl Strategy<Value = Cond> {
    prop::sample::select(vec![
        Cond::Eq,
        Cond::Ne,
        Cond::Set,
        Cond::Gt,
        Cond::Ge,
        Cond::Lt,
        Cond::Le,
        Cond::Sgt,
        Cond::Sge,
        Cond::Slt,
        Cond::Sle,
    ])
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![-8i32..8, any::<i32>(), Just(i32::MIN), Just(0x7fff_ffff)]
}

/// One instruction of the body; jumps skip forward by 1 to 3 and are fixed up to stay inside.
fn insn() -> impl Strategy<Value = Op> {
    let reg = prop::sample::select(REGS.to_vec());
    prop_oneof![
        4 => (alu_op(), reg.clone(), imm(), any::<bool>()).prop_map(|(op, d, i, w)| {
            let i = if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) { i.rem_euclid(if w { 64 } else { 32 }) } else { i };
            // Sign-extending moves exist only in register form.
            let op = if matches!(op, AluOp::Movsx(_)) { AluOp::Mov } else { op };
            if w { alu64_imm(op, d, i) } else { alu32_imm(op, d, i) }
        }),
        3 => (alu_op(), reg.clone(), reg.clone(), any::<bool>()).prop_filter_map("no variable shifts", |(op, d, s, w)| {
            (!matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh)).then(|| if w { alu64_reg(op, d, s) } else { alu32_reg(op, d, s) })
        }),
        2 => (cond(), reg.clone(), imm(), 0i16..3, any::<bool>()).prop_map(|(c, d, i, off, w)| if w { jmp_imm(c, d, i, off) } else { jmp32_imm(c, d, i, off) }),
        1 => (cond(), reg.clone(), reg, 0i16..3).prop_map(|(c, d, s, off)| jmp_reg(c, d, s, off)),
    ]
}

fn program() -> impl Strategy<Value = Vec<Op>> {
    (prop::collection::vec(imm(), 6), prop::collection::vec(insn(), 1..24)).prop_map(|(init, body)| {
        let mut ops: Vec<Op> = REGS.iter().zip(init).map(|(r, i)| mov64_imm(*r, i)).collect();
        let n = body.len();
        for (k, op) in body.into_iter().enumerate() {
            // Keep every jump inside the body (the exit is its last target).
            let op = match op {
                Op::Jump { width, cond, dst, src, off } => {
                    Op::Jump { width, cond, dst, src, off: off.min((n - k - 1) as i16) }
                }
                other => other,
            };
            ops.push(op);
        }
        ops.push(exit());
        ops
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn concrete_states_are_inside_the_abstract_ones(ops in program()) {
        let insns = encode_all(&ops);
        let env = Env::new(ProgType::Xdp);
        let mut seen: Vec<Vec<State>> = vec![Vec::new(); insns.len()];
        let report = verify_observed(&insns, &env, &mut |pc, st| seen[pc].push(st.clone())).expect("decodes");
        prop_assert_eq!(&report.outcome, &Outcome::Accept, "straight ALU/JMP programs verify");
        let mut vm = Vm::new(Program::new(&insns).expect("decodes"));
        vm.trace = Some(Vec::new());
        vm.run([0; 5]).expect("runs");
        // A path may be pruned by a state that differs in registers nobody reads again: only
        // live registers are promised.
        let live = Liveness::new(&decode_all(&insns).expect("decodes"), insns.len(), Version::Current);
        let mut regs = [0u64; 11];
        for step in vm.trace.take().expect("traced") {
            let pc = step.slot.index();
            let states = &seen[pc];
            prop_assert!(!states.is_empty(), "the interpreter reached {} which the explorer never visited", pc);
            for (r, &v) in regs.iter().enumerate().take(6) {
                if !live.is_live(pc, r) {
                    continue;
                }
                let inside = states.iter().any(|s| match s.cur().regs[r] {
                    Reg::Scalar(a) => a.contains(v),
                    _ => true,
                });
                prop_assert!(inside, "insn {}: r{} = {:#x} is in no abstract state: {:?}", pc, r, v, states.iter().map(|s| s.cur().regs[r]).collect::<Vec<_>>());
            }
            for (reg, value) in step.changed {
                regs[usize::from(reg.num())] = value;
            }
        }
    }
}
