//! The codec against §E by hand (layout, each return code) and against a reference map
//! (proptest).

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::*;

fn area(room: usize) -> Vec<u8> {
    let mut a = vec![0xee; room];
    init(&mut a).expect("tests use room >= 16");
    a
}

#[test]
fn v1_layout_matches_the_header_encoding_by_hand() {
    // Inserted out of order: key 3 (8 bytes), key 1 (2 bytes), then key 0 (4 bytes), so both
    // inserts below an existing key move the values above them.
    let mut a = area(40);
    set(&mut a, Format::V1, 3, &[0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37], 0).expect("fits");
    set(&mut a, Format::V1, 1, &[0x10, 0x11], 0).expect("fits");
    set(&mut a, Format::V1, 0, &[0x00, 0x01, 0x02, 0x03], 0).expect("fits");
    // Codes (high, low): key 0 = 10 (4 bytes), key 1 = 01 (2), key 3 = 11 (8).
    // high = bits 0 and 3 = 0x9, low = bits 1 and 3 = 0xa; values in key order from byte 16.
    #[rustfmt::skip]
    let want: [u8; 30] = [
        0x09, 0, 0, 0, 0, 0, 0, 0,   // high
        0x0a, 0, 0, 0, 0, 0, 0, 0,   // low
        0x00, 0x01, 0x02, 0x03,      // key 0 at 16
        0x10, 0x11,                  // key 1 at 16 + 4
        0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, // key 3 at 16 + 4 + 2
    ];
    assert_eq!(a[..30], want);
    assert_eq!(a[30..], [0xee; 10], "bytes past the used size are untouched");
    assert_eq!(size(&a, Format::V1), Ok(30));
    let h = TraitHdr::read(&a).expect("16 bytes");
    assert_eq!((h.value_offset(Format::V1, 3), h.values_len(Format::V1)), (22, 14));
    // Deleting key 1 moves key 3 down by 2; the header loses its low bit 1.
    del(&mut a, Format::V1, 1).expect("set");
    assert_eq!(
        a[..28],
        [&[0x09, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0][..], &want[16..20], &want[22..]].concat()
    );
}

#[test]
fn v2_layout_stores_flags_without_bytes() {
    let mut a = area(32);
    set(&mut a, Format::V2, 63, &[0xaa, 0xbb, 0xcc, 0xdd], 0).expect("fits");
    set(&mut a, Format::V2, 5, &[], 0).expect("a flag takes no bytes");
    // key 5 = 01 (0 bytes): low bit 5; key 63 = 10 (4 bytes): high bit 63.
    let mut want = vec![0, 0, 0, 0, 0, 0, 0, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0];
    want.extend([0xaa, 0xbb, 0xcc, 0xdd]);
    assert_eq!(a[..20], want[..]);
    assert_eq!(size(&a, Format::V2), Ok(20));
    // The same header read as v1 gives key 5 two bytes.
    assert_eq!(size(&a, Format::V1), Ok(22));
    let mut out = [0u8; 8];
    assert_eq!(get(&a, Format::V2, 5, &mut out), Ok(0));
    assert_eq!(get(&a, Format::V2, 5, &mut []), Ok(0), "a flag fits any buffer");
    assert_eq!(is_set(&a, 5), Ok(true));
    assert_eq!(is_set(&a, 6), Ok(false));
}

/// One call and the errno it must return (0 / a size for success).
enum Call {
    Set(u64, usize),
    Get(u64, usize),
    Del(u64),
    IsSet(u64),
}

fn run(a: &mut [u8], f: Format, c: &Call) -> i64 {
    let errno = |e: TraitError| e.errno();
    match *c {
        Call::Set(k, len) => set(a, f, k, &vec![0x5a; len], 0).map(|()| 0).unwrap_or_else(errno),
        Call::Get(k, len) => get(a, f, k, &mut vec![0; len]).map(|n| n as i64).unwrap_or_else(errno),
        Call::Del(k) => del(a, f, k).map(|()| 0).unwrap_or_else(errno),
        Call::IsSet(k) => is_set(a, k).map(i64::from).unwrap_or_else(errno),
    }
}

