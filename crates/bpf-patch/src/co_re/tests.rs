//! Unit tests on hand-built BTF: flavors, anonymous members, bitfields, arrays, missing fields,
//! enum values, type relocations, ambiguity, and instruction patching.

use btf_rs::Btf;

use super::*;
use crate::elf::BpfObject;
use crate::insn::Insn;
use crate::opcode::{BPF_ALU64, BPF_B, BPF_H, BPF_K, BPF_LDX, BPF_MEM, BPF_MOV, BPF_W};

/// A tiny little-endian BTF writer: types get ids from 1 in call order.
#[derive(Default)]
struct B {
    types: Vec<u8>,
    strs: Vec<u8>,
    next: u32,
}

/// A struct member: name, type, bit offset, bitfield size (0: none).
type M<'a> = (&'a str, u32, u32, u32);

impl B {
    fn new() -> B {
        B { types: Vec::new(), strs: vec![0], next: 1 }
    }
    fn s(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }
    fn w(&mut self, v: u32) {
        self.types.extend_from_slice(&v.to_le_bytes());
    }
    fn head(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, size_or_type: u32) -> u32 {
        let n = self.s(name);
        self.w(n);
        self.w((kind << 24) | vlen | (u32::from(kflag) << 31));
        self.w(size_or_type);
        self.next += 1;
        self.next - 1
    }
    fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let id = self.head(name, 1, 0, false, size);
        self.w((u32::from(signed) << 24) | (size * 8));
        id
    }
    fn array(&mut self, elem: u32, n: u32) -> u32 {
        let id = self.head("", 3, 0, false, 0);
        self.w(elem);
        self.w(elem);
        self.w(n);
        id
    }
    fn composite(&mut self, kind: u32, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        let kflag = members.iter().any(|m| m.3 > 0);
        let id = self.head(name, kind, members.len() as u32, kflag, size);
        for &(n, t, off, bits) in members {
            let n = self.s(n);
            self.w(n);
            self.w(t);
            self.w(if kflag { (bits << 24) | off } else { off });
        }
        id
    }
    fn strukt(&mut self, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        self.composite(4, name, size, members)
    }
    fn union(&mut self, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        self.composite(5, name, size, members)
    }
    fn enm(&mut self, name: &str, size: u32, values: &[(&str, i32)]) -> u32 {
        let id = self.head(name, 6, values.len() as u32, false, size);
        for &(n, v) in values {
            let n = self.s(n);
            self.w(n);
            self.w(v as u32);
        }
        id
    }
    fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.head(name, 8, 0, false, to)
    }
    fn konst(&mut self, to: u32) -> u32 {
        self.head("", 10, 0, false, to)
    }
    fn build(&self) -> Btf {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [24u32, 0, self.types.len() as u32, self.types.len() as u32, self.strs.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strs);
        Btf::from_bytes(&out).expect("test BTF parses")
    }
}

fn relo(type_id: u32, access: &str, kind: CoReKind) -> CoReRelo {
    CoReRelo { slot: Slot(0), type_id, access: access.to_owned(), kind: kind as u32 }
}

/// Resolves one record; `Ok((poison, orig, new))`.
fn one(
    local: &Btf,
    target: &Btf,
    type_id: u32,
    access: &str,
    kind: CoReKind,
) -> Result<Resolution, CoReError> {
    let t = Target::new(target);
    resolve(local, "sec", &[relo(type_id, access, kind)], &t).map(|mut v| v.remove(0))
}

fn vals(r: &Resolution) -> (bool, u64, u64) {
    (r.poison, r.orig_val, r.new_val)
}

#[test]
fn essential_names_drop_the_last_flavor() {
    for (name, want) in [
        ("task_struct", "task_struct"),
        ("task_struct___v1", "task_struct"),
        ("a___b___c", "a___b"),
        ("a____b", "a____b"),
        ("___x", "___x"),
        ("x___", "x___"),
        ("", ""),
    ] {
        assert_eq!(types::essential(name), want, "{name}");
    }
}

