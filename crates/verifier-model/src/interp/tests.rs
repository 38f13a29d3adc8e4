//! Whole-program tests of the interpreter, built with `bpf_patch::filter` constructors.

use bpf_patch::filter::*;
use bpf_patch::op::{encode_all, AluOp, AtomicOp, Cond, LdImm64Src, Op, Reg, Size};

use super::*;

fn vm(ops: &[Op]) -> Vm {
    Vm::new(Program::new(&encode_all(ops)).expect("test programs are well-formed"))
}

fn run(ops: &[Op]) -> Result<u64, InterpError> {
    vm(ops).run([0; 5]).map(|o| o.r0)
}

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R6: Reg = Reg::R6;
const FP: Reg = Reg::R10;

#[test]
fn programs_compute_the_kernel_results() {
    let cases: Vec<(&str, Vec<Op>, u64)> = vec![
        ("div by zero", vec![mov64_imm(R0, 9), alu64_imm(AluOp::Div, R0, 0), exit()], 0),
        (
            "mod by zero keeps",
            vec![mov64_imm(R0, 9), mov64_imm(R1, 0), alu64_reg(AluOp::Mod, R0, R1), exit()],
            9,
        ),
        ("alu32 zero-extends", vec![mov64_imm(R0, -1), alu32_imm(AluOp::Add, R0, 1), exit()], 0),
        ("mov32 imm -1", vec![mov32_imm(R0, -1), exit()], 0xffff_ffff),
        ("sdiv intmin/-1", vec![ld_imm64(R0, 1 << 63), alu64_imm(AluOp::Sdiv, R0, -1), exit()], 1 << 63),
        ("movsx8", vec![mov64_imm(R1, 0x80), movsx64_reg(R0, R1, 8), exit()], 0xffff_ffff_ffff_ff80),
        ("be16", vec![mov64_imm(R0, 0x1234), endian(bpf_patch::op::Swap::ToBe, R0, 16), exit()], 0x3412),
        ("ld_imm64", vec![ld_imm64(R0, 0x1122_3344_5566_7788), exit()], 0x1122_3344_5566_7788),
        (
            "jmp32 ignores high bits",
            vec![
                ld_imm64(R1, 0x1_0000_0005),
                mov64_imm(R0, 1),
                jmp32_imm(Cond::Eq, R1, 5, 1),
                mov64_imm(R0, 2),
                exit(),
            ],
            1,
        ),
        (
            "jmp64 sees high bits",
            vec![
                ld_imm64(R1, 0x1_0000_0005),
                mov64_imm(R0, 1),
                jmp_imm(Cond::Eq, R1, 5, 1),
                mov64_imm(R0, 2),
                exit(),
            ],
            2,
        ),
        (
            "jsgt imm is sign-extended",
            vec![mov64_imm(R1, 0), mov64_imm(R0, 1), jmp_imm(Cond::Sgt, R1, -1, 1), mov64_imm(R0, 2), exit()],
            1,
        ),
        ("gotol", vec![mov64_imm(R0, 1), jmp32_a(1), mov64_imm(R0, 2), exit()], 1),
        (
            "stack store and signed load",
            vec![st_mem(Size::H, FP, -2, -2), ldx_memsx(Size::H, R0, FP, -2), exit()],
            (-2i64) as u64,
        ),
        (
            "loop sums 1..=10",
            vec![
                mov64_imm(R0, 0),
                mov64_imm(R1, 10),
                alu64_reg(AluOp::Add, R0, R1),
                alu64_imm(AluOp::Sub, R1, 1),
                jmp_imm(Cond::Ne, R1, 0, -3),
                exit(),
            ],
            55,
        ),
    ];
    for (name, ops, want) in cases {
        assert_eq!(run(&ops), Ok(want), "{name}");
    }
}