#[test]
fn each_return_code() {
    use Call::*;
    // (format, room, calls before, the call, its return)
    #[rustfmt::skip]
    let cases: &[(Format, usize, &[Call], Call, i64)] = &[
        (Format::V1, 64, &[], Set(64, 2), -EINVAL),
        (Format::V1, 64, &[], Set(u64::MAX, 2), -EINVAL),
        (Format::V1, 64, &[], Set(64, 3), -EINVAL),          // key checked first, same code
        (Format::V1, 64, &[], Set(1, 0), -EINVAL),           // v1 has no 0-byte values
        (Format::V1, 64, &[], Set(1, 3), -EINVAL),
        (Format::V1, 64, &[], Set(1, 16), -EINVAL),
        (Format::V2, 64, &[], Set(1, 2), -EINVAL),           // v2 has no 2-byte values
        (Format::V2, 64, &[], Set(1, 0), 0),
        (Format::V1, 64, &[Set(1, 4)], Set(1, 8), -EBUSY),
        (Format::V1, 64, &[Set(1, 4)], Set(1, 4), 0),       // same size: overwrite
        (Format::V2, 64, &[Set(1, 0)], Set(1, 4), -EBUSY),
        (Format::V1, 16, &[], Set(0, 2), -ENOSPC),          // header only
        (Format::V1, 24, &[], Set(0, 8), 0),                // exactly to the hard end
        (Format::V1, 24, &[Set(0, 8)], Set(1, 2), -ENOSPC),
        (Format::V1, 24, &[Set(0, 8)], Set(0, 8), 0),       // overwrite needs no room
        (Format::V2, 16, &[], Set(9, 0), 0),                // a flag always fits
        (Format::V1, 64, &[], Get(64, 8), -EINVAL),
        (Format::V1, 64, &[], Get(3, 8), -ENOENT),
        (Format::V1, 64, &[Set(3, 8)], Get(3, 7), -ENOSPC),
        (Format::V1, 64, &[Set(3, 8)], Get(3, 8), 8),
        (Format::V1, 64, &[Set(3, 2)], Get(3, 100), 2),
        (Format::V2, 64, &[Set(3, 4)], Get(3, 4), 4),
        (Format::V1, 64, &[], Del(64), -EINVAL),
        (Format::V1, 64, &[], Del(0), -ENOENT),
        (Format::V1, 64, &[Set(0, 2)], Del(0), 0),
        (Format::V1, 64, &[Set(0, 2), Del(0)], Del(0), -ENOENT),
        (Format::V2, 64, &[], IsSet(64), -EINVAL),
        (Format::V2, 64, &[], IsSet(0), 0),
        (Format::V2, 64, &[Set(0, 8)], IsSet(0), 1),
    ];
    for (i, (f, room, before, call, want)) in cases.iter().enumerate() {
        let mut a = area(*room);
        for c in before.iter() {
            assert!(run(&mut a, *f, c) >= 0, "case {i}: setup call failed");
        }
        assert_eq!(run(&mut a, *f, call), *want, "case {i}");
    }
}

#[test]
fn init_and_corrupt_areas() {
    assert_eq!(init(&mut [0; 15]), Err(TraitError::NoHeaderRoom { room: 15 }));
    assert_eq!(TraitError::NoHeaderRoom { room: 15 }.errno(), -ENOMEM);
    // A header claiming key 0 = 8 bytes in an area of 20 bytes.
    let mut a = [0u8; 20];
    a[0] = 1;
    a[8] = 1;
    assert_eq!(size(&a, Format::V1), Err(TraitError::Corrupt { size: 24, room: 20 }));
    assert_eq!(get(&a, Format::V1, 0, &mut [0; 8]).map_err(|e| e.errno()), Err(-EFAULT));
    assert_eq!(set(&mut a[..10], Format::V1, 0, &[0; 2], 0), Err(TraitError::Corrupt { size: 16, room: 10 }));
}