/// Local `struct s___old { int a; int b; }`; target `struct s { long x; int b; int a; }`.
fn flavored() -> (Btf, Btf) {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    l.strukt("s___old", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    t.strukt("s", 16, &[("x", long, 0, 0), ("b", int, 64, 0), ("a", int, 96, 0)]);
    (l.build(), t.build())
}

#[test]
fn flavored_fields_resolve_by_name() {
    let (l, t) = flavored();
    let cases = [
        ("0:0", CoReKind::FieldByteOffset, (false, 0, 12)),
        ("0:1", CoReKind::FieldByteOffset, (false, 4, 8)),
        ("0:1", CoReKind::FieldByteSize, (false, 4, 4)),
        ("0:1", CoReKind::FieldExists, (false, 1, 1)),
        ("0:1", CoReKind::FieldSigned, (false, 1, 1)),
        ("0:1", CoReKind::FieldLshiftU64, (false, 32, 32)),
        ("0:1", CoReKind::FieldRshiftU64, (false, 32, 32)),
        ("0", CoReKind::TypeExists, (false, 1, 1)),
        ("0", CoReKind::TypeSize, (false, 8, 16)),
        ("0", CoReKind::TypeIdTarget, (false, 2, 3)),
        ("0", CoReKind::TypeIdLocal, (false, 2, 2)),
        ("0", CoReKind::TypeMatches, (false, 1, 1)),
    ];
    for (access, kind, want) in cases {
        let r = one(&l, &t, 2, access, kind).expect("resolves");
        assert_eq!(vals(&r), want, "{kind} {access}");
    }
}

#[test]
fn missing_field_is_zero_for_exists_and_poison_otherwise() {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    l.strukt("s", 8, &[("a", int, 0, 0), ("gone", int, 32, 0)]);
    let (l, t) = (l.build(), flavored().1);
    assert_eq!(vals(&one(&l, &t, 2, "0:1", CoReKind::FieldExists).expect("ok")), (false, 1, 0));
    let r = one(&l, &t, 2, "0:1", CoReKind::FieldByteOffset).expect("ok");
    assert!(r.poison);
    let mut insns = [Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 4, 0)];
    apply("sec", &mut insns, &[r]).expect("applies");
    assert_eq!(insns[0], Insn::new(0x85, 0, 0, 0, POISON_IMM));
    // A missing type: TYPE_EXISTS 0, TYPE_SIZE 0 (libbpf does not poison type relocations).
    let mut l2 = B::new();
    l2.strukt("nowhere", 0, &[]);
    let l2 = l2.build();
    assert_eq!(vals(&one(&l2, &t, 1, "0", CoReKind::TypeExists).expect("ok")), (false, 1, 0));
    assert_eq!(vals(&one(&l2, &t, 1, "0", CoReKind::TypeSize).expect("ok")), (false, 0, 0));
}

#[test]
fn anonymous_members_and_typedefs_are_walked() {
    // local: typedef struct { int a; int c; } s_t via `struct s`
    let mut l = B::new();
    let int = l.int("int", 4, true);
    let s = l.strukt("s", 8, &[("a", int, 0, 0), ("c", int, 32, 0)]);
    l.typedef("s_t", s);
    // target: struct s { int pad; union { long b; const int a; }; int c; }
    let mut t = B::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    let cint = t.konst(int);
    let u = t.union("", 8, &[("b", long, 0, 0), ("a", cint, 0, 0)]);
    t.strukt("s", 24, &[("pad", int, 0, 0), ("", u, 64, 0), ("c", int, 128, 0)]);
    let (l, t) = (l.build(), t.build());
    assert_eq!(vals(&one(&l, &t, 2, "0:0", CoReKind::FieldByteOffset).expect("ok")), (false, 0, 8));
    assert_eq!(vals(&one(&l, &t, 2, "0:1", CoReKind::FieldByteOffset).expect("ok")), (false, 4, 16));
}

