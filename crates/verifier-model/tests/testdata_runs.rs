//! Compiled `testdata` programs that use no maps or global data run in the interpreter straight
//! from their objects: kfunc call relocations are bound by name here (the object loader proper
//! lives elsewhere; this only covers what these programs need).

use std::path::PathBuf;

use bpf_patch::elf::{BpfObject, RelocKind};
use bpf_verifier_model::interp::{Helpers, Program, SkbSetup, Vm, XdpSetup};

/// `BPF_PSEUDO_KFUNC_CALL`.
const PSEUDO_KFUNC_CALL: u8 = 2;

/// The program `name` of `testdata/obj/<object>` in a VM with its kfunc calls bound.
fn load(object: &str, name: &str) -> Vm {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/obj").join(object);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let obj = BpfObject::parse(&bytes).expect("testdata objects parse");
    let p = obj.program(name).unwrap_or_else(|| panic!("{object} has no program {name}"));
    let mut insns = obj.insns_of(p).to_vec();
    let mut helpers = Helpers::kernel(0);
    let mut names: Vec<String> = Vec::new();
    for r in &obj.sections[p.section].relocs {
        let Some(i) = r.slot.index().checked_sub(p.start.index()).filter(|&i| i < insns.len()) else {
            continue;
        };
        assert_eq!(
            r.kind,
            RelocKind::Kfunc,
            "{name}: only kfunc relocations are handled here, not {:?}",
            r.kind
        );
        let id = match names.iter().position(|n| *n == r.symbol) {
            Some(k) => k + 1,
            None => {
                names.push(r.symbol.clone());
                names.len()
            }
        };
        let id = i32::try_from(id).expect("few kfuncs");
        helpers.bind_kfunc_id(id, &r.symbol);
        insns[i].set_src_reg(PSEUDO_KFUNC_CALL);
        insns[i].imm = id;
    }
    let mut vm = Vm::new(Program::new(&insns).expect("testdata code decodes"));
    vm.helpers = helpers;
    vm
}

fn frame(ethertype: u16, first: u8) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[12..14].copy_from_slice(&ethertype.to_be_bytes());
    p[14] = first;
    p
}

#[test]
fn xdp_dynptr_drops_experimental_frames_with_payload_ff() {
    for object in ["dynptr.v3.o", "dynptr.v4.o"] {
        for (pkt, want) in [(frame(0x88b5, 0xff), 1), (frame(0x88b5, 0xfe), 2), (frame(0x0800, 0xff), 2)] {
            let mut vm = load(object, "xdp_dynptr");
            let r1 = vm.setup_xdp(&XdpSetup::new(pkt));
            assert_eq!(vm.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(want), "{object}");
        }
    }
}

/// The 32-byte `struct rx_meta` of xdp_meta.bpf.c with `hash` and `flags`.
fn rx_meta(hash: u32, flags: u16) -> Vec<u8> {
    let mut m = vec![0u8; 32];
    m[8..12].copy_from_slice(&hash.to_le_bytes());
    m[26..28].copy_from_slice(&flags.to_le_bytes());
    m
}

#[test]
fn tc_dynptr_meta_marks_and_clears_the_valid_flag() {
    for object in ["dynptr.v3.o", "dynptr.v4.o"] {
        // (metadata, cloned) → (mark, flags afterwards)
        let cases = [
            (rx_meta(0xabcd, 1), false, 0xabcd, 0),
            (rx_meta(0xabcd, 3), false, 0xabcd, 2),
            (rx_meta(0xabcd, 3), true, 0xabcd, 3), // cloned: the write is refused, flags stay
            (rx_meta(0xabcd, 0), false, 0, 0),     // not valid: untouched
            (vec![1; 16], false, 0, 0),            // too short for a record
            (Vec::new(), false, 0, 0),
        ];
        for (meta, cloned, mark, flags) in cases {
            let mut vm = load(object, "tc_dynptr_meta");
            let setup = SkbSetup { packet: vec![0; 60], meta: meta.clone(), cloned, ..SkbSetup::default() };
            let r1 = vm.setup_skb(&setup).expect("builds");
            assert_eq!(vm.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(0), "TC_ACT_OK");
            let skb = vm.skb.expect("set up");
            assert_eq!(skb.get(&vm.memory, 8), Ok(mark), "{object}: skb->mark");
            let s = vm.skb.expect("set up");
            let after = s.meta(&vm.memory).expect("valid").to_vec();
            if after.len() == 32 {
                assert_eq!(u16::from_le_bytes([after[26], after[27]]), flags, "{object}: flags");
            }
        }
    }
}

#[test]
fn tc_vlan_push_tags_untagged_frames() {
    for object in ["vlan_push.v3.o", "vlan_push.v4.o"] {
        let mut vm = load(object, "tc_vlan_push");
        let r1 = vm.setup_skb(&SkbSetup { packet: frame(0x0800, 0), ..SkbSetup::default() }).expect("builds");
        assert_eq!(vm.run([r1, 0, 0, 0, 0]).map(|o| o.r0), Ok(0), "TC_ACT_OK");
        let skb = vm.skb.expect("set up");
        let field = |off| skb.get(&vm.memory, off);
        assert_eq!((field(20), field(24), field(28)), (Ok(1), Ok(10), Ok(0x0081)), "{object}");
    }
}