#[test]
fn atomics_update_memory_and_fetch() {
    let base = vec![ld_imm64(R1, 0x10), stx_mem(Size::DW, FP, R1, -8), mov64_imm(R0, 0x10)];
    let cases: Vec<(AtomicOp, Size, i32, u64, u64)> = vec![
        // (op, size, src value, expected memory, expected fetched register)
        (AtomicOp::Add { fetch: true }, Size::DW, 5, 0x15, 0x10),
        (AtomicOp::Or { fetch: true }, Size::DW, 3, 0x13, 0x10),
        (AtomicOp::And { fetch: true }, Size::DW, 0x30, 0x10, 0x10),
        (AtomicOp::Xor { fetch: true }, Size::W, 0x11, 0x01, 0x10),
        (AtomicOp::Xchg, Size::DW, 7, 7, 0x10),
        (AtomicOp::Add { fetch: false }, Size::W, -1, 0x0f, 5),
    ];
    for (op, size, v, mem_want, reg_want) in cases {
        let mut ops = base.clone();
        ops.extend([
            mov64_imm(R2, v),
            atomic_op(size, op, FP, R2, -8),
            ldx_mem(Size::DW, R0, FP, -8),
            // Fold the fetched register into the upper half of R0.
            alu64_imm(AluOp::Lsh, R2, 32),
            alu64_reg(AluOp::Or, R0, R2),
            exit(),
        ]);
        let reg = if matches!(op, AtomicOp::Add { fetch: false }) { v as u64 } else { reg_want };
        assert_eq!(run(&ops), Ok(mem_want | (reg << 32)), "{op:?}");
    }
    // cmpxchg: success writes and R0 gets the old value; failure leaves memory.
    for (r0, want_mem) in [(0x10, 0x99), (0x11, 0x10)] {
        let mut ops = base.clone();
        ops.extend([
            mov64_imm(R0, r0),
            mov64_imm(R2, 0x99),
            atomic_op(Size::DW, AtomicOp::Cmpxchg, FP, R2, -8),
            ldx_mem(Size::DW, R1, FP, -8),
            alu64_imm(AluOp::Lsh, R1, 32),
            alu64_reg(AluOp::Or, R0, R1),
            exit(),
        ]);
        assert_eq!(run(&ops), Ok(0x10 | (want_mem << 32)), "cmpxchg with r0 = {r0}");
    }
}

#[test]
fn faults_carry_the_slot() {
    let oob = run(&[mov64_imm(R0, 0), ld_imm64(R1, 0), ldx_mem(Size::W, R0, FP, 0), exit()]);
    assert!(
        matches!(oob, Err(InterpError::Memory { slot: Slot(3), source: MemError::OutOfBounds { .. } })),
        "{oob:?}"
    );
    let unmapped = run(&[mov64_imm(R1, 64), ldx_mem(Size::B, R0, R1, 0), exit()]);
    assert!(matches!(
        unmapped,
        Err(InterpError::Memory { slot: Slot(1), source: MemError::Unmapped { .. } })
    ));
    let below = run(&[st_mem(Size::DW, FP, -520, 1), exit()]);
    assert!(matches!(below, Err(InterpError::Memory { slot: Slot(0), .. })), "{below:?}");
    assert_eq!(run(&[mov64_imm(R0, 0)]), Err(InterpError::FellOffEnd { slot: Slot(0) }));
    assert!(matches!(run(&[jmp_a(5), exit()]), Err(InterpError::BadJump { slot: Slot(0), target: 6 })));
    assert!(matches!(
        run(&[call_helper(99), exit()]),
        Err(InterpError::UnknownHelper { slot: Slot(0), id: 99 })
    ));
}

#[test]
fn budget_stops_an_infinite_loop() {
    let mut v = vm(&[jmp_a(-1), exit()]);
    v.budget = 1000;
    assert_eq!(v.run([0; 5]), Err(InterpError::BudgetExceeded { slot: Slot(0), budget: 1000 }));
}

#[test]
fn may_goto_exits_after_the_per_frame_budget() {
    // r0 counts iterations of `may_goto +1; r0 += 1; goto -3`.
    let mut v = vm(&[mov64_imm(R0, 0), may_goto(2), alu64_imm(AluOp::Add, R0, 1), jmp_a(-3), exit()]);
    v.budget = 4 * BPF_MAX_LOOPS;
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(BPF_MAX_LOOPS));
}

