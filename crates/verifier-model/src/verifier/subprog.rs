//! What the kernel knows and checks about a program's subprograms outside path exploration:
//! the BTF `func_info` the loader passes ([`FuncInfo`]: linkage and, for global functions,
//! the argument types the prototype gives), the checks on programs loaded without it
//! (`check_abnormal_return`), and the combined stack depth along call chains once
//! exploration has measured each subprogram's stack (`check_max_stack_depth`).
//!
//! Exploration itself (entering subprograms, callbacks, global functions) lives in
//! [`super::explore`].

use bpf_patch::elf::BpfObject;
use bpf_patch::op::{CallTarget, LdImm64Src, Op};
use bpf_patch::Slot;
use btf_rs::{Btf, BtfType, Type};

use crate::load::{LinkedProgram, ProgType};

/// The kernel's `MAX_BPF_STACK`.
pub const MAX_BPF_STACK: u32 = 512;
/// The kernel's `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;
/// `BPF_FUNC_tail_call`.
const TAIL_CALL: i32 = 12;

/// An argument of a global function, from its BTF prototype (`btf_prepare_func_args`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FuncArg {
    /// An integer or enum: any scalar (`ARG_ANYTHING`).
    Scalar,
    /// A pointer to the program type's context struct (`ARG_PTR_TO_CTX`).
    Ctx,
    /// A pointer to `size` bytes of memory (`ARG_PTR_TO_MEM`), maybe NULL unless tagged
    /// `__arg_nonnull`.
    Mem {
        /// Size of the pointee.
        size: u32,
        /// The caller may pass NULL (the callee must check).
        nullable: bool,
    },
    /// Anything else (dynptrs, arena, kernel objects): what it is, for the report.
    Other(String),
}

/// One function of a program as its BTF `func_info` describes it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FuncInfo {
    /// First slot.
    pub start: Slot,
    /// Name.
    pub name: String,
    /// `BTF_FUNC_GLOBAL`: verified on its own, callers only check its arguments.
    pub global: bool,
    /// Arguments (global functions).
    pub args: Vec<FuncArg>,
}

/// The `func_info` libbpf would pass for `linked` (one record per function placed, in
/// order), with the prototypes of global functions from `btf`; `None` when the object has no
/// `.BTF.ext` (the program is then loaded without func_info).
pub fn func_infos(
    obj: &BpfObject,
    btf: Option<&Btf>,
    linked: &LinkedProgram,
    prog_type: ProgType,
) -> Option<Vec<FuncInfo>> {
    let btf = btf?;
    obj.btf_ext.as_ref()?;
    let mut out: Vec<FuncInfo> = Vec::new();
    let mut last = None;
    for (slot, o) in linked.origin.iter().enumerate() {
        if last == Some(o.function) {
            continue;
        }
        last = Some(o.function);
        let p = obj.programs.get(o.function)?;
        let global = slot > 0 && p.global;
        let args = if global { prototype_args(btf, &p.name, prog_type) } else { Vec::new() };
        out.push(FuncInfo { start: Slot(slot as u32), name: p.name.clone(), global, args });
    }
    Some(out)
}

/// `btf_prepare_func_args` for the FUNC named `name`.
fn prototype_args(btf: &Btf, name: &str, prog_type: ProgType) -> Vec<FuncArg> {
    let proto = btf.resolve_types_by_name(name).ok().and_then(|ts| {
        ts.into_iter().find_map(|t| match t {
            Type::Func(f) => match btf.resolve_chained_type(&f).ok()? {
                Type::FuncProto(p) => Some(p),
                _ => None,
            },
            _ => None,
        })
    });
    let Some(proto) = proto else { return vec![FuncArg::Other(format!("no BTF prototype for {name}"))] };
    proto.parameters.iter().map(|param| param_arg(btf, param, prog_type)).collect()
}

