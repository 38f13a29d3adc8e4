//! Properties of the interpreter on arbitrary input: it never panics, whatever the program
//! (random well-formed instructions, with real pointers in the registers and maps to hit), and
//! every error names a slot of the program; the loader never panics on mutated objects.

use bpf_patch::op::{decode_all, encode_all, Op};
use bpf_patch::Insn;
use bpf_verifier_model::interp::{Helpers, MapDef, MapKind, Program, SkbSetup, Vm, XdpSetup};
use bpf_verifier_model::load::{run_packet, LoadOptions, ObjectImage, ProgType};
use proptest::prelude::*;

/// Random slots biased towards valid opcodes: most random bytes do not decode, so the code
/// byte is drawn from the opcodes that exist.
fn slot() -> impl Strategy<Value = Insn> {
    let codes: Vec<u8> = (0..=255u8)
        .filter(|&c| {
            (0..16).any(|src| {
                Op::decode(&[Insn::new(c, 1, src, 0, 0), Insn::default()], bpf_patch::Slot(0)).is_ok()
            })
        })
        .collect();
    (prop::sample::select(codes), 0u8..11, 0u8..11, -8i16..8, prop_oneof![-64i32..64, any::<i32>()])
        .prop_map(|(code, dst, src, off, imm)| Insn::new(code, dst, src, off, imm))
}

/// Random slots made well-formed one by one: a slot that does not decode becomes
/// `r{dst} = imm`; `ld_imm64` gets its second slot.
fn program() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(slot(), 1..48).prop_map(|raw| {
        let mut slots = Vec::with_capacity(raw.len() + 8);
        for insn in raw {
            let pair = [insn, Insn::new(0, 0, 0, 0, insn.imm.rotate_left(7))];
            match Op::decode(&pair, bpf_patch::Slot(0)) {
                Ok(_) if insn.is_ld_imm64() => slots.extend_from_slice(&pair),
                Ok(_) => slots.push(insn),
                Err(_) => slots.push(Insn::new(0xb7, insn.dst_reg() % 10, 0, 0, insn.imm)),
            }
        }
        decode_all(&slots).expect("every slot was made well-formed").into_iter().map(|(_, op)| op).collect()
    })
}

fn vm_for(ops: &[Op]) -> Vm {
    let mut vm = Vm::new(Program::new(&encode_all(ops)).expect("decoded ops encode to a decodable program"));
    vm.helpers = Helpers::kernel(7);
    vm.budget = 5_000;
    let array = MapDef { kind: MapKind::Array, key_size: 4, value_size: 16, max_entries: 4 };
    let hash = MapDef { kind: MapKind::Hash, key_size: 4, value_size: 8, max_entries: 8 };
    for (fd, def) in [(1, array), (2, hash)] {
        let h = vm.maps.create(&mut vm.memory, def);
        vm.ld_imm64_env.insert((bpf_patch::op::LdImm64Src::MapFd, fd), h);
    }
    vm
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_never_panic(ops in program(), packet in prop::collection::vec(any::<u8>(), 0..80)) {
        let len = encode_all(&ops).len();
        let mut vm = vm_for(&ops);
        let r1 = vm.setup_xdp(&XdpSetup::new(packet.clone()));
        if let Err(e) = vm.run([r1, r1, 0, 0, 0]) {
            prop_assert!(e.slot().index() < len, "{e} names a slot outside the program");
        }
        let r1 = vm.setup_skb(&SkbSetup { packet, ..SkbSetup::default() }).expect("the uapi layout has len");
        if let Err(e) = vm.run([r1, 0, 0, 0, 0]) {
            prop_assert!(e.slot().index() < len, "{e} names a slot outside the program");
        }
    }
}

fn testdata(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj").join(name);
    std::fs::read(p).expect("testdata objects are committed")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Byte flips in a real object: parsing, loading and running either work or report errors.
    #[test]
    fn mutated_objects_never_panic_the_loader(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = testdata("xdp_parse.v3.o");
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b;
        }
        let Ok(obj) = bpf_patch::elf::BpfObject::parse(&bytes) else { return Ok(()) };
        let Ok(image) = ObjectImage::new(&obj, &LoadOptions::default()) else { return Ok(()) };
        for name in image.programs.keys() {
            if let Ok(mut vm) = image.vm(name, Helpers::kernel(1)) {
                vm.budget = 10_000;
                let _ = run_packet(&mut vm, ProgType::Xdp, &[0u8; 64], &[]);
            }
        }
    }
}