#[test]
fn local_calls_get_fresh_stacks_and_preserve_r6_r9() {
    let ops = [
        mov64_imm(R6, 6),
        st_mem(Size::DW, FP, -8, 42),
        call_rel(4),
        ldx_mem(Size::DW, R1, FP, -8),
        alu64_reg(AluOp::Add, R0, R1),
        alu64_reg(AluOp::Add, R0, R6),
        exit(),
        // callee: clobbers r6 and its own stack slot
        mov64_imm(R6, 100),
        st_mem(Size::DW, FP, -8, 1000),
        ldx_mem(Size::DW, R0, FP, -8),
        exit(),
    ];
    assert_eq!(run(&ops), Ok(1000 + 42 + 6));
    // Unbounded recursion hits the frame limit.
    let rec = run(&[call_rel(-1), exit()]);
    assert!(matches!(rec, Err(InterpError::CallDepth { slot: Slot(0) })), "{rec:?}");
}

#[test]
fn ld_abs_reads_big_endian_and_out_of_bounds_returns_zero() {
    for (off, want) in [(0, 0x0102), (2, 0x0304), (3, 0)] {
        let mut v = vm(&[mov64_imm(R0, 7), ld_abs(Size::H, off), exit()]);
        let id = v.memory.map(RegionKind::Packet, vec![9, 9, 1, 2, 3, 4], true);
        v.packet = Some((id, 2, 6));
        assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(want), "offset {off}");
    }
    let mut v = vm(&[mov64_imm(R1, 1), ld_ind(Size::B, R1, 2), exit()]);
    let id = v.memory.map(RegionKind::Packet, vec![1, 2, 3, 4], true);
    v.packet = Some((id, 0, 4));
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(4));
}

#[test]
fn bpf_loop_runs_a_callback_through_pseudo_func() {
    // r1 = 5; r2 = &callback; r3 = fp-8 (counter); r4 = 0; call bpf_loop; r0 = *(fp-8)
    let ops = [
        st_mem(Size::DW, FP, -8, 0),
        mov64_imm(R1, 5),
        ld_imm64_raw(R2, LdImm64Src::Func, 7),
        mov64_reg(Reg::R3, FP),
        alu64_imm(AluOp::Add, Reg::R3, -8),
        mov64_imm(Reg::R4, 0),
        call_helper(helpers::BPF_FUNC_LOOP),
        ldx_mem(Size::DW, R0, FP, -8),
        exit(),
        // callback(i, ctx): *ctx += i + 1; return 0
        alu64_imm(AluOp::Add, R1, 1),
        atomic_op(Size::DW, AtomicOp::Add { fetch: false }, R2, R1, 0),
        mov64_imm(R0, 0),
        exit(),
    ];
    let mut v = vm(&ops);
    v.helpers = Helpers::kernel(1);
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(15));
}

#[test]
fn callbacks_share_the_instruction_budget() {
    // bpf_loop(1 << 23, cb) with a two-instruction callback exceeds a budget of 10 000 inside
    // the callback: callbacks count against the run that called them.
    let ops = [
        mov64_imm(R1, 1 << 23),
        ld_imm64_raw(R2, LdImm64Src::Func, 4),
        mov64_imm(Reg::R3, 0),
        mov64_imm(Reg::R4, 0),
        call_helper(helpers::BPF_FUNC_LOOP),
        exit(),
        mov64_imm(R0, 0),
        exit(),
    ];
    let mut v = vm(&ops);
    v.helpers = Helpers::kernel(0);
    v.budget = 10_000;
    let e = v.run([0; 5]);
    assert!(matches!(e, Err(InterpError::Helper { source: HelperError::Callback(_), .. })), "{e:?}");
}

