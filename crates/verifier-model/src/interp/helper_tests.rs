//! Tests of the packet, kernel-object, iterator, ring buffer, LRU and for_each helpers.

use bpf_patch::op::LdImm64Src;

use super::memory::RegionKind;
use super::testutil::{asm_vm, run_i64};
use super::*;

#[test]
fn skb_load_bytes_reads_paged_data_and_zeroes_on_fault() {
    // load_bytes(ctx, OFF, fp-8, 4) → r0; then r0 | (bytes << 8)
    let prog = |off: i32| {
        format!(
            "*(u64 *)(r10 - 8) = -1\nr2 = {off}\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nr1 = *(u32 *)(r10 - 8)\nr1 <<= 8\nr0 &= 255\nr0 |= r1\nexit"
        )
    };
    let setup = SkbSetup { packet: (1..=20).collect(), headlen: Some(8), ..SkbSetup::default() };
    for (off, want) in
        [(0, 0x04_0302_0100_u64), (14, 0x12_1110_0f00), (16, 0x14_1312_1100), (17, (-14i64 as u64) & 0xff)]
    {
        let mut v = asm_vm(&prog(off));
        let r1 = v.setup_skb(&setup).expect("builds");
        assert_eq!(run_i64(&mut v, r1) as u64, want, "offset {off}");
    }
}

#[test]
fn xdp_load_bytes_checks_the_frame() {
    let prog = |off: i32, len: i32| format!("r2 = {off}\nr3 = r10\nr3 += -16\nr4 = {len}\ncall 189\nexit");
    for (off, len, want) in [(0, 8, 0), (56, 8, 0), (57, 8, -22), (0x10000, 1, -14)] {
        let mut v = asm_vm(&prog(off, len));
        let r1 = v.setup_xdp(&XdpSetup::new(vec![7; 64]));
        assert_eq!(run_i64(&mut v, r1), want, "off {off} len {len}");
    }
}

