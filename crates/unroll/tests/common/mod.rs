//! What the semantics tests share: running an emitted sequence or the reference kfunc in the
//! interpreter on an XDP context laid out from `Layouts`, and the bytes compared afterwards.
#![allow(dead_code)] // each test binary uses its own subset

use std::rc::Rc;

use bpf_patch::filter::{call_kfunc, exit};
use bpf_patch::Insn;
use bpf_unroll::{Abi, Kfunc, Sequence};
use bpf_verifier_model::interp::xdp_meta::register_rfc;
use bpf_verifier_model::interp::{Helpers, Layouts, Memory, Program, RegionKind, Vm, XdpDriver, XdpSetup};

/// What out-parameter bytes hold before a run: "not written" shows.
pub const UNTOUCHED: u8 = 0xaa;

#[derive(Clone, PartialEq, Eq, Debug)]
/// R0 and the bytes a run leaves: out-parameters, the frame and the driver's wrapper.
pub struct Run {
    pub r0: i64,
    pub out: Vec<u8>,
    pub frame: Vec<u8>,
    pub buff: Vec<u8>,
}

/// Runs `code` (then `exit`) with R1 the context, R2 / R3 two 8-byte out-parameters.
pub fn run(mut code: Vec<Insn>, helpers: Helpers, driver: XdpDriver, layouts: &Rc<Layouts>) -> Run {
    code.push(exit().encode().0);
    let mut vm = Vm::new(Program::new(&code).expect("decodes"));
    vm.helpers = helpers;
    let setup = XdpSetup { driver, layouts: layouts.clone(), ..XdpSetup::new(vec![0x11; 64]) };
    let r1 = vm.try_setup_xdp(&setup).expect("layouts have the driver's fields");
    let out = vm.memory.map(RegionKind::Plain, vec![UNTOUCHED; 16], true);
    let p = Memory::addr(out, 0);
    let r0 = vm.run([r1, p, p + 8, 0, 0]).unwrap_or_else(|e| panic!("{driver:?}: faulted: {e}")).r0 as i64;
    let x = vm.xdp.expect("set up");
    let bytes = |id| vm.memory.region(id).expect("mapped").bytes.clone();
    let mut r = Run { r0, out: bytes(out), frame: bytes(x.frame), buff: bytes(x.buff) };
    // The contract's scratch slot: the reference never touches it, our sequences do.
    if let Some(f) = driver.wrapper(layouts).find("r0") {
        r.buff[f.offset as usize..(f.offset + f.size) as usize].fill(0);
    }
    r
}

/// The emitted sequence, with each kernel routine it calls bound to the call's id.
pub fn ours(seq: &Sequence, driver: XdpDriver, layouts: &Rc<Layouts>) -> Run {
    let mut h = Helpers::kernel(0);
    for &(_, routine) in &seq.calls {
        h.bind_kfunc_id(-1, routine);
    }
    run(seq.insns.clone(), h, driver, layouts)
}

/// The reference: `call kfunc` bound to the kfunc's name under its ABI.
pub fn reference(kfunc: Kfunc, driver: XdpDriver, layouts: &Rc<Layouts>) -> Run {
    let mut h = Helpers::kernel(0);
    if kfunc.abi() == Abi::Rfc {
        register_rfc(&mut h);
    }
    h.bind_kfunc_id(1, kfunc.name());
    run(vec![call_kfunc(0, 1).encode().0], h, driver, layouts)
}