#[test]
fn clock_and_prandom_are_deterministic() {
    let ops = [call_helper(helpers::BPF_FUNC_KTIME_GET_NS), exit()];
    let mut v = vm(&ops);
    v.helpers = Helpers::kernel(7);
    v.helpers.clock_ns.set(123_456);
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(123_456));
    let ops = [call_helper(helpers::BPF_FUNC_GET_PRANDOM_U32), exit()];
    let draw = |seed| {
        let mut v = vm(&ops);
        v.helpers = Helpers::kernel(seed);
        v.run([0; 5]).map(|o| o.r0)
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}

const R3: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;

/// XDP: drop IPv4/UDP, pass everything else; bounds-checked against `data_end`.
fn xdp_drop_udp() -> Vec<Op> {
    vec![
        ldx_mem(Size::W, R2, R1, 0), // r2 = ctx->data
        ldx_mem(Size::W, R3, R1, 4), // r3 = ctx->data_end
        mov64_reg(R4, R2),
        alu64_imm(AluOp::Add, R4, 34), // eth + ipv4
        jmp_reg(Cond::Gt, R4, R3, 6),
        ldx_mem(Size::H, R5, R2, 12), // h_proto (network order)
        jmp_imm(Cond::Ne, R5, 0x0008, 4),
        ldx_mem(Size::B, R5, R2, 23), // iph->protocol
        jmp_imm(Cond::Ne, R5, 17, 2),
        mov64_imm(R0, 1), // XDP_DROP
        exit(),
        mov64_imm(R0, 2), // XDP_PASS
        exit(),
    ]
}

fn packet(ethertype: u16, proto: u8, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    if len >= 14 {
        p[12..14].copy_from_slice(&ethertype.to_be_bytes());
    }
    if len > 23 {
        p[23] = proto;
    }
    p
}

#[test]
fn xdp_program_parses_packets_through_xdp_md() {
    let cases = [
        ("udp", packet(0x0800, 17, 60), 1),
        ("tcp", packet(0x0800, 6, 60), 2),
        ("ipv6", packet(0x86dd, 17, 60), 2),
        ("runt", packet(0x0800, 17, 20), 2),
        ("exact", packet(0x0800, 17, 34), 1),
    ];
    for (name, pkt, want) in cases {
        let mut v = vm(&xdp_drop_udp());
        let r1 = v.setup_xdp(&XdpSetup::new(pkt));
        assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(want), "{name}");
    }
    // Without the bounds check, reading past the frame faults at the load's slot.
    let mut v = vm(&[ldx_mem(Size::W, R2, R1, 0), ldx_mem(Size::B, R0, R2, 40), exit()]);
    let r1 = v.setup_xdp(&XdpSetup::new(packet(0x0800, 17, 34)));
    let e = v.run([r1, 0, 0, 0, 0]);
    assert!(
        matches!(e, Err(InterpError::Memory { slot: Slot(1), source: MemError::OutOfBounds { .. } })),
        "{e:?}"
    );
    // xdp_md fields are read-only and other fields read as set up.
    let mut v = vm(&[st_mem(Size::W, R1, 12, 5), exit()]);
    let r1 = v.setup_xdp(&XdpSetup::new(vec![0; 64]));
    assert!(matches!(v.run([r1, 0, 0, 0, 0]), Err(InterpError::ContextWrite { offset: 12, .. })));
    let mut v = vm(&[ldx_mem(Size::W, R0, R1, 16), exit()]);
    let r1 = v.setup_xdp(&XdpSetup { rx_queue_index: 3, ..XdpSetup::new(vec![0; 64]) });
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(3));
}