/// The reference: a map from key to value and the area's room.
#[derive(Debug)]
struct Model {
    format: Format,
    room: usize,
    map: BTreeMap<u8, Vec<u8>>,
}

impl Model {
    fn used(&self) -> usize {
        16 + self.map.values().map(Vec::len).sum::<usize>()
    }

    fn set(&mut self, key: u64, val: &[u8]) -> i64 {
        if key > 63 || !self.format.sizes().contains(&val.len()) {
            return -EINVAL;
        }
        let k = key as u8;
        match self.map.get(&k) {
            Some(old) if old.len() != val.len() => return -EBUSY,
            Some(_) => {}
            None if self.used() + val.len() > self.room => return -ENOSPC,
            None => {}
        }
        self.map.insert(k, val.to_vec());
        0
    }

    fn get(&self, key: u64, buf: usize) -> Result<Vec<u8>, i64> {
        if key > 63 {
            return Err(-EINVAL);
        }
        let v = self.map.get(&(key as u8)).ok_or(-ENOENT)?;
        if v.len() > buf {
            return Err(-ENOSPC);
        }
        Ok(v.clone())
    }

    fn del(&mut self, key: u64) -> i64 {
        if key > 63 {
            return -EINVAL;
        }
        self.map.remove(&(key as u8)).map_or(-ENOENT, |_| 0)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Set(u64, Vec<u8>),
    Get(u64, usize),
    Del(u64),
    IsSet(u64),
}

fn key() -> impl Strategy<Value = u64> {
    // Mostly a few keys (so sets collide and deletes hit), some anywhere, some out of range.
    prop_oneof![6 => 0u64..6, 3 => 0u64..64, 1 => 64u64..70, 1 => Just(u64::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![Just(0usize), Just(2), Just(4), Just(8), 0usize..10];
    prop_oneof![
        4 => (key(), len.prop_flat_map(|n| prop::collection::vec(any::<u8>(), n)))
            .prop_map(|(k, v)| Op::Set(k, v)),
        3 => (key(), 0usize..10).prop_map(|(k, n)| Op::Get(k, n)),
        2 => key().prop_map(Op::Del),
        1 => key().prop_map(Op::IsSet),
    ]
}

/// How many cases each property runs.
const CASES: u32 = 2000;

/// Outcome counts of [`codec_agrees_with_a_map`]: (operation, return value) → calls.
type Seen = RefCell<BTreeMap<(&'static str, i64), u64>>;

/// Runs `ops` on a fresh area of `room` bytes and on the model, comparing after every call.
fn agree(format: Format, room: usize, ops: &[Op], seen: &Seen) -> Result<(), TestCaseError> {
    let mut a = vec![0u8; room];
    init(&mut a).expect("room >= 16");
    let mut model = Model { format, room, map: BTreeMap::new() };
    let count = |op: &'static str, r: i64| *seen.borrow_mut().entry((op, r)).or_default() += 1;
    for op in ops {
        match op {
            Op::Set(k, v) => {
                let got = set(&mut a, format, *k, v, 0).map(|()| 0).unwrap_or_else(|e| e.errno());
                prop_assert_eq!(got, model.set(*k, v), "set {} {:?}", k, v);
                count("set", got);
            }
            Op::Get(k, n) => {
                let mut buf = vec![0xc3u8; *n];
                let got = get(&a, format, *k, &mut buf).map_err(|e| e.errno());
                let want = model.get(*k, *n);
                prop_assert_eq!(got, want.as_ref().map(Vec::len).map_err(|e| *e), "get {}", k);
                if let Ok(v) = want {
                    prop_assert_eq!(&buf[..v.len()], &v[..]);
                    prop_assert!(buf[v.len()..].iter().all(|&b| b == 0xc3), "get wrote past the value");
                }
                count("get", got.map_or_else(|e| e, |n| n as i64));
            }
            Op::Del(k) => {
                let got = del(&mut a, format, *k).map(|()| 0).unwrap_or_else(|e| e.errno());
                prop_assert_eq!(got, model.del(*k), "del {}", k);
                count("del", got);
            }
            Op::IsSet(k) => {
                let want = if *k > 63 { Err(-EINVAL) } else { Ok(model.map.contains_key(&(*k as u8))) };
                let got = is_set(&a, *k).map_err(|e| e.errno());
                prop_assert_eq!(got, want);
                count("is_set", got.map_or_else(|e| e, i64::from));
            }
        }
        let decoded: BTreeMap<u8, Vec<u8>> = decode(&a, format)
            .expect("a codec-built area decodes")
            .into_iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        prop_assert_eq!(&decoded, &model.map);
        prop_assert_eq!(size(&a, format), Ok(model.used()));
    }
    Ok(())
}

/// Random sequences of set / get / del / is_set in both formats give the model's return codes
/// and values, and the area decodes to the model's map after every call. Every return code of
/// every operation must come up (so the generator cannot drift into testing one path).
#[test]
#[allow(clippy::print_stdout)]
fn codec_agrees_with_a_map() {
    let seen = Seen::default();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let strategy = (any::<bool>(), 16usize..120, prop::collection::vec(op(), 1..64));
    let result = runner
        .run(&strategy, |(v2, room, ops)| agree(if v2 { Format::V2 } else { Format::V1 }, room, &ops, &seen));
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    #[rustfmt::skip]
    let required: [(&str, i64); 16] = [
        ("set", 0), ("set", -EINVAL), ("set", -EBUSY), ("set", -ENOSPC),
        ("get", 0), ("get", 2), ("get", 4), ("get", 8), ("get", -EINVAL), ("get", -ENOENT), ("get", -ENOSPC),
        ("del", 0), ("del", -EINVAL), ("del", -ENOENT),
        ("is_set", 1), ("is_set", -EINVAL),
    ];
    for r in required {
        assert!(seen.get(&r).is_some_and(|&n| n >= 20), "{r:?} came up {:?} times", seen.get(&r));
    }
    let calls: u64 = seen.values().sum();
    println!("{CASES} cases, {calls} calls: {seen:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn value_offsets_are_prefix_sums(high in any::<u64>(), low in any::<u64>(), v2 in any::<bool>()) {
        let format = if v2 { Format::V2 } else { Format::V1 };
        let h = TraitHdr { high, low };
        let mut off = TraitHdr::SIZE;
        for k in 0..64u8 {
            prop_assert_eq!(h.value_offset(format, k), off);
            off += h.value_len(format, k).unwrap_or(0);
        }
        prop_assert_eq!(off, TraitHdr::SIZE + h.values_len(format));
    }
}

#[test]
fn kfunc_argument_rules_pair_buffers_with_sizes() {
    for k in TRAIT_KFUNCS {
        assert_eq!(k.args.first(), Some(&ArgRule::XdpCtx), "{}", k.name);
        assert!(k.args.len() <= 5, "{}", k.name);
        for (i, a) in k.args.iter().enumerate() {
            match *a {
                ArgRule::Buffer { size_arg, .. } => {
                    assert!(
                        matches!(k.args.get(size_arg), Some(ArgRule::ConstSize { of_arg, .. }) if *of_arg == i)
                    )
                }
                ArgRule::ConstSize { of_arg, .. } => {
                    assert!(
                        matches!(k.args.get(of_arg), Some(ArgRule::Buffer { size_arg, .. }) if *size_arg == i)
                    )
                }
                _ => {}
            }
        }
    }
    assert_eq!(trait_kfunc_args("bpf_xdp_trait_del").map(<[_]>::len), Some(2));
    assert_eq!(trait_kfunc("bpf_xdp_trait_is_set").map(|k| k.formats), Some(&[Format::V2][..]));
    assert_eq!(trait_kfunc_args("bpf_xdp_trait_frob"), None);
}
