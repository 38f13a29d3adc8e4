//! The packet-trait kfuncs in the verifier model (model only: no kernel has them, so these
//! cannot be kernel-checked cases in `testdata/verifier/`): each argument rule accepted and
//! each breach rejected with the message `verifier::explore::kcall_traits` documents, with or
//! without a kernel kfunc table (a table lacking the names falls back to the bundled rules);
//! then a program using set / get / del accepted by the model and run by the interpreter.

use bpf_patch::op::{decode_all, CallTarget, Op};
use bpf_patch::text::assemble;
use bpf_verifier_model::interp::{Helpers, Program, Vm, XdpSetup};
use bpf_verifier_model::load::{MapShape, ProgType};
use bpf_verifier_model::traits::Format;
use bpf_verifier_model::verifier::explore::{verify, Env, Outcome};
use bpf_verifier_model::verifier::kfunc::KfuncTable;

/// `call kfunc 1` .. `4`.
const NAMES: [&str; 4] =
    ["bpf_xdp_trait_set", "bpf_xdp_trait_get", "bpf_xdp_trait_del", "bpf_xdp_trait_is_set"];

/// A set call from fp-8 with `{init}` before it and the arguments overridable by `{args}`.
fn set(init: &str, args: &str) -> String {
    format!("r6 = r1\n{init}\nr1 = r6\nr2 = 0x3\nr3 = r10\nr3 += -0x8\nr4 = 0x8\nr5 = 0x0\n{args}\ncall kfunc 0x1\nexit\n")
}

/// A get call into fp-8 (then read back), arguments overridable by `{args}`.
fn get(args: &str) -> String {
    format!(
        "r6 = r1\nr1 = r6\nr2 = 0x3\nr3 = r10\nr3 += -0x8\nr4 = 0x8\n{args}\ncall kfunc 0x2\nr0 = *(u64 *)(r10 -0x8)\nexit\n"
    )
}

/// A set (`kfunc 0x1`) or get (`kfunc 0x2`) whose buffer is the value of map 0 (an 8-byte
/// array value), looked up and NULL-checked unless `unchecked`.
fn in_map(kfunc: u8, size: u8, unchecked: bool) -> String {
    let check = if unchecked { "" } else { "if r0 == 0x0 goto <out>\n" };
    format!(
        "r6 = r1\n*(u32 *)(r10 -0x4) = 0x0\nr2 = r10\nr2 += -0x4\nld_pseudo r1, 0x1, 0x0\ncall 0x1\n{check}\
         r1 = r6\nr2 = 0x3\nr3 = r0\nr4 = {size:#x}\nr5 = 0x0\ncall kfunc {kfunc:#x}\nout:\nr0 = 0x0\nexit\n"
    )
}

const INIT: &str = "*(u64 *)(r10 -0x8) = 0x2a";

struct Case {
    name: &'static str,
    prog_type: ProgType,
    read_only_map: bool,
    source: String,
    /// `None`: accepted; else the message, at the last kfunc call (or, for a read after it,
    /// the next instruction).
    reject: Option<&'static str>,
}

fn case(name: &'static str, source: String, reject: Option<&'static str>) -> Case {
    Case { name, prog_type: ProgType::Xdp, read_only_map: false, source, reject }
}

fn cases() -> Vec<Case> {
    vec![
        case("set from initialised stack", set(INIT, ""), None),
        case("get into the stack, then read", get(""), None),
        case("del", "r1 = r1\nr2 = 0x3\ncall kfunc 0x3\nexit\n".into(), None),
        case("is_set", "r2 = 0x3f\ncall kfunc 0x4\nexit\n".into(), None),
        case("set from a map value", in_map(1, 8, false), None),
        case("get into a map value", in_map(2, 8, false), None),
        case("get with NULL and size 0", "r2 = 0x3\nr3 = 0x0\nr4 = 0x0\ncall kfunc 0x2\nexit\n".into(), None),
        // NULL with size 0 writes nothing: the read back finds fp-8 uninitialised.
        case(
            "get with NULL and size 0, then read",
            get("r3 = 0x0\nr4 = 0x0"),
            Some("invalid read from stack off -8+0 size 8"),
        ),
        case("variable key", set(INIT, "r2 = *(u32 *)(r6 + 0xc)"), None),
        Case {
            prog_type: ProgType::SchedCls,
            ..case(
                "set in TC",
                set(INIT, ""),
                Some("calling kernel function bpf_xdp_trait_set is not allowed"),
            )
        },
        case("ctx not in R1", set(INIT, "r1 = r10"), Some("arg#0 expected pointer to ctx, but got fp")),
        case(
            "modified ctx",
            set(INIT, "r1 += 0x8"),
            Some("dereference of modified ctx ptr R1 off=8 disallowed"),
        ),
        case("pointer key", set(INIT, "r2 = r10"), Some("R2 is not a scalar")),
        case("pointer flags", set(INIT, "r5 = r6"), Some("R5 is not a scalar")),
        case("variable size", set(INIT, "r4 = *(u32 *)(r6 + 0xc)"), Some("R4 must be a known constant")),
        case(
            "packet buffer",
            set(INIT, "r3 = *(u32 *)(r6 + 0x0)"),
            Some("R3 type=pkt expected=fp, map_value"),
        ),
        case("NULL with a size", set(INIT, "r3 = 0x0"), Some("R3 type=scalar expected=fp, map_value")),
        case(
            "buffer past the stack",
            set(INIT, "r4 = 0x10"),
            Some("invalid indirect access to stack R3 off=-8 size=16"),
        ),
        case(
            "set from uninitialised stack",
            set("", ""),
            Some("invalid indirect read from stack R3 off -8+0 size 8"),
        ),
        case(
            "set from a half-initialised stack",
            set("*(u32 *)(r10 -0x8) = 0x1", ""),
            Some("invalid indirect read from stack R3 off -8+4 size 8"),
        ),
        Case {
            read_only_map: true,
            ..case(
                "get into a read-only map value",
                in_map(2, 8, false),
                Some("write into map forbidden, value_size=8 off=0 size=8"),
            )
        },
        Case { read_only_map: true, ..case("set from a read-only map value", in_map(1, 8, false), None) },
        case(
            "past a map value",
            in_map(2, 16, false),
            Some("R3 min value is outside of the allowed memory range"),
        ),
        case(
            "unchecked map value",
            in_map(1, 8, true),
            Some("R3 type=map_value_or_null expected=fp, map_value"),
        ),
    ]
}