#[test]
fn xdp_adjust_meta_and_head_move_the_pointers_like_the_kernel() {
    // r6 = ctx; adjust_meta(ctx, -8); meta = ctx->data_meta; *(u64 *)meta = 0x1122..;
    // adjust_head(ctx, 14); r0 = data_end - data
    let ops = [
        mov64_reg(R6, R1),
        mov64_imm(R2, -8),
        call_helper(ctx::BPF_FUNC_XDP_ADJUST_META),
        jmp_imm(Cond::Ne, R0, 0, 12),
        ldx_mem(Size::W, R2, R6, 8),
        ldx_mem(Size::W, R3, R6, 0),
        mov64_reg(R4, R2),
        alu64_imm(AluOp::Add, R4, 8),
        jmp_reg(Cond::Gt, R4, R3, 7),
        st_mem(Size::DW, R2, 0, 0x5566_7788),
        mov64_reg(R1, R6),
        mov64_imm(R2, 14),
        call_helper(ctx::BPF_FUNC_XDP_ADJUST_HEAD),
        ldx_mem(Size::W, R2, R6, 0),
        ldx_mem(Size::W, R0, R6, 4),
        alu64_reg(AluOp::Sub, R0, R2),
        exit(),
    ];
    let mut v = vm(&ops);
    v.helpers = Helpers::kernel(0);
    let pkt: Vec<u8> = (0..64).collect();
    let r1 = v.setup_xdp(&XdpSetup::new(pkt.clone()));
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(50));
    let x = v.xdp.expect("set up");
    let (meta, data) = x.output(&v.memory).expect("pointers are valid");
    assert_eq!(meta, 0x5566_7788u64.to_le_bytes());
    assert_eq!(data, pkt[14..]);
    // Kernel bounds: metadata must be a multiple of 4, may not eat the xdp_frame area, and
    // adjust_head must leave an Ethernet header.
    let cases = [
        (ctx::BPF_FUNC_XDP_ADJUST_META, -6, -13i64),
        (ctx::BPF_FUNC_XDP_ADJUST_META, -(256 - 40) - 4, -22),
        (ctx::BPF_FUNC_XDP_ADJUST_META, 4, -22),
        (ctx::BPF_FUNC_XDP_ADJUST_HEAD, 64 - 13, -22),
        (ctx::BPF_FUNC_XDP_ADJUST_HEAD, -(256 - 40), 0),
        (ctx::BPF_FUNC_XDP_ADJUST_HEAD, -(256 - 40) - 1, -22),
    ];
    for (helper, delta, want) in cases {
        let mut v = vm(&[mov64_imm(R2, delta), call_helper(helper), exit()]);
        v.helpers = Helpers::kernel(0);
        let r1 = v.setup_xdp(&XdpSetup::new(vec![0; 64]));
        assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0 as i64), Ok(want), "helper {helper} delta {delta}");
    }
}

/// Stores `key` at fp-4 and `value` at fp-16, then calls `helper(map, fp-4, fp-16, flags)`.
fn map_call(helper: i32, key: i32, value: i32, flags: i32) -> Vec<Op> {
    vec![
        st_mem(Size::W, FP, -4, key),
        st_mem(Size::DW, FP, -16, value),
        ld_map_fd(R1, 1),
        mov64_reg(R2, FP),
        alu64_imm(AluOp::Add, R2, -4),
        mov64_reg(R3, FP),
        alu64_imm(AluOp::Add, R3, -16),
        mov64_imm(R4, flags),
    ]
    .into_iter()
    .chain([call_helper(helper)])
    .collect()
}

fn map_vm(ops: &[Op], def: MapDef) -> (Vm, u64) {
    let mut v = vm(ops);
    v.helpers = Helpers::kernel(0);
    let handle = v.maps.create(&mut v.memory, def);
    v.ld_imm64_env.insert((LdImm64Src::MapFd, 1), handle);
    (v, handle)
}

