//! Dynptr helpers and kfuncs driven by small assembled programs.

use super::*;
use crate::interp::testutil::{asm_vm, run_i64};
use crate::interp::{SkbSetup, Vm, XdpSetup};

/// from_skb(ctx, FLAGS, fp-16); slice(fp-16, OFF, BUF, LEN); returns the first byte of the
/// slice, | 0x100 when the slice is the bounce buffer (fp-64), 0x200 when NULL; or the
/// constructor's error.
fn skb_slice_prog(ctor: &str, flags: i32, off: u32, buffer: bool, len: u32, rdwr: bool) -> String {
    let buf = if buffer { "r3 = r10\nr3 += -64" } else { "r3 = 0" };
    let slice = if rdwr { "bpf_dynptr_slice_rdwr" } else { "bpf_dynptr_slice" };
    format!(
        "r6 = r1
r2 = {flags}
r3 = r10
r3 += -16
call %{ctor}
if r0 != 0 goto <out>
r1 = r10
r1 += -16
r2 = {off}
{buf}
r4 = {len}
call %{slice}
if r0 == 0 goto <null>
r7 = r0
r0 = *(u8 *)(r7 + 0)
r1 = r10
r1 += -64
if r7 != r1 goto <out>
r0 |= 256
exit
null:
r0 = 512
out:
exit"
    )
}

fn skb_vm(src: &str, setup: &SkbSetup) -> (Vm, u64) {
    let mut v = asm_vm(src);
    let r1 = v.setup_skb(setup).expect("context builds");
    (v, r1)
}

#[test]
fn skb_slices_point_into_the_head_and_copy_paged_data() {
    let packet: Vec<u8> = (1..=60).collect();
    let setup = SkbSetup { packet, headlen: Some(20), ..SkbSetup::default() };
    // (flags, offset, with buffer, len, rdwr, expected r0)
    let cases: [(i32, u32, bool, u32, bool, i64); 8] = [
        (0, 0, true, 14, false, 1),           // linear: direct pointer
        (0, 6, false, 14, false, 7),          // linear without buffer: still direct
        (0, 14, true, 20, false, 0x100 | 15), // crosses headlen: copied into the buffer
        (0, 14, false, 20, false, 0x200),     // ... and NULL without one
        (0, 40, true, 20, false, 0x100 | 41), // entirely paged, ends exactly at len
        (0, 41, true, 20, false, 0x200),      // past skb->len: -E2BIG inside, NULL out
        (0, 14, true, 20, true, 0x100 | 15),  // rdwr slices behave the same when writable
        (1, 0, true, 14, false, -22),         // flags != 0: -EINVAL
    ];
    for (flags, off, buffer, len, rdwr, want) in cases {
        let (mut v, r1) =
            skb_vm(&skb_slice_prog("bpf_dynptr_from_skb", flags, off, buffer, len, rdwr), &setup);
        assert_eq!(
            run_i64(&mut v, r1),
            want,
            "flags {flags} off {off} buffer {buffer} len {len} rdwr {rdwr}"
        );
    }
    // A failed constructor leaves a NULL dynptr: all 16 bytes zero.
    let (mut v, r1) = skb_vm(
        "r2 = 1
r3 = r10
r3 += -16
*(u64 *)(r10 - 16) = -1
*(u64 *)(r10 - 8) = -1
call %bpf_dynptr_from_skb
r1 = r10
r1 += -16
call %bpf_dynptr_is_null
exit",
        &setup,
    );
    assert_eq!(run_i64(&mut v, r1), 1);
}

#[test]
fn skb_dynptr_write_reaches_paged_bytes_and_checks_flags() {
    // write(fp-16, OFF, fp-24 (4 bytes 0xaabbccdd), 4, FLAGS) → r0
    let prog = |off: u32, flags: i32| {
        format!(
            "r2 = 0
r3 = r10
r3 += -16
call %bpf_dynptr_from_skb
*(u32 *)(r10 - 24) = -1430532899
r1 = r10
r1 += -16
r2 = {off}
r3 = r10
r3 += -24
r4 = 4
r5 = {flags}
call 202
exit"
        )
    };
    let setup = SkbSetup { packet: vec![0; 32], headlen: Some(8), ..SkbSetup::default() };
    for (off, flags, want) in [(20u32, 0i32, 0i64), (20, 3, 0), (20, 4, -22), (29, 0, -7)] {
        let (mut v, r1) = skb_vm(&prog(off, flags), &setup);
        assert_eq!(run_i64(&mut v, r1), want, "off {off} flags {flags}");
        let pkt = v.skb.expect("set up").packet(&v.memory).expect("valid").to_vec();
        let written = want == 0;
        assert_eq!(pkt[off as usize..(off as usize + 4).min(32)] == [0xdd, 0xcc, 0xbb, 0xaa], written);
    }
}

