//! The object rewrite: every site of an object replaced in one batch with
//! [`bpf_patch::elf::rewrite`] (which keeps jumps, line info, symbols and relocations consistent
//! and drops the replaced calls' kfunc relocations), bytes in, bytes out, with a per-site report.
//! A sequence's calls into kernel routines ([`Sequence::calls`]) get an `R_BPF_64_32`
//! relocation against the routine's name (an undefined global symbol the writer adds), so the
//! output names the kernel function it calls.

use std::collections::HashMap;

use bpf_patch::elf::{rewrite, BpfObject, NewReloc, ObjectEdits, R_BPF_64_32};
use bpf_patch::{Insn, Reg, Slot};
use bpf_verifier_model::interp::Layouts;

use crate::discipline::Usage;
use crate::emit::{emit, emit_loadable, stack_depth, Driver, KernelIds, Lowering, Sequence};
use crate::error::UnrollError;
use crate::kfunc::{Abi, Kfunc};
use crate::sites::{find_sites, KfuncIds};

/// What to unroll into.
#[derive(Clone, Debug)]
pub struct Options {
    /// The driver whose implementations are inlined.
    pub driver: Driver,
    /// How the sequences reach the driver's data.
    pub lowering: Lowering,
    /// The kfunc ABI the object was written against.
    pub abi: Abi,
    /// Struct layouts (default: the hand-written 6.18 ones).
    pub layouts: Layouts,
    /// The target kernel's BTF ids, needed by the `loadable` lowering.
    pub kernel_ids: Option<KernelIds>,
    /// The kfuncs' BTF ids, to find calls already in resolved form (none without).
    pub resolved: Option<KfuncIds>,
}

impl Options {
    /// `driver`, `lowering`, `abi` with the 6.18 layouts.
    pub fn new(driver: Driver, lowering: Lowering, abi: Abi) -> Options {
        Options { driver, lowering, abi, layouts: Layouts::v6_18(), kernel_ids: None, resolved: None }
    }
}

/// One replaced call.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SiteReport {
    /// The function symbol.
    pub program: String,
    /// The call's slot in the input, from the function's first instruction.
    pub original_insn: Slot,
    /// Slot of the first emitted instruction in the output, from the function's first
    /// instruction.
    pub insn: Slot,
    /// The kfunc.
    pub kfunc: Kfunc,
    /// The original call instruction.
    pub call: Insn,
    /// The emitted instructions.
    pub code: Vec<Insn>,
    /// One annotation per emitted instruction.
    pub annotations: Vec<String>,
    /// Registers written, in order.
    pub regs_written: Vec<Reg>,
    /// Stack bytes the sequence uses.
    pub stack_bytes: u32,
    /// Kernel routines called, by slot from the first emitted instruction.
    pub calls: Vec<(Slot, &'static str)>,
    /// `loadable`: the stack slots declared for spills, `[r10 + lo, r10 + hi)`.
    pub scratch: Option<(i16, i16)>,
    /// `loadable`: BTF ids of the kfuncs the sequence may call.
    pub kfunc_ids: Vec<i32>,
}

impl SiteReport {
    /// Number of emitted instructions (slots).
    pub fn emitted(&self) -> usize {
        self.code.len()
    }
}

/// What [`unroll`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    /// The driver inlined.
    pub driver: Driver,
    /// The lowering used: the discipline every site's code follows.
    pub lowering: Lowering,
    /// Every replaced call, in program then slot order.
    pub sites: Vec<SiteReport>,
}

/// Replaces every call of a metadata kfunc of `options.abi` in the object `input` by the
/// driver's sequence; returns the new object and the report. An object without such calls is
/// rewritten unchanged in meaning, with an empty report.
pub fn unroll(input: &[u8], options: &Options) -> Result<(Vec<u8>, Report), UnrollError> {
    let obj = BpfObject::parse(input)?;
    let sites = find_sites(&obj, options.abi, options.resolved.as_ref())?;
    // Sequences depend on the kfunc, and for `loadable` on the function's stack depth.
    let mut cache: HashMap<(Kfunc, usize), Sequence> = HashMap::new();
    let mut edits = ObjectEdits::new();
    let mut report = Report { driver: options.driver, lowering: options.lowering, sites: Vec::new() };
    // Growth so far inside each function: output slot = input slot + growth of earlier sites.
    let mut growth: HashMap<usize, u32> = HashMap::new();
    for site in sites {
        let p = &obj.programs[site.program_index];
        let key = (site.kfunc, if options.lowering == Lowering::Loadable { site.program_index } else { 0 });
        let seq = match cache.get(&key) {
            Some(s) => s.clone(),
            None => {
                let s = match options.lowering {
                    Lowering::Loadable => {
                        let ids = options.kernel_ids.as_ref().ok_or(UnrollError::NeedsKernelBtf)?;
                        let depth = stack_depth(obj.insns_of(p));
                        emit_loadable(options.driver, site.kfunc, &options.layouts, ids, depth, &p.name)?
                    }
                    lowering => emit(options.driver, site.kfunc, lowering, &options.layouts)?,
                };
                cache.insert(key, s.clone());
                s
            }
        };
        let call = obj.insns_of(p)[site.slot.index()];
        let g = growth.entry(site.program_index).or_insert(0);
        let insn = Slot(site.slot.0 + *g);
        let len = u32::try_from(seq.insns.len()).expect("sequences are short");
        *g += len - 1;
        edits.replace(&site.program, site.slot, seq.insns.clone());
        for &(at, routine) in &seq.calls {
            edits.with_reloc(NewReloc { at: at.0, r_type: R_BPF_64_32, symbol: routine.to_owned() });
        }
        report.sites.push(SiteReport {
            program: site.program,
            original_insn: site.slot,
            insn,
            kfunc: site.kfunc,
            call,
            code: seq.insns,
            annotations: seq.annotations,
            regs_written: Usage::regs(seq.usage.regs_written),
            stack_bytes: seq.usage.stack_bytes,
            calls: seq.calls,
            scratch: seq.scratch,
            kfunc_ids: seq.kfunc_ids,
        });
    }
    // The replaced kfuncs need not exist where the output loads (stub: kernels without them).
    edits.weaken_unused_externs();
    let out = rewrite(input, &edits)?;
    Ok((out, report))
}