/// Follows typedefs and qualifiers.
fn skip_mods(btf: &Btf, mut t: Type) -> Option<Type> {
    for _ in 0..32 {
        t = match &t {
            Type::Typedef(x) => btf.resolve_chained_type(x).ok()?,
            Type::Const(x) | Type::Volatile(x) | Type::Restrict(x) => btf.resolve_chained_type(x).ok()?,
            Type::TypeTag(x) => btf.resolve_chained_type(x).ok()?,
            _ => return Some(t),
        };
    }
    None
}

fn param_arg(btf: &Btf, param: &dyn BtfType, prog_type: ProgType) -> FuncArg {
    let other = |what: &str| FuncArg::Other(what.to_owned());
    let Some(t) = btf.resolve_chained_type(param).ok().and_then(|t| skip_mods(btf, t)) else {
        return other("unresolvable argument type");
    };
    match t {
        Type::Int(_) | Type::Enum(_) | Type::Enum64(_) => FuncArg::Scalar,
        Type::Ptr(p) => {
            let Some(target) = btf.resolve_chained_type(&p).ok().and_then(|t| skip_mods(btf, t)) else {
                return other("pointer to void");
            };
            let size = match &target {
                Type::Struct(st) => {
                    let name = btf.resolve_name(st).unwrap_or_default();
                    if Some(name.as_str()) == ctx_struct(prog_type) {
                        return FuncArg::Ctx;
                    }
                    st.size()
                }
                Type::Int(i) => i.size(),
                Type::Enum(e) => e.size(),
                Type::Enum64(e) => e.size(),
                Type::Ptr(_) => 8,
                _ => return other(&format!("pointer to {}", target.name())),
            };
            match u32::try_from(size) {
                Ok(size) if size > 0 => FuncArg::Mem { size, nullable: true },
                _ => other("pointer to an empty type"),
            }
        }
        t => other(t.name()),
    }
}

/// The context struct a program type's global functions take (`btf_is_prog_ctx_type`).
fn ctx_struct(prog_type: ProgType) -> Option<&'static str> {
    match prog_type {
        ProgType::Xdp => Some("xdp_md"),
        ProgType::SchedCls | ProgType::SocketFilter | ProgType::CgroupSkb => Some("__sk_buff"),
        _ => None,
    }
}

/// A check failure with the kernel's words and the instruction to report.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SubprogError {
    /// The instruction.
    pub insn: usize,
    /// The kernel's message.
    pub message: String,
}

/// Index of the subprogram containing slot `pc` (`subprogs` ascending, starting with 0).
pub fn subprog_of(subprogs: &[usize], pc: usize) -> usize {
    subprogs.partition_point(|&s| s <= pc).saturating_sub(1)
}

/// `check_abnormal_return`: without BTF `func_info` a subprogram other than the main
/// program may neither use `LD_ABS`/`LD_IND` nor tail-call.
pub fn check_abnormal_return(ops: &[(Slot, Op)], subprogs: &[usize]) -> Result<(), SubprogError> {
    let Some(&first) = subprogs.get(1) else { return Ok(()) };
    for &(s, op) in ops.iter().filter(|(s, _)| s.index() >= first) {
        let message = match op {
            Op::LdAbs { .. } | Op::LdInd { .. } => "LD_ABS is not allowed in subprogs without BTF",
            Op::Call(CallTarget::Helper(TAIL_CALL)) => "tail_call is not allowed in subprogs without BTF",
            _ => continue,
        };
        return Err(SubprogError { insn: s.index(), message: message.into() });
    }
    Ok(())
}

/// The kernel's `round_up_stack_depth` with the JIT on (always on x86-64): 16-byte granules.
pub fn round_up_stack_depth(depth: u32) -> u32 {
    depth.div_ceil(16) * 16
}