#[test]
fn array_and_hash_maps_update_and_look_up() {
    let array = MapDef { kind: MapKind::Array, key_size: 4, value_size: 8, max_entries: 4 };
    let hash = MapDef { kind: MapKind::Hash, key_size: 4, value_size: 8, max_entries: 1 };
    // update then lookup, returning the looked-up value (or 0xdead when absent)
    let lookup_tail = [
        ld_map_fd(R1, 1),
        mov64_reg(R2, FP),
        alu64_imm(AluOp::Add, R2, -4),
        call_helper(maps::BPF_FUNC_MAP_LOOKUP_ELEM),
        jmp_imm(Cond::Eq, R0, 0, 2),
        ldx_mem(Size::DW, R0, R0, 0),
        exit(),
        mov64_imm(R0, 0xdead),
        exit(),
    ];
    let cases: Vec<(&str, MapDef, i32, i32, u64)> = vec![
        ("array update", array, 2, 0, 77),
        ("array out of range", array, 4, 0, 0xdead),
        ("array NOEXIST", array, 1, 1, 0),
        ("hash insert", hash, 9, 0, 77),
        ("hash EXIST on absent", hash, 9, 2, 0xdead),
    ];
    for (name, def, key, flags, want) in cases {
        let mut ops = map_call(maps::BPF_FUNC_MAP_UPDATE_ELEM, key, 77, flags);
        ops.extend(lookup_tail);
        let (mut v, _) = map_vm(&ops, def);
        assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(want), "{name}");
    }
    // A full hash map refuses a new key with -E2BIG; delete of an absent key is -ENOENT.
    let (mut v, h) = map_vm(
        &map_call(maps::BPF_FUNC_MAP_UPDATE_ELEM, 5, 1, 0).into_iter().chain([exit()]).collect::<Vec<_>>(),
        hash,
    );
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(0));
    assert!(v.maps.lookup(h, &5u32.to_le_bytes()).is_some());
    let mut ops = map_call(maps::BPF_FUNC_MAP_UPDATE_ELEM, 6, 1, 0);
    ops.push(exit());
    let (mut v2, _) = map_vm(&ops, hash);
    v2.maps = v.maps.clone();
    v2.memory = v.memory.clone();
    assert_eq!(v2.run([0; 5]).map(|o| o.r0 as i64), Ok(-7));
    let mut ops = map_call(maps::BPF_FUNC_MAP_DELETE_ELEM, 6, 0, 0);
    ops.push(exit());
    let (mut v3, _) = map_vm(&ops, hash);
    assert_eq!(v3.run([0; 5]).map(|o| o.r0 as i64), Ok(-2));
}

#[test]
fn queue_and_stack_maps_pop_in_their_order() {
    // push 1, push 2, pop → r0 = popped value
    let push = |v: i32| {
        vec![
            st_mem(Size::DW, FP, -8, v),
            ld_map_fd(R1, 1),
            mov64_reg(R2, FP),
            alu64_imm(AluOp::Add, R2, -8),
            mov64_imm(R3, 0),
            call_helper(maps::BPF_FUNC_MAP_PUSH_ELEM),
        ]
    };
    let mut ops = push(1);
    ops.extend(push(2));
    ops.extend([
        ld_map_fd(R1, 1),
        mov64_reg(R2, FP),
        alu64_imm(AluOp::Add, R2, -8),
        call_helper(maps::BPF_FUNC_MAP_POP_ELEM),
        ldx_mem(Size::DW, R0, FP, -8),
        exit(),
    ]);
    for (kind, want) in [(MapKind::Queue, 1), (MapKind::Stack, 2)] {
        let (mut v, _) = map_vm(&ops, MapDef { kind, key_size: 0, value_size: 8, max_entries: 4 });
        assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(want), "{kind:?}");
    }
    // Pop from an empty queue is -ENOENT.
    let (mut v, _) = map_vm(
        &[
            ld_map_fd(R1, 1),
            mov64_reg(R2, FP),
            alu64_imm(AluOp::Add, R2, -8),
            call_helper(maps::BPF_FUNC_MAP_PEEK_ELEM),
            exit(),
        ],
        MapDef { kind: MapKind::Queue, key_size: 0, value_size: 8, max_entries: 4 },
    );
    assert_eq!(v.run([0; 5]).map(|o| o.r0 as i64), Ok(-2));
}