#[test]
fn arrays_index_by_element_size() {
    // local: struct s { int pad; short arr[4]; }   target: struct s { long pad; int x; int arr[8]; }
    let mut l = B::new();
    let int = l.int("int", 4, true);
    let short = l.int("short", 2, true);
    let arr = l.array(short, 4);
    l.strukt("s", 12, &[("pad", int, 0, 0), ("arr", arr, 32, 0)]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    let arr = t.array(int, 8);
    t.strukt("s", 44, &[("pad", long, 0, 0), ("x", int, 64, 0), ("arr", arr, 96, 0)]);
    let (l, t) = (l.build(), t.build());
    let s = 4;
    let cases = [
        ("0:1:2", CoReKind::FieldByteOffset, (false, 8, 20)),
        ("0:1:2", CoReKind::FieldByteSize, (false, 2, 4)),
        ("0:1", CoReKind::FieldByteSize, (false, 8, 32)),
        ("0:1", CoReKind::FieldByteOffset, (false, 4, 12)),
        ("1:1", CoReKind::FieldByteOffset, (false, 16, 56)),
    ];
    for (access, kind, want) in cases {
        assert_eq!(vals(&one(&l, &t, s, access, kind).expect("ok")), want, "{kind} {access}");
    }
    // Index 5 is past the local array: a bad spec, not a panic.
    assert!(matches!(one(&l, &t, s, "0:1:5", CoReKind::FieldByteOffset), Err(CoReError::BadSpec { .. })));
    // The size change reaches the load: a 2-byte load of arr[2] becomes a 4-byte one.
    let r = one(&l, &t, s, "0:1:2", CoReKind::FieldByteOffset).expect("ok");
    assert_eq!((r.orig_sz, r.new_sz, r.fail_memsz_adjust), (2, 4, true), "signed ints cannot be widened");
}

#[test]
fn bitfields_give_shifts() {
    // local: struct b { u32 x:3, y:5; }   target: struct b { u64 pad; u32 z:7, y:10; }
    let mut l = B::new();
    let u32t = l.int("u32", 4, false);
    l.strukt("b", 4, &[("x", u32t, 0, 3), ("y", u32t, 3, 5)]);
    let mut t = B::new();
    let u32t = t.int("u32", 4, false);
    let u64t = t.int("u64", 8, false);
    t.strukt("b", 16, &[("pad", u64t, 0, 0), ("z", u32t, 64, 7), ("y", u32t, 71, 10)]);
    let (l, t) = (l.build(), t.build());
    let cases = [
        ("0:1", CoReKind::FieldByteOffset, (false, 0, 8)),
        ("0:1", CoReKind::FieldByteSize, (false, 4, 4)),
        ("0:1", CoReKind::FieldLshiftU64, (false, 64 - 8, 64 - (7 + 10))),
        ("0:1", CoReKind::FieldRshiftU64, (false, 64 - 5, 64 - 10)),
        ("0:1", CoReKind::FieldSigned, (false, 0, 0)),
    ];
    for (access, kind, want) in cases {
        let r = one(&l, &t, 2, access, kind).expect("ok");
        assert_eq!(vals(&r), want, "{kind} {access}");
        let bitfield_ambiguous =
            matches!(kind, CoReKind::FieldByteOffset | CoReKind::FieldByteSize | CoReKind::FieldLshiftU64);
        assert_eq!(r.validate, !bitfield_ambiguous, "{kind}");
    }
}

#[test]
fn enum_values_follow_the_target() {
    let mut l = B::new();
    l.enm("e___mine", 4, &[("A", 0), ("B", 1), ("GONE", 2), ("NEG", -1)]);
    let mut t = B::new();
    t.enm("e", 4, &[("B", 7), ("A", 3), ("NEG", -2)]);
    let (l, t) = (l.build(), t.build());
    let cases = [
        ("1", CoReKind::EnumvalExists, (false, 1, 1)),
        ("1", CoReKind::EnumvalValue, (false, 1, 7)),
        ("2", CoReKind::EnumvalExists, (false, 1, 0)),
        ("2", CoReKind::EnumvalValue, (true, 2, 0)),
        ("3", CoReKind::EnumvalValue, (false, u64::MAX, (-2i64) as u64)),
    ];
    for (access, kind, want) in cases {
        assert_eq!(vals(&one(&l, &t, 1, access, kind).expect("ok")), want, "{kind} {access}");
    }
    assert!(matches!(one(&l, &t, 1, "9", CoReKind::EnumvalValue), Err(CoReError::BadSpec { .. })));
}

#[test]
fn disagreeing_candidates_are_ambiguous_agreeing_ones_are_not() {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    l.strukt("s", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    let l = l.build();
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("s", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    t.strukt("s___2", 8, &[("b", int, 0, 0), ("a", int, 32, 0)]);
    t.strukt("s___3", 4, &[("x", int, 0, 0)]);
    let t = t.build();
    assert!(matches!(one(&l, &t, 2, "0:1", CoReKind::FieldByteOffset), Err(CoReError::Ambiguous { .. })));
    // Even when the value agrees, libbpf refuses differing field offsets.
    assert!(matches!(one(&l, &t, 2, "0:0", CoReKind::FieldExists), Err(CoReError::Ambiguous { .. })));
    // All three are compatible struct candidates and agree that the type exists.
    assert_eq!(vals(&one(&l, &t, 2, "0", CoReKind::TypeExists).expect("ok")), (false, 1, 1));
    // `s` and `s___2` match (member order is free), `s___3` lacks `a`: they agree.
    assert_eq!(vals(&one(&l, &t, 2, "0", CoReKind::TypeMatches).expect("ok")), (false, 1, 1));
    // Two compatible types with different ids: TYPE_ID_TARGET is ambiguous.
    assert!(matches!(one(&l, &t, 2, "0", CoReKind::TypeIdTarget), Err(CoReError::Ambiguous { .. })));
}

#[test]
fn malformed_records_are_errors_not_panics() {
    let (l, t) = flavored();
    for (type_id, access, kind) in [
        (2, "", 0),
        (2, ":1", 0),
        (2, "0:9", 0),
        (2, "0:x", 0),
        (2, "0:-1", 0),
        (2, "0:1", 99),
        (2, "1", 8),
        (99, "0", 0),
        (1, "0:0", 0),
        (2, "0:0:0", 0),
        (0, "0", 8),
    ] {
        let tg = Target::new(&t);
        let r = CoReRelo { slot: Slot(3), type_id, access: access.to_owned(), kind };
        let err = resolve(&l, "sec", &[r], &tg).expect_err("rejected");
        assert!(err.to_string().contains("sec, insn 3"), "{err}");
    }
}

#[test]
fn apply_checks_the_local_value_and_patches_each_form() {
    let (l, t) = flavored();
    let tg = Target::new(&t);
    let off = |slot: u32| CoReRelo { slot: Slot(slot), ..relo(2, "0:1", CoReKind::FieldByteOffset) };
    let res = resolve(&l, "sec", &[off(0), off(1), off(2)], &tg).expect("resolves");
    let mut insns = vec![
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 4, 0), // r1 = *(u32 *)(r2 + 4)
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 4), // r1 = 4
        Insn::new(0x18, 1, 0, 0, 4),                      // r1 = 4 ll
        Insn::new(0, 0, 0, 0, 0),
    ];
    apply("sec", &mut insns, &res).expect("applies");
    assert_eq!(insns[0].off, 8);
    assert_eq!(insns[1].imm, 8);
    assert_eq!((insns[2].imm, insns[3].imm), (8, 0));
    // A wrong local value is refused, and nothing is changed.
    let mut bad = vec![Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 5, 0)];
    let err = apply("sec", &mut bad, &res[..1]).expect_err("refused");
    assert!(matches!(err, CoReError::UnexpectedInsn { .. }), "{err}");
    assert_eq!(bad[0].off, 5);
}

