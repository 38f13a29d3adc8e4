//! The trait kfuncs driven by assembled XDP programs: return values, the bytes they leave in
//! the headroom, and the overlap rules with `bpf_xdp_adjust_meta` / `_head`.

use super::*;
use crate::interp::memory::RegionKind;
use crate::interp::testutil::asm_vm;
use crate::interp::{Vm, XdpSetup};
use crate::traits::{EBUSY, EINVAL, ENOENT, ENOSPC};

/// A program that makes one call chosen by R5 (see [`Call`]): the key (or the adjust delta) in
/// R2, the size in R3, and in R4 the value (set: stored to fp-8 and passed from there) or the
/// output buffer (get). Returns the call's R0.
const DISPATCH: &str = "r6 = r1
r7 = r2
r8 = r3
*(u64 *)(r10 - 0x8) = r4
if r5 == 1 goto <set>
if r5 == 2 goto <get>
if r5 == 3 goto <del>
if r5 == 4 goto <is_set>
if r5 == 5 goto <meta>
r2 = r7
call 0x2c
exit
meta:
r2 = r7
call 0x36
exit
set:
r2 = r7
r3 = r10
r3 += -0x8
r4 = r8
r5 = 0x0
call %bpf_xdp_trait_set
exit
get:
r2 = r7
r3 = r4
r4 = r8
call %bpf_xdp_trait_get
exit
del:
r2 = r7
call %bpf_xdp_trait_del
exit
is_set:
r2 = r7
call %bpf_xdp_trait_is_set
exit";

#[derive(Clone, Copy, Debug)]
enum Call {
    /// set(key, size, value).
    Set(u64, u64, u64),
    /// get(key, size) into the output buffer.
    Get(u64, u64),
    Del(u64),
    IsSet(u64),
    AdjustMeta(i64),
    AdjustHead(i64),
}

struct Frame {
    vm: Vm,
    r1: u64,
    /// The 16-byte output buffer for get (a stand-in for a map value), pre-filled with 0xaa.
    out: u64,
}

impl Frame {
    fn new(traits: Option<Format>, headroom: usize) -> Frame {
        let mut vm = asm_vm(DISPATCH);
        register(&mut vm.helpers);
        let setup = XdpSetup { traits, headroom, ..XdpSetup::new((0..64).collect()) };
        let r1 = vm.setup_xdp(&setup);
        let out = Memory::addr(vm.memory.map(RegionKind::Plain, vec![0xaa; 16], true), 0);
        Frame { vm, r1, out }
    }

    fn call(&mut self, c: Call) -> Result<i64, crate::interp::InterpError> {
        let (op, a, b, c4) = match c {
            Call::Set(k, n, v) => (1, k, n, v),
            Call::Get(k, n) => (2, k, n, self.out),
            Call::Del(k) => (3, k, 0, 0),
            Call::IsSet(k) => (4, k, 0, 0),
            Call::AdjustMeta(d) => (5, d as u64, 0, 0),
            Call::AdjustHead(d) => (6, d as u64, 0, 0),
        };
        self.vm.run([self.r1, a, b, c4, op]).map(|o| o.r0 as i64)
    }

    fn ok(&mut self, c: Call) -> i64 {
        self.call(c).unwrap_or_else(|e| panic!("{c:?} faulted: {e}"))
    }

    fn x(&self) -> XdpCtx {
        self.vm.xdp.expect("set up")
    }

    /// `len` bytes from the trait start.
    fn area(&self, len: u32) -> Vec<u8> {
        let start = self.x().data_hard_start(&self.vm.memory).expect("mapped") + XDP_FRAME_SIZE;
        self.vm.memory.read_bytes(start, len).expect("in the frame").to_vec()
    }

    fn output(&self) -> Vec<u8> {
        self.vm.memory.read_bytes(self.out, 16).expect("mapped").to_vec()
    }
}

#[test]
fn set_and_get_through_the_stack() {
    // set(ctx, 5, fp-8 = 0x1122334455667788, 8, 0); get(ctx, 5, fp-16, 8); r0 = *(fp-16).
    let mut v = asm_vm(
        "r6 = r1
r1 = 0x1122334455667788 ll
*(u64 *)(r10 - 0x8) = r1
r1 = r6
r2 = 0x5
r3 = r10
r3 += -0x8
r4 = 0x8
r5 = 0x0
call %bpf_xdp_trait_set
if r0 != 0x0 goto <out>
r1 = r6
r2 = 0x5
r3 = r10
r3 += -0x10
r4 = 0x8
call %bpf_xdp_trait_get
if r0 != 0x8 goto <out>
r0 = *(u64 *)(r10 - 0x10)
out:
exit",
    );
    register(&mut v.helpers);
    let r1 = v.setup_xdp(&XdpSetup { traits: Some(Format::V1), ..XdpSetup::new(vec![0; 64]) });
    assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(0x1122_3344_5566_7788));
}