/// from_skb_meta(ctx, FLAGS, fp-16); size; read 2 bytes at 4 into fp-24; write 0x7777 at 4;
/// returns (size << 32) | (write result as u16 << 16) | read value.
const META_PROG: &str = "r6 = r1
r3 = r10
r3 += -16
call %bpf_dynptr_from_skb_meta
if r0 != 0 goto <out>
r1 = r10
r1 += -16
call %bpf_dynptr_size
r7 = r0
r7 <<= 32
r1 = r10
r1 += -24
r2 = 2
r3 = r10
r3 += -16
r4 = 4
r5 = 0
call 201
*(u16 *)(r10 - 32) = 30583
r1 = r10
r1 += -16
r2 = 4
r3 = r10
r3 += -32
r4 = 2
r5 = 0
call 202
r0 &= 65535
r0 <<= 16
r0 |= r7
r1 = *(u16 *)(r10 - 24)
r0 |= r1
out:
exit";

#[test]
fn skb_meta_dynptr_sees_the_metadata_and_is_read_only_on_clones() {
    let meta = vec![1, 2, 3, 4, 0x34, 0x12, 7, 8];
    for (cloned, write_ret, after) in [(false, 0u64, [0x77u8, 0x77]), (true, 0xffea, [0x34, 0x12])] {
        let setup = SkbSetup { packet: vec![0xee; 20], meta: meta.clone(), cloned, ..SkbSetup::default() };
        let (mut v, r1) = skb_vm(META_PROG, &setup);
        let r0 = run_i64(&mut v, r1) as u64;
        assert_eq!(r0, (8 << 32) | (write_ret << 16) | 0x1234, "cloned {cloned}");
        let m = v.skb.expect("set up").meta(&v.memory).expect("valid").to_vec();
        assert_eq!(m[4..6], after, "cloned {cloned}");
    }
    // No metadata: size 0, and the 2-byte read is -E2BIG (r0 low half stays the stack's 0).
    let (mut v, r1) = skb_vm(META_PROG, &SkbSetup { packet: vec![0; 20], ..SkbSetup::default() });
    assert_eq!(run_i64(&mut v, r1) as u64, 0xfff9 << 16, "write to an empty meta dynptr is -E2BIG");
    // Non-zero flags: -EINVAL.
    let (mut v, r1) = skb_vm(&META_PROG.replacen("r3 = r10", "r2 = 1\nr3 = r10", 1), &SkbSetup::default());
    assert_eq!(run_i64(&mut v, r1), -22);
}