#[test]
fn load_size_follows_an_unsigned_field() {
    // local: struct m { u16 a; u8 b; }  target: struct m { u32 a; u32 b; }
    let mut l = B::new();
    let u16t = l.int("u16", 2, false);
    let u8t = l.int("u8", 1, false);
    l.strukt("m", 4, &[("a", u16t, 0, 0), ("b", u8t, 16, 0)]);
    let mut t = B::new();
    let u32t = t.int("u32", 4, false);
    t.strukt("m", 8, &[("a", u32t, 0, 0), ("b", u32t, 32, 0)]);
    let (l, t) = (l.build(), t.build());
    let r = one(&l, &t, 3, "0:1", CoReKind::FieldByteOffset).expect("ok");
    assert_eq!((r.orig_sz, r.new_sz, r.fail_memsz_adjust), (1, 4, false));
    let mut insns = [Insn::new(BPF_LDX | BPF_MEM | BPF_B, 1, 2, 2, 0)];
    apply("sec", &mut insns, std::slice::from_ref(&r)).expect("applies");
    assert_eq!(insns[0], Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 4, 0));
    // The load must have the local size.
    let mut wrong = [Insn::new(BPF_LDX | BPF_MEM | BPF_H, 1, 2, 2, 0)];
    assert!(apply("sec", &mut wrong, &[r]).is_err());
}