#[test]
fn skb_vlan_push_sets_the_accelerated_tag_and_inserts_the_old_one() {
    // tc_vlan_push from testdata: push 802.1Q VLAN 10 unless a tag is present.
    let src = "r6 = r1
r0 = 0
r1 = *(u32 *)(r6 + 20)
if r1 != 0 goto <out>
r1 = r6
r2 = 129
r3 = 10
call 18
out:
exit";
    let mut v = asm_vm(src);
    let mut pkt = vec![0u8; 20];
    pkt[12..14].copy_from_slice(&[0x08, 0x00]);
    let r1 = v.setup_skb(&SkbSetup { packet: pkt.clone(), ..SkbSetup::default() }).expect("builds");
    assert_eq!(run_i64(&mut v, r1), 0);
    // Through the __sk_buff conversion, as a program's loads see the fields.
    let field = |v: &Vm, off: usize| v.skb.expect("set up").get(&v.memory, off).expect("ctx field");
    assert_eq!((field(&v, 20), field(&v, 24), field(&v, 28)), (1, 10, 0x0081));
    // A second push (802.1ad, TCI 20) moves the first tag into the packet.
    let mut v2 = asm_vm("r2 = 43144\nr3 = 20\ncall 18\nexit");
    v2.memory = v.memory.clone();
    v2.skb = v.skb;
    assert_eq!(run_i64(&mut v2, r1), 0);
    let s = v2.skb.expect("set up");
    let out = s.packet(&v2.memory).expect("valid").to_vec();
    assert_eq!(out.len(), 24);
    assert_eq!(out[12..18], [0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
    assert_eq!((field(&v2, 0), field(&v2, 24), field(&v2, 28)), (24, 20, 0xa888));
    assert_eq!(field(&v2, 16), 0x0081, "skb->protocol is the inserted tag's");
}

#[test]
fn get_hash_recalc_runs_the_flow_dissector_once_and_keeps_an_existing_hash() {
    // r0 = recalc; r2 = __sk_buff.hash (offset 68) after it; return r0 << 32 | r2.
    let src = "r6 = r1\ncall 34\nr2 = *(u32 *)(r6 + 68)\nr0 <<= 32\nr0 |= r2\nexit";
    for (flow_hash, want_l4) in [((0xdead_beef, true), 1u64), ((0x1234, false), 0)] {
        let mut v = asm_vm(src);
        let setup = SkbSetup { packet: vec![0; 40], flow_hash, ..SkbSetup::default() };
        let r1 = v.setup_skb(&setup).expect("builds");
        let want = (u64::from(flow_hash.0) << 32) | u64::from(flow_hash.0);
        assert_eq!(run_i64(&mut v, r1) as u64, want, "{flow_hash:?}");
        let s = v.skb.expect("set up");
        let flags = v.memory.load(Memory::addr(s.skb, 130), 1).expect("sk_buff byte 130");
        assert_eq!(flags & 0b110, 0b100 | (want_l4 << 1), "sw_hash set, l4_hash iff ports");
    }
    // A hash already there (sw_hash set) is kept: the dissector's would differ.
    let mut v = asm_vm(src);
    let setup = SkbSetup { packet: vec![0; 40], flow_hash: (9, true), ..SkbSetup::default() };
    let r1 = v.setup_skb(&setup).expect("builds");
    let s = v.skb.expect("set up");
    v.memory.store(Memory::addr(s.skb, 148), 4, 77).expect("sk_buff.hash");
    v.memory.store(Memory::addr(s.skb, 130), 1, 0b100).expect("sw_hash");
    assert_eq!(run_i64(&mut v, r1) as u64, (77 << 32) | 77);
}

#[test]
fn kernel_object_kfuncs_and_probe_read() {
    // XDP: bpf_cast_to_kern_ctx is the context itself; frame_sz through it.
    let mut v = asm_vm("r6 = r1\ncall %bpf_cast_to_kern_ctx\nr0 -= r6\nexit");
    let r1 = v.setup_xdp(&XdpSetup::new(vec![0; 64]));
    assert_eq!(run_i64(&mut v, r1), 0);
    // TC: an sk_buff snapshot with len and mark at their 6.18 offsets, then rdonly_cast.
    let mut v = asm_vm(
        "call %bpf_cast_to_kern_ctx\nr1 = r0\nr2 = 1234\ncall %bpf_rdonly_cast\nr1 = *(u32 *)(r0 + 112)\nr0 = *(u32 *)(r0 + 164)\nr0 <<= 16\nr0 |= r1\nexit",
    );
    let r1 = v
        .setup_skb(&SkbSetup { packet: vec![0; 60], fields: vec![("mark", 7)], ..SkbSetup::default() })
        .expect("builds");
    assert_eq!(run_i64(&mut v, r1), (7 << 16) | 60);
    // get_current_task is settable; probe_read_kernel faults to -EFAULT with dst zeroed.
    let src = "call 35\nr3 = r0\nr3 += 8\n*(u64 *)(r10 - 8) = -1\nr1 = r10\nr1 += -8\nr2 = 8\ncall 113\nr1 = *(u64 *)(r10 - 8)\nr0 <<= 32\nr0 |= r1\nexit";
    let mut v = asm_vm(src);
    assert_eq!(run_i64(&mut v, 0) as u64, (-14i64 as u64) << 32, "task 0: fault");
    let mut v = asm_vm(src);
    let task = v.memory.map(RegionKind::Kernel { type_name: "task_struct".into() }, (0..16).collect(), false);
    v.helpers.current_task.set(Memory::addr(task, 0));
    assert_eq!(run_i64(&mut v, 0) as u64, 0x0f0e_0d0c_0b0a_0908);
}

#[test]
fn iter_num_counts_and_refuses_bad_ranges() {
    // sum of the numbers iter_num(START, END) yields, or the error of new()
    let prog = |start: i32, end: i32| {
        format!(
            "r1 = r10\nr1 += -8\nr2 = {start}\nr3 = {end}\ncall %bpf_iter_num_new\nr6 = r0\nif r0 != 0 goto <out>
loop:
r1 = r10\nr1 += -8\ncall %bpf_iter_num_next\nif r0 == 0 goto <done>\nr1 = *(u32 *)(r0 + 0)\nr6 += r1\ngoto <loop>
done:
r1 = r10\nr1 += -8\ncall %bpf_iter_num_destroy
out:
r0 = r6\nexit"
        )
    };
    for (start, end, want) in [(0, 5, 10), (3, 3, 0), (-2, 1, -3), (5, 4, -22), (0, (1 << 23) + 1, -7)] {
        let mut v = asm_vm(&prog(start, end));
        assert_eq!(run_i64(&mut v, 0) as i32 as i64, want, "[{start}, {end})");
    }
}

/// Assembles `src`, turning every `rX = 0x0 ll` into a reference to map fd 1 bound to `def`.
fn with_map(src: &str, def: MapDef) -> (Vm, u64) {
    let code = bpf_patch::text::assemble(src).expect("the program assembles");
    let mut ops: Vec<_> =
        bpf_patch::op::decode_all(&code).expect("decodes").into_iter().map(|(_, o)| o).collect();
    for op in &mut ops {
        if let bpf_patch::op::Op::LdImm64 { src: s @ LdImm64Src::Imm, imm: imm @ 0, .. } = op {
            *s = LdImm64Src::MapFd;
            *imm = 1;
        }
    }
    let mut v = Vm::new(Program::new(&bpf_patch::op::encode_all(&ops)).expect("decodes"));
    v.helpers = Helpers::kernel(0);
    let h = v.maps.create(&mut v.memory, def);
    v.ld_imm64_env.insert((LdImm64Src::MapFd, 1), h);
    (v, h)
}

#[test]
fn ringbuf_keeps_submitted_records_in_reservation_order() {
    // reserve A (8), reserve B (8), output C, submit B, discard A, reserve_dynptr D, write, submit
    let src = "r1 = 0x0 ll
r2 = 8
r3 = 0
call 131
r6 = r0
*(u64 *)(r6 + 0) = 1
r1 = 0x0 ll
r2 = 8
r3 = 0
call 131
r7 = r0
*(u64 *)(r7 + 0) = 2
*(u32 *)(r10 - 8) = 3
r1 = 0x0 ll
r2 = r10
r2 += -8
r3 = 4
r4 = 0
call 130
r1 = r7
r2 = 0
call 132
r1 = r6
r2 = 0
call 133
r1 = 0x0 ll
r2 = 2
r3 = 0
r4 = r10
r4 += -32
call 198
*(u16 *)(r10 - 40) = 4
r1 = r10
r1 += -32
r2 = 0
r3 = r10
r3 += -40
r4 = 2
r5 = 0
call 202
r1 = r10
r1 += -32
r2 = 0
call 199
r1 = 0x0 ll
r2 = 64
r3 = 0
call 131
exit";
    let (mut v, h) =
        with_map(src, MapDef { kind: MapKind::Ringbuf, key_size: 0, value_size: 0, max_entries: 64 });
    // 16 + 16 + 16 + 16 bytes used: the last 64-byte reservation does not fit.
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok(0));
    let recs = v.maps.ring(h).expect("a ring").records(&v.memory).expect("valid");
    assert_eq!(
        recs,
        vec![2u64.to_le_bytes().to_vec(), 3u32.to_le_bytes().to_vec(), 4u16.to_le_bytes().to_vec()]
    );
}

#[test]
fn lru_evicts_the_least_recently_used_and_for_each_visits_in_key_order() {
    let def = MapDef { kind: MapKind::LruHash, key_size: 4, value_size: 8, max_entries: 2 };
    let mut v = asm_vm("exit");
    let h = v.maps.create(&mut v.memory, def);
    let key = v.memory.map(RegionKind::Plain, vec![0; 4], true);
    let val = v.memory.map(RegionKind::Plain, vec![0; 8], true);
    let (kp, vp) = (Memory::addr(key, 0), Memory::addr(val, 0));
    let f = |v: &Vm, id| v.helpers.helper(id).expect("registered");
    let call = |v: &mut Vm, id, k: u32, value: u64| {
        v.memory.store(kp, 4, u64::from(k)).expect("mapped");
        v.memory.store(vp, 8, value).expect("mapped");
        let g = f(v, id);
        g(&mut helpers::HelperCtx { vm: v, depth: 0 }, [h, kp, vp, 0, 0]).expect("runs")
    };
    call(&mut v, maps::BPF_FUNC_MAP_UPDATE_ELEM, 1, 10);
    call(&mut v, maps::BPF_FUNC_MAP_UPDATE_ELEM, 2, 20);
    assert_ne!(call(&mut v, maps::BPF_FUNC_MAP_LOOKUP_ELEM, 1, 0), 0, "1 is now the most recent");
    call(&mut v, maps::BPF_FUNC_MAP_UPDATE_ELEM, 3, 30);
    assert!(v.maps.lookup(h, &2u32.to_le_bytes()).is_none(), "2 was evicted");
    assert!(v.maps.lookup(h, &1u32.to_le_bytes()).is_some());
    assert!(v.maps.lookup(h, &3u32.to_le_bytes()).is_some());

    // for_each over an array: the callback sums key * value and stops at key 2.
    let ops = {
        use bpf_patch::filter::*;
        use bpf_patch::op::{AluOp, Cond, Reg, Size};
        vec![
            ld_map_fd(Reg::R1, 1),
            ld_imm64_raw(Reg::R2, LdImm64Src::Func, 10),
            mov64_reg(Reg::R3, Reg::R10),
            alu64_imm(AluOp::Add, Reg::R3, -8),
            st_mem(Size::DW, Reg::R10, -8, 0),
            mov64_imm(Reg::R4, 0),
            call_helper(maps::BPF_FUNC_FOR_EACH_MAP_ELEM),
            ldx_mem(Size::DW, Reg::R1, Reg::R10, -8),
            alu64_imm(AluOp::Lsh, Reg::R0, 32),
            alu64_reg(AluOp::Or, Reg::R0, Reg::R1),
            exit(),
            // callback(map, key, value, ctx)
            ldx_mem(Size::W, Reg::R0, Reg::R2, 0),
            ldx_mem(Size::DW, Reg::R5, Reg::R3, 0),
            alu64_reg(AluOp::Mul, Reg::R0, Reg::R5),
            ldx_mem(Size::DW, Reg::R1, Reg::R4, 0),
            alu64_reg(AluOp::Add, Reg::R1, Reg::R0),
            stx_mem(Size::DW, Reg::R4, Reg::R1, 0),
            ldx_mem(Size::W, Reg::R1, Reg::R2, 0),
            mov64_imm(Reg::R0, 0),
            jmp_imm(Cond::Ne, Reg::R1, 2, 1),
            mov64_imm(Reg::R0, 1),
            exit(),
        ]
    };
    let mut v = Vm::new(Program::new(&bpf_patch::op::encode_all(&ops)).expect("valid"));
    v.helpers = Helpers::kernel(0);
    let a = v
        .maps
        .create(&mut v.memory, MapDef { kind: MapKind::Array, key_size: 4, value_size: 8, max_entries: 5 });
    v.ld_imm64_env.insert((LdImm64Src::MapFd, 1), a);
    for k in 0..5u32 {
        let p = v.maps.lookup(a, &k.to_le_bytes()).expect("array slot");
        v.memory.store(p, 8, u64::from(k) + 10).expect("mapped");
    }
    // keys 0, 1, 2 visited: 0*10 + 1*11 + 2*12 = 35; three calls.
    assert_eq!(v.run([0; 5]).map(|o| o.r0), Ok((3 << 32) | 35));
}