#[test]
fn tail_calls_replace_the_program_and_fall_through_when_empty() {
    let caller = [
        mov64_imm(R0, 1),
        ld_map_fd(R2, 1),
        mov64_imm(R3, 0),
        call_helper(maps::BPF_FUNC_TAIL_CALL),
        mov64_imm(R0, 99), // reached only when the slot is empty
        exit(),
    ];
    let (mut v, h) =
        map_vm(&caller, MapDef { kind: MapKind::ProgArray, key_size: 4, value_size: 4, max_entries: 2 });
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(99));
    let callee = Program::new(&encode_all(&[mov64_imm(R0, 7), exit()])).expect("valid");
    let id = v.add_program(callee);
    assert!(v.maps.set_prog(h, 0, Some(id)));
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(7));
    // A program that tail-calls itself stops after MAX_TAIL_CALL_CNT and falls through.
    let (mut v, h) =
        map_vm(&caller, MapDef { kind: MapKind::ProgArray, key_size: 4, value_size: 4, max_entries: 1 });
    assert!(v.maps.set_prog(h, 0, Some(0)));
    let out = v.run([0; 5]).expect("terminates");
    assert_eq!(out.r0, 99);
    assert_eq!(out.insns, 4 * u64::from(MAX_TAIL_CALL_CNT + 1) + 2);
}

#[test]
fn a_tail_call_from_a_subprogram_returns_to_the_subprogram_caller() {
    // main: r6 = 5; call sub; r0 += r6; exit. sub: r6 = 100; tail call slot 0; r0 = 99; exit.
    let main = [
        mov64_imm(R6, 5),
        call_rel(2),
        alu64_reg(AluOp::Add, R0, R6),
        exit(),
        mov64_imm(R6, 100),
        ld_map_fd(R2, 1),
        mov64_imm(R3, 0),
        call_helper(maps::BPF_FUNC_TAIL_CALL),
        mov64_imm(R0, 99),
        exit(),
    ];
    let (mut v, h) =
        map_vm(&main, MapDef { kind: MapKind::ProgArray, key_size: 4, value_size: 4, max_entries: 1 });
    // Empty slot: the subprogram goes on and returns 99; R6 is restored to 5.
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(104));
    let target =
        Program::new(&encode_all(&[mov64_imm(Reg::R6, 1), mov64_imm(R0, 7), exit()])).expect("valid");
    let id = v.add_program(target);
    assert!(v.maps.set_prog(h, 0, Some(id)));
    // The target's exit returns to main after the call, with main's R6.
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(12));
    // The trace says which program each step belongs to and what it changed.
    v.trace = Some(Vec::new());
    v.run([0; 5]).expect("runs");
    let trace = v.trace.take().expect("tracing");
    let steps: Vec<(u32, u32)> = trace.iter().map(|t| (t.program, t.slot.0)).collect();
    assert_eq!(
        steps,
        [(0, 0), (0, 1), (0, 4), (0, 5), (0, 7), (0, 8), (id, 0), (id, 1), (id, 2), (0, 2), (0, 3)]
    );
    assert_eq!(trace[0].changed, [(R6, 5)]);
    assert_eq!(trace[8].changed.first(), Some(&(R6, 5)), "returning restores R6");
    assert!(trace[8].changed.iter().any(|&(r, _)| r == FP), "and the caller's frame pointer");
    assert_eq!(trace[9].changed, [(R0, 12)]);
}

#[test]
fn tc_program_reads_sk_buff_fields_and_packet() {
    // r0 = skb->mark + skb->len + first packet byte (bounds-checked) + ld_abs byte 1
    let ops = [
        mov64_reg(R6, R1),
        ldx_mem(Size::W, R0, R1, 8),
        ldx_mem(Size::W, R2, R1, 0),
        alu64_reg(AluOp::Add, R0, R2),
        ldx_mem(Size::W, R2, R1, 76),
        ldx_mem(Size::W, R3, R1, 80),
        mov64_reg(R4, R2),
        alu64_imm(AluOp::Add, R4, 1),
        jmp_reg(Cond::Gt, R4, R3, 2),
        ldx_mem(Size::B, R2, R2, 0),
        alu64_reg(AluOp::Add, R0, R2),
        mov64_reg(Reg::R7, R0),
        ld_abs(Size::B, 1),
        alu64_reg(AluOp::Add, R0, Reg::R7),
        exit(),
    ];
    let mut v = vm(&ops);
    let r1 = v
        .setup_skb(&SkbSetup {
            packet: vec![40, 2, 3],
            meta: vec![0; 4],
            fields: vec![("mark", 1000)],
            ..SkbSetup::default()
        })
        .expect("fields exist");
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(1000 + 3 + 40 + 2));
    let mut v = vm(&[st_mem(Size::W, R1, 80, 0), exit()]);
    let r1 = v.setup_skb(&SkbSetup::default()).expect("no fields");
    assert!(matches!(v.run([r1, 0, 0, 0, 0]), Err(InterpError::ContextWrite { offset: 80, .. })));
}