#[test]
fn v1_calls_return_the_rfc_codes_and_write_the_headroom() {
    let mut f = Frame::new(Some(Format::V1), 256);
    let val = 0x0807_0605_0403_0201u64;
    let steps: [(Call, i64); 12] = [
        (Call::Get(5, 8), -ENOENT),
        (Call::Set(5, 8, val), 0),
        (Call::Set(2, 2, 0xbeef), 0), // below key 5: key 5's value moves up by 2
        (Call::Get(5, 8), 8),
        (Call::Get(5, 4), -ENOSPC),
        (Call::Set(5, 4, 0), -EBUSY),
        (Call::Set(64, 8, 0), -EINVAL),
        (Call::Set(1, 3, 0), -EINVAL),
        (Call::Del(9), -ENOENT),
        (Call::Del(64), -EINVAL),
        (Call::Del(2), 0),
        (Call::Get(2, 8), -ENOENT),
    ];
    for (i, (c, want)) in steps.into_iter().enumerate() {
        assert_eq!(f.ok(c), want, "step {i}: {c:?}");
        if i == 3 {
            assert_eq!(f.output(), [&val.to_le_bytes()[..], &[0xaa; 8]].concat(), "get wrote 8 bytes");
            // high = bit 5; low = bits 2 and 5; key 2's value, then key 5's.
            let mut want = vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0xef, 0xbe];
            want.extend(val.to_le_bytes());
            assert_eq!(f.area(26), want);
        }
    }
    assert_eq!(f.area(24)[16..], val.to_le_bytes(), "key 5 moved back down");
    let is_set = f.call(Call::IsSet(5));
    assert!(is_set.is_err(), "is_set is not a v1 kfunc: {is_set:?}");
}

#[test]
fn v1_traits_and_metadata_do_not_overlap() {
    // Trait start = hard + 40; header 16 + key 5 (8 bytes): the area ends at hard + 64.
    let mut f = Frame::new(Some(Format::V1), 256);
    assert_eq!(f.ok(Call::Set(5, 8, 1)), 0);
    assert_eq!(f.ok(Call::AdjustMeta(-(256 - 64) - 4)), -EINVAL, "metadata may not reach into the traits");
    assert_eq!(f.ok(Call::AdjustHead(-(256 - 64) - 1)), -EINVAL, "nor may the packet, without metadata");
    assert_eq!(f.ok(Call::AdjustMeta(-(256 - 64))), 0, "up to the end of the trait area");
    // Now data_meta is the hard end and the area is full.
    assert_eq!(f.ok(Call::Set(6, 2, 2)), -ENOSPC);
    assert_eq!(f.ok(Call::Set(5, 8, 3)), 0, "overwriting needs no room");
    assert_eq!(f.ok(Call::AdjustMeta(4)), 0);
    assert_eq!(f.ok(Call::Set(6, 4, 0x0403_0201)), 0, "the freed 4 bytes");
    assert_eq!(f.ok(Call::Set(7, 2, 0)), -ENOSPC);
    // Metadata bytes written by the program survive filling the traits.
    let x = f.x();
    let meta = x.data_meta(&f.vm.memory).expect("mapped");
    let data = x.data(&f.vm.memory).expect("mapped");
    assert_eq!(data - meta, 256 - 68);
    let (meta_bytes, packet) = x.output(&f.vm.memory).expect("mapped");
    assert!(meta_bytes.iter().all(|&b| b == 0), "metadata untouched");
    assert_eq!(packet, (0..64).collect::<Vec<u8>>());
    assert_eq!(f.area(28)[24..], [1, 2, 3, 4]);
}

#[test]
fn v1_fill_stops_at_data_meta() {
    // 40 bytes of metadata: 256 - 40 - 40 = 176 bytes of trait area = 16 + 20 × 8.
    let mut f = Frame::new(Some(Format::V1), 256);
    assert_eq!(f.ok(Call::AdjustMeta(-40)), 0);
    let meta = f.x().data_meta(&f.vm.memory).expect("mapped");
    f.vm.memory.write_bytes(meta, &[0x77; 40]).expect("metadata is in the frame");
    for k in 0..20 {
        assert_eq!(f.ok(Call::Set(k * 3, 8, k)), 0, "key {}", k * 3);
    }
    assert_eq!(f.ok(Call::Set(61, 2, 0)), -ENOSPC);
    assert_eq!(f.ok(Call::Del(0)), 0, "delete the lowest: every value moves down");
    assert_eq!(f.ok(Call::Set(61, 2, 0)), 0);
    assert_eq!(f.vm.memory.read_bytes(meta, 40).expect("mapped"), [0x77; 40]);
    assert_eq!(f.ok(Call::Get(57, 8)), 8);
    assert_eq!(f.output()[..8], 19u64.to_le_bytes());
}