/// The slot of the last kfunc call.
fn last_kfunc(insns: &[bpf_patch::Insn]) -> usize {
    let ops = decode_all(insns).expect("test programs decode");
    ops.iter()
        .rev()
        .find(|(_, op)| matches!(op, Op::Call(CallTarget::Kfunc { .. })))
        .map(|(s, _)| s.0 as usize)
        .expect("every case calls a kfunc")
}

fn run_cases(table: Option<&KfuncTable>) -> usize {
    let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    let maps = [MapShape::new(2, 4, 8, 1)];
    let mut n = 0;
    for c in cases() {
        let insns = assemble(&c.source).unwrap_or_else(|e| panic!("{}: {e}\n{}", c.name, c.source));
        let read_only = [c.read_only_map];
        let env = Env {
            maps: &maps,
            read_only_maps: &read_only,
            allow_uninit_stack: false,
            kfuncs: &names,
            kfunc_table: table,
            ..Env::new(c.prog_type)
        };
        let outcome = verify(&insns, &env).unwrap_or_else(|e| panic!("{}: {e}", c.name)).outcome;
        match (c.reject, outcome) {
            (None, Outcome::Accept) => {}
            (Some(want), Outcome::Reject(d)) => {
                let at = last_kfunc(&insns) + usize::from(want.starts_with("invalid read"));
                assert_eq!((d.insn, d.message.as_str()), (at, want), "{}", c.name)
            }
            (want, got) => panic!("{}: want {want:?}, got {got:?}", c.name),
        }
        n += 1;
    }
    n
}

#[test]
#[allow(clippy::print_stderr)]
fn trait_kfunc_arguments_follow_the_rules() {
    let n = run_cases(None);
    let bundled = KfuncTable::newest_bundled().expect("a table is bundled");
    assert_eq!(run_cases(Some(&bundled)), n);
    if let Some(live) = KfuncTable::running() {
        assert_eq!(run_cases(Some(&live)), n);
    }
    let accepts = cases().iter().filter(|c| c.reject.is_none()).count();
    eprintln!("{n} trait kfunc cases ({accepts} accepted, {} rejected)", n - accepts);
    assert!(n >= 10);
}

/// set(3, 0x1122334455667788); get(3) into fp-16; del(3); a second get returns -ENOENT:
/// R0 = the first get's size (8) + the value read back's low byte (0x88) - the second get's
/// return (-2) = 0x92.
const ROUND_TRIP: &str = "r6 = r1
r1 = 0x1122334455667788 ll
*(u64 *)(r10 -0x8) = r1
r1 = r6
r2 = 0x3
r3 = r10
r3 += -0x8
r4 = 0x8
r5 = 0x0
call kfunc 0x1
if r0 != 0x0 goto <fail>
r1 = r6
r2 = 0x3
r3 = r10
r3 += -0x10
r4 = 0x8
call kfunc 0x2
r7 = r0
r8 = *(u64 *)(r10 -0x10)
r8 &= 0xff
r7 += r8
r1 = r6
r2 = 0x3
call kfunc 0x3
if r0 != 0x0 goto <fail>
r1 = r6
r2 = 0x3
r3 = r10
r3 += -0x10
r4 = 0x8
call kfunc 0x2
r7 -= r0
r0 = r7
exit
fail:
r0 = 0x0
exit
";

#[test]
fn a_trait_program_is_accepted_and_runs() {
    let insns = assemble(ROUND_TRIP).expect("assembles");
    let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    let env = Env { allow_uninit_stack: false, kfuncs: &names, ..Env::new(ProgType::Xdp) };
    let report = verify(&insns, &env).expect("decodes");
    assert_eq!(report.outcome, Outcome::Accept);
    for format in [Format::V1, Format::V2] {
        let mut vm = Vm::new(Program::new(&insns).expect("decodes"));
        vm.helpers = Helpers::kernel(0);
        bpf_verifier_model::interp::traits::register(&mut vm.helpers);
        for (i, n) in NAMES.iter().enumerate() {
            vm.helpers.bind_kfunc_id(i as i32 + 1, n);
        }
        let setup = XdpSetup { traits: Some(format), headroom: 256, ..XdpSetup::new((0..64).collect()) };
        let r1 = vm.setup_xdp(&setup);
        let out = vm.run([r1, 0, 0, 0, 0]).expect("runs");
        assert_eq!(out.r0, 8 + 0x88 + 2, "{format:?}");
    }
}