#[test]
fn sk_buff_fields_are_converted_onto_the_kernel_object() {
    let l = skb::SkBuffLayout::LINUX_6_18;
    // mark = 7; cb[1] = 9; priority low byte (narrow store); then return
    // vlan_present * 1000 + (mark byte 0) + cb[1] + pkt_type * 100000.
    let ops = [
        st_mem(Size::W, R1, 8, 7),
        st_mem(Size::W, R1, 52, 9),
        st_mem(Size::B, R1, 32, 5),
        ldx_mem(Size::W, R2, R1, 20),
        alu64_imm(AluOp::Mul, R2, 1000),
        ldx_mem(Size::B, R0, R1, 8),
        alu64_reg(AluOp::Add, R0, R2),
        ldx_mem(Size::W, R2, R1, 52),
        alu64_reg(AluOp::Add, R0, R2),
        ldx_mem(Size::W, R2, R1, 4),
        alu64_imm(AluOp::Mul, R2, 100_000),
        alu64_reg(AluOp::Add, R0, R2),
        exit(),
    ];
    let mut v = vm(&ops);
    let setup = SkbSetup {
        packet: vec![1; 20],
        meta: vec![0xaa; 8],
        fields: vec![("vlan_tci", 0x2a), ("pkt_type", 3)],
        hwtstamp: 123_456,
        ..SkbSetup::default()
    };
    let r1 = v.setup_skb(&setup).expect("fields exist");
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(1000 + 7 + 9 + 300_000));
    let s = v.skb.expect("built");
    let skb = |off: u32, size: u32| v.memory.load(Memory::addr(s.skb, u64::from(off)), size);
    assert_eq!(skb(l.mark, 4), Ok(7), "the store to __sk_buff.mark landed in sk_buff.mark");
    assert_eq!(skb(l.cb + 8 + 4, 4), Ok(9), "cb[1] is qdisc_skb_cb data[4..8]");
    assert_eq!(skb(l.priority, 4), Ok(5));
    assert_eq!(skb(l.len, 4), Ok(20));
    assert_eq!(skb(l.vlan_all + 2, 2), Ok(0x2a));
    // Kernel-style code finds skb_shared_info through head + end: meta_len and hwtstamps.
    let head = skb(l.head, 8).expect("head");
    let end = skb(l.end, 4).expect("end");
    assert_eq!(v.memory.load(head + end + u64::from(l.shinfo_meta_len), 1), Ok(8));
    assert_eq!(v.memory.load(head + end + u64::from(l.shinfo_hwtstamps), 8), Ok(123_456));
    let data = skb(l.data, 8).expect("data");
    assert_eq!(v.memory.load(data - 8, 8), Ok(0xaaaa_aaaa_aaaa_aaaa), "metadata is right before data");
    // __sk_buff.hwtstamp and data_meta read the same objects.
    let mut v = vm(&[ldx_mem(Size::DW, R0, R1, 184), exit()]);
    let r1 = v.setup_skb(&setup).expect("fields exist");
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(123_456));
}

#[test]
fn kfuncs_are_found_by_name_through_their_btf_id() {
    let ops = [mov64_imm(R1, 20), call_kfunc(0, 4242), exit()];
    let mut v = vm(&ops);
    assert!(matches!(v.run([0; 5]), Err(InterpError::UnknownKfunc { slot: Slot(1), btf_id: 4242 })));
    v.helpers.register_kfunc("double_it", std::rc::Rc::new(|_, a| Ok(a[0] * 2)));
    v.helpers.bind_kfunc_id(4242, "double_it");
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(40));
}