#[test]
fn v2_traits_and_metadata_are_exclusive() {
    // Traits first: flags take no bytes, adjust_meta is refused.
    let mut f = Frame::new(Some(Format::V2), 256);
    let steps: [(Call, i64); 9] = [
        (Call::Set(3, 0, 0), 0),
        (Call::IsSet(3), 1),
        (Call::IsSet(4), 0),
        (Call::IsSet(64), -EINVAL),
        (Call::Set(3, 2, 0), -EINVAL),
        (Call::Get(3, 0), 0),
        (Call::Set(9, 4, 0x0a0b_0c0d), 0),
        (Call::AdjustMeta(-8), -ENOTSUPP),
        (Call::AdjustHead(-(256 - 40 - 20) - 1), -EINVAL),
    ];
    for (i, (c, want)) in steps.into_iter().enumerate() {
        assert_eq!(f.ok(c), want, "step {i}: {c:?}");
    }
    // high = bit 9 (key 9: 4 bytes), low = bit 3 (key 3: a flag), then key 9's value.
    assert_eq!(f.area(20), [0, 0x02, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0x0c, 0x0b, 0x0a]);
    // v2's hard end is data: the area may use the whole headroom after a head adjustment.
    assert_eq!(f.ok(Call::AdjustHead(-(256 - 40 - 20))), 0);
    assert_eq!(f.ok(Call::Set(10, 4, 0)), -ENOSPC);
    // Metadata first: the trait kfuncs are refused.
    let mut g = Frame::new(Some(Format::V2), 256);
    assert_eq!(g.ok(Call::AdjustMeta(-8)), 0);
    assert_eq!(g.ok(Call::Set(3, 4, 0)), -EOPNOTSUPP);
    assert_eq!(g.ok(Call::Get(3, 4)), -EOPNOTSUPP);
    // A refused adjust_meta still claims the headroom for metadata.
    let mut h = Frame::new(Some(Format::V2), 256);
    assert_eq!(h.ok(Call::AdjustMeta(-6)), -13);
    assert_eq!(h.ok(Call::IsSet(0)), -EOPNOTSUPP);
}

#[test]
fn v2_header_is_initialised_at_the_first_call() {
    let mut f = Frame::new(Some(Format::V2), 256);
    let start = f.x().data_hard_start(&f.vm.memory).expect("mapped") + XDP_FRAME_SIZE;
    f.vm.memory.write_bytes(start, &[0xff; 16]).expect("in the frame");
    assert_eq!(f.ok(Call::Get(0, 8)), -ENOENT, "the stale bytes were cleared, not decoded");
    assert_eq!(f.area(16), [0; 16]);
}

#[test]
fn contexts_without_traits_or_room() {
    // (format, headroom, the call, R0)
    let cases: [(Option<Format>, usize, Call, i64); 6] = [
        (None, 256, Call::Set(1, 8, 0), -EOPNOTSUPP),
        (None, 256, Call::Get(1, 8), -EOPNOTSUPP),
        (None, 256, Call::Del(1), -EOPNOTSUPP),
        (Some(Format::V1), 40 + 15, Call::Get(1, 8), -12),
        (Some(Format::V2), 40 + 15, Call::Set(1, 0, 0), -12),
        (Some(Format::V1), 40 + 16, Call::Set(1, 2, 0), -ENOSPC),
    ];
    for (i, (format, headroom, c, want)) in cases.into_iter().enumerate() {
        let mut f = Frame::new(format, headroom);
        assert_eq!(f.ok(c), want, "case {i}");
    }
    // Without traits, adjust_meta keeps the mainline bound (down to the xdp_frame area); v1's
    // header moves it up by 16 bytes.
    let bound = [(None, 0), (Some(Format::V1), -EINVAL), (Some(Format::V2), 0)];
    for (format, want) in bound {
        let mut f = Frame::new(format, 256);
        assert_eq!(f.ok(Call::AdjustMeta(-(256 - 40))), want, "{format:?}");
    }
}

#[test]
fn flags_need_no_buffer() {
    // set(ctx, 7, NULL, 0, 0); then get(ctx, 7, NULL, 0): v2 stores a flag and reads it back
    // as 0 bytes; v1 refuses the size before touching the NULL buffer.
    let src = "r6 = r1
r2 = 0x7
r3 = 0x0
r4 = 0x0
r5 = 0x0
call %bpf_xdp_trait_set
if r0 != 0x0 goto <out>
r1 = r6
r2 = 0x7
r3 = 0x0
r4 = 0x0
call %bpf_xdp_trait_get
if r0 != 0x0 goto <out>
r0 = 0x1
out:
exit";
    for (format, want) in [(Format::V2, 1), (Format::V1, -EINVAL)] {
        let mut v = asm_vm(src);
        register(&mut v.helpers);
        let r1 = v.setup_xdp(&XdpSetup { traits: Some(format), ..XdpSetup::new(vec![0; 64]) });
        assert_eq!(v.run([r1, 0, 0, 0, 0]).map(|o| o.r0 as i64), Ok(want), "{format:?}");
    }
}