#[test]
fn local_dynptrs_follow_the_kernel_return_codes() {
    // Each program: from_mem(fp-64, 8, 0, fp-16) then the body; r0 at exit.
    let head = "*(u64 *)(r10 - 64) = 0
r1 = r10
r1 += -64
r2 = 8
r3 = 0
r4 = r10
r4 += -16
call 197
";
    let d = "r1 = r10\nr1 += -16\n";
    let cases: Vec<(&str, String, i64)> = vec![
        ("size", format!("{d}call %bpf_dynptr_size\nexit"), 8),
        ("is_rdonly", format!("{d}call %bpf_dynptr_is_rdonly\nexit"), 0),
        (
            "adjust ok then size",
            format!("{d}r2 = 2\nr3 = 6\ncall %bpf_dynptr_adjust\n{d}call %bpf_dynptr_size\nexit"),
            4,
        ),
        ("adjust past end", format!("{d}r2 = 0\nr3 = 9\ncall %bpf_dynptr_adjust\nexit"), -34),
        ("adjust start > end", format!("{d}r2 = 3\nr3 = 2\ncall %bpf_dynptr_adjust\nexit"), -22),
        (
            "data in range is the memory",
            format!("{d}r2 = 2\nr3 = 4\ncall 203\nr1 = r10\nr1 += -62\nr0 -= r1\nexit"),
            0,
        ),
        ("data out of range is NULL", format!("{d}r2 = 6\nr3 = 4\ncall 203\nexit"), 0),
        (
            "write then read through a clone of an adjusted dynptr",
            format!(
                "{d}r2 = 4\nr3 = 8\ncall %bpf_dynptr_adjust\n{d}r2 = r10\nr2 += -32\ncall %bpf_dynptr_clone
*(u32 *)(r10 - 40) = 305419896
r1 = r10\nr1 += -32\nr2 = 0\nr3 = r10\nr3 += -40\nr4 = 4\nr5 = 0\ncall 202
r0 = *(u32 *)(r10 - 60)\nexit"
            ),
            0x1234_5678,
        ),
        ("write with flags", format!("{d}r2 = 0\nr3 = r10\nr3 += -64\nr4 = 1\nr5 = 1\ncall 202\nexit"), -22),
        (
            "read past the end",
            "r1 = r10\nr1 += -40\nr2 = 4\nr3 = r10\nr3 += -16\nr4 = 5\nr5 = 0\ncall 201\nexit".to_owned(),
            -7,
        ),
    ];
    for (name, body, want) in cases {
        let mut v = asm_vm(&format!("{head}{body}"));
        assert_eq!(run_i64(&mut v, 0), want, "{name}");
    }
    // Constructor errors give NULL dynptrs, on which everything is -EINVAL / NULL / true.
    let null = |size: i64, flags: i32, body: &str| {
        format!("r1 = r10\nr1 += -64\nr2 = {size} ll\nr3 = {flags}\nr4 = r10\nr4 += -16\ncall 197\n{body}")
    };
    let cases: Vec<(String, i64)> = vec![
        (null(1 << 24, 0, "exit"), -7),
        (null(8, 1, "exit"), -22),
        (null(8, 1, &format!("{d}call %bpf_dynptr_size\nexit")), -22),
        (null(8, 1, &format!("{d}call %bpf_dynptr_is_null\nexit")), 1),
        (null(8, 1, &format!("{d}r2 = r10\nr2 += -32\ncall %bpf_dynptr_clone\nexit")), -22),
        (null(8, 1, &format!("{d}r2 = 0\nr3 = 0\ncall %bpf_dynptr_adjust\nexit")), -22),
        (null(8, 1, &format!("{d}r2 = 0\nr3 = 0\nr4 = 8\ncall %bpf_dynptr_slice\nexit")), 0),
    ];
    for (src, want) in cases {
        let mut v = asm_vm(&src);
        assert_eq!(run_i64(&mut v, 0), want, "{src}");
    }
}

#[test]
fn dynptr_bytes_are_the_kernel_representation() {
    let d = Dynptr { data: 0x1122, size: 0x30, kind: DynptrType::SkbMeta, rdonly: true, offset: 4 };
    let b = d.encode();
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")), 0x30 | (5 << 28) | (1 << 31));
    assert_eq!(Dynptr::decode(&b), Some(d));
    assert_eq!(Dynptr::NULL.encode(), [0; 16]);
    let mut bad = [0u8; 16];
    bad[11] = 0x70; // type 7
    assert_eq!(Dynptr::decode(&bad), None);
}

#[test]
fn xdp_dynptr_reads_the_frame() {
    // xdp_dynptr from testdata: XDP_DROP (1) for ethertype 0x88b5 with payload byte 0xff.
    let src = "r2 = 0
r3 = r10
r3 += -16
call %bpf_dynptr_from_xdp
r6 = 2
if r0 != 0 goto <out>
r1 = r10
r1 += -16
r2 = 0
r3 = r10
r3 += -32
r4 = 15
call %bpf_dynptr_slice
if r0 == 0 goto <out>
r1 = *(u8 *)(r0 + 12)
if r1 != 136 goto <out>
r1 = *(u8 *)(r0 + 13)
if r1 != 181 goto <out>
r1 = *(u8 *)(r0 + 14)
if r1 != 255 goto <out>
r6 = 1
out:
r0 = r6
exit";
    let frame = |ethertype: u16, first: u8, len: usize| {
        let mut p = vec![0u8; len];
        p[12..14].copy_from_slice(&ethertype.to_be_bytes());
        if len > 14 {
            p[14] = first;
        }
        p
    };
    for (pkt, want) in
        [(frame(0x88b5, 0xff, 60), 1), (frame(0x88b5, 0xfe, 60), 2), (frame(0x88b5, 0xff, 14), 2)]
    {
        let mut v = asm_vm(src);
        let r1 = v.setup_xdp(&XdpSetup::new(pkt));
        assert_eq!(run_i64(&mut v, r1), want);
    }
}