/// `check_max_stack_depth` for a program whose subprograms (starting slots in `subprogs`)
/// used `depths[i]` bytes of stack: every chain of calls and callback addresses from the
/// main program, each frame rounded up, must fit in [`MAX_BPF_STACK`] bytes and
/// [`MAX_CALL_FRAMES`] frames; a subprogram that tail-calls may not run on more than 256
/// bytes of its callers' stacks.
pub fn check_max_stack_depth(
    ops: &[(Slot, Op)],
    subprogs: &[usize],
    depths: &[u32],
) -> Result<(), SubprogError> {
    // Per subprogram: (call slot, callee subprogram) in slot order, and whether it tail-calls.
    let mut calls: Vec<Vec<(usize, usize)>> = vec![Vec::new(); subprogs.len()];
    let mut tail_call = vec![false; subprogs.len()];
    for &(s, op) in ops {
        let k = subprog_of(subprogs, s.index());
        let imm = match op {
            Op::Call(CallTarget::Local(imm)) | Op::LdImm64 { src: LdImm64Src::Func, imm, .. } => imm,
            Op::Call(CallTarget::Helper(TAIL_CALL)) => {
                tail_call[k] = true;
                continue;
            }
            _ => continue,
        };
        let target = i64::from(s.0) + 1 + i64::from(imm);
        if let Some(callee) = subprogs.iter().position(|&t| t as i64 == target) {
            calls[k].push((s.index(), callee));
        }
    }
    let walk = Walk { calls: &calls, tail_call: &tail_call, depths };
    walk.visit(0, 0, 0, 0)
}

struct Walk<'a> {
    calls: &'a [Vec<(usize, usize)>],
    tail_call: &'a [bool],
    depths: &'a [u32],
}

impl Walk<'_> {
    /// Enters subprogram `idx` as frame `frame` (called at `insn`) on `depth` bytes of callers.
    fn visit(&self, idx: usize, frame: usize, depth: u32, insn: usize) -> Result<(), SubprogError> {
        if idx != 0 && self.tail_call[idx] && depth >= 256 {
            let message = format!(
                "tail_calls are not allowed when call stack of previous frames is {depth} bytes. Too large"
            );
            return Err(SubprogError { insn, message });
        }
        let depth = depth + round_up_stack_depth(self.depths[idx]);
        if depth > MAX_BPF_STACK {
            let message = format!("combined stack size of {} calls is {depth}. Too large", frame + 1);
            return Err(SubprogError { insn, message });
        }
        for &(at, callee) in &self.calls[idx] {
            if frame + 1 >= MAX_CALL_FRAMES {
                let message = format!("the call stack of {} frames is too deep !", frame + 1);
                return Err(SubprogError { insn: at, message });
            }
            self.visit(callee, frame + 1, depth, at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::op::decode_all;
    use bpf_patch::text::assemble;

    fn ops(src: &str) -> Vec<(Slot, Op)> {
        decode_all(&assemble(src).expect("assembles")).expect("decodes")
    }

    #[test]
    fn combined_depth_sums_rounded_frames_along_the_deepest_chain() {
        // main calls a (slot 3), a calls b (slot 6); main also calls b directly.
        let src = "call local 0x2\ncall local 0x4\nexit\ncall local 0x1\nexit\nexit";
        let o = ops(src);
        let subprogs = [0, 3, 5];
        let cases: [(&[u32], Result<(), &str>); 4] = [
            (&[8, 8, 8], Ok(())),
            (&[8, 496, 0], Ok(())),
            (&[24, 496, 0], Err("combined stack size of 2 calls is 528. Too large")),
            (&[200, 200, 120], Err("combined stack size of 3 calls is 544. Too large")),
        ];
        for (depths, want) in cases {
            let got = check_max_stack_depth(&o, &subprogs, depths).map_err(|e| e.message);
            assert_eq!(got.as_ref().map_err(String::as_str), want.as_ref().map_err(|s| *s), "{depths:?}");
        }
    }

    #[test]
    fn rounding_is_to_16_bytes_and_zero_stays_zero() {
        assert_eq!([0, 1, 16, 17, 496].map(round_up_stack_depth), [0, 16, 16, 32, 496]);
    }

    #[test]
    fn subprograms_without_btf_may_not_tail_call() {
        let o = ops("call local 0x1\nexit\ncall 0xc\nexit");
        let e = check_abnormal_return(&o, &[0, 2]).expect_err("tail call in a subprogram");
        assert_eq!((e.insn, e.message.as_str()), (2, "tail_call is not allowed in subprogs without BTF"));
        assert!(check_abnormal_return(&o, &[0]).is_ok());
    }
}
