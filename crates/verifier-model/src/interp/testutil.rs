//! Test support: programs written in our assembly syntax, with `call %name` for kfuncs (each
//! name gets a BTF id bound in the VM's registry).

use bpf_patch::text::assemble;

use super::{Helpers, Program, Vm};

/// Assembles `src` (after turning each `call %name` into a kfunc call bound to `name`) into a
/// VM with [`Helpers::kernel`].
pub(crate) fn asm_vm(src: &str) -> Vm {
    let mut names: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("call %") {
            let name = name.trim().to_owned();
            let id = match names.iter().position(|n| *n == name) {
                Some(i) => i + 1,
                None => {
                    names.push(name);
                    names.len()
                }
            };
            out.push_str(&format!("call kfunc {id}\n"));
        } else {
            out.push_str(t);
            out.push('\n');
        }
    }
    let code = assemble(&out).unwrap_or_else(|e| panic!("test program assembles: {e}\n{out}"));
    let mut vm = Vm::new(Program::new(&code).expect("test programs decode"));
    vm.helpers = Helpers::kernel(0);
    for (i, n) in names.iter().enumerate() {
        vm.helpers.bind_kfunc_id(i as i32 + 1, n);
    }
    vm
}

/// Runs with R1 = `r1` and returns R0 as a signed value.
pub(crate) fn run_i64(vm: &mut Vm, r1: u64) -> i64 {
    match vm.run([r1, 0, 0, 0, 0]) {
        Ok(o) => o.r0 as i64,
        Err(e) => panic!("program faulted: {e}"),
    }
}