/// The committed CO-RE objects.
fn core_objects() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj");
    ["core.v3.o", "core.v4.o"].iter().map(|n| std::fs::read(dir.join(n)).expect("committed object")).collect()
}

#[test]
fn fuzz_body_survives_byte_flips() {
    for data in core_objects() {
        use ::object::{Object, ObjectSection};
        let obj = BpfObject::parse(&data).expect("parses");
        let recs = records(&obj).expect("ext parses");
        assert!(recs.iter().map(|(_, r)| r.len()).sum::<usize>() > 0, "core objects have CO-RE records");
        crate::fuzz::co_re(&data);
        let file = ::object::File::parse(&*data).expect("ELF");
        let range = |name: &str| {
            let (start, len) = file.section_by_name(name).and_then(|s| s.file_range()).expect("section");
            start as usize..(start + len) as usize
        };
        // Every byte of .BTF.ext's CO-RE part is likely a record field; .BTF gets a sample.
        let ext = range(".BTF.ext");
        let btf = range(".BTF");
        let step = (btf.len() / 200).max(1);
        for i in ext.step_by(2).chain(btf.step_by(step)) {
            let mut d = data.clone();
            d[i] ^= 0xff;
            crate::fuzz::co_re(&d);
        }
    }
}

#[test]
fn resolver_narrows_candidates_like_libbpf() {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    l.strukt("s", 8, &[("a", int, 0, 0), ("z", int, 32, 0)]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("s", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    t.strukt("s___2", 8, &[("x", int, 0, 0), ("z", int, 32, 0)]);
    let (l, t) = (l.build(), t.build());
    let target = Target::new(&t);
    let z = relo(2, "0:1", CoReKind::FieldExists);
    // Alone, `z` is found in `s___2`.
    assert_eq!(vals(&resolve(&l, "sec", std::slice::from_ref(&z), &target).expect("ok")[0]), (false, 1, 1));
    // After `a` matched only `s`, libbpf looks for `z` in `s` alone.
    let mut r = Resolver::new(&l, &target);
    assert_eq!(
        vals(&r.resolve_one("sec", &relo(2, "0:0", CoReKind::FieldExists)).expect("ok")),
        (false, 1, 1)
    );
    assert_eq!(vals(&r.resolve_one("sec", &z).expect("ok")), (false, 1, 0));
}

#[test]
fn huge_indices_are_errors_not_overflows() {
    // struct big { int flex[]; } with a flexible array accepts any index: the offset must not wrap.
    let mut l = B::new();
    let int = l.int("int", 4, true);
    let arr = l.array(int, 0);
    l.strukt("big", 4, &[("flex", arr, 0, 0)]);
    let l = l.build();
    let t = flavored().1;
    for access in ["4294967295", "0:0:4294967295", "4000000000:0"] {
        let r = one(&l, &t, 3, access, CoReKind::FieldByteOffset);
        assert!(matches!(r, Err(CoReError::BadSpec { .. })), "{access}: {r:?}");
    }
}
