//! Checks of unrolled regions *in an object* (issue 7, "Unrolled code"): given where each
//! sequence landed (a [`Report`], or the same facts read back from `unroll --json`), the code
//! found there is held to its lowering's discipline ([`crate::discipline`]) and to the region's
//! boundaries:
//! - `kernel` / `stub`: only R0 and R2-R5 written (R1 only by the `xdp_kfunc_call_preserving_r1`
//!   pair, which leaves it the context), no R6-R10, no stack, no call but a contract routine, no
//!   `exit`;
//! - `loadable`: R0-R5 written, stack accesses only in the declared scratch slots and every
//!   declared slot used, calls only to the declared casting kfuncs;
//! - both: every jump inside the region lands inside it or at its end, and no jump from the rest
//!   of the function lands strictly inside it.
//!
//! Each breach is a [`RegionDiagnostic`] naming the function and the instruction (slot from the
//! function's first instruction).

use std::fmt;

use bpf_patch::elf::BpfObject;
use bpf_patch::op::{decode_all, Op, Reg};
use bpf_patch::Slot;

use crate::discipline::{self, Violation};
use crate::emit::Lowering;
use crate::error::UnrollError;
use crate::rewrite::Report;

/// One unrolled region of an object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Region {
    /// The function symbol.
    pub program: String,
    /// First slot of the region, from the function's first instruction.
    pub insn: Slot,
    /// Slots in the region.
    pub len: u32,
    /// The kfunc the region replaced (for messages).
    pub kfunc: String,
    /// The discipline the region follows.
    pub lowering: Lowering,
    /// `loadable`: the declared scratch slots, `[r10 + lo, r10 + hi)`.
    pub scratch: Option<(i16, i16)>,
    /// `loadable`: BTF ids of the kfuncs the region may call.
    pub kfunc_ids: Vec<i32>,
}

impl Region {
    /// The regions a rewrite made, from its report.
    pub fn of_report(report: &Report) -> Vec<Region> {
        report
            .sites
            .iter()
            .map(|s| Region {
                program: s.program.clone(),
                insn: s.insn,
                len: u32::try_from(s.code.len()).expect("sequences are short"),
                kfunc: s.kfunc.name().to_owned(),
                lowering: report.lowering,
                scratch: s.scratch,
                kfunc_ids: s.kfunc_ids.clone(),
            })
            .collect()
    }

    fn end(&self) -> u32 {
        self.insn.0 + self.len
    }
}

/// What is wrong with a region.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Problem {
    /// The function does not exist or is shorter than the region.
    NotInObject,
    /// A breach of the lowering's discipline.
    Discipline(Violation),
    /// A declared scratch slot (`r10 + off`) is never accessed.
    ScratchUnused {
        /// Its offset from r10.
        off: i16,
    },
    /// A jump elsewhere in the function lands strictly inside the region.
    EnteredMidway {
        /// The jump's slot, from the function's first instruction.
        from: Slot,
    },
}

/// A breach, located.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RegionDiagnostic {
    /// The function symbol.
    pub program: String,
    /// The region (its first slot and length).
    pub region: (Slot, u32),
    /// The kfunc the region replaced.
    pub kfunc: String,
    /// The lowering it was checked against.
    pub lowering: Lowering,
    /// The offending instruction, from the function's first instruction.
    pub insn: Slot,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for RegionDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, len) = self.region;
        write!(
            f,
            "{} insn {}: {} region {}..{} ({}): ",
            self.program,
            self.insn.0,
            self.kfunc,
            start.0,
            start.0 + len,
            self.lowering
        )?;
        match &self.problem {
            Problem::NotInObject => f.write_str("not in the object"),
            Problem::Discipline(Violation::WritesReg { reg, .. }) => write!(f, "writes {reg}"),
            Problem::Discipline(Violation::UsesStack { .. }) => {
                f.write_str("uses the stack outside its slots")
            }
            Problem::Discipline(Violation::LeavesSequence { .. }) => f.write_str("calls or exits"),
            Problem::Discipline(Violation::JumpsOutside { target, .. }) => {
                write!(f, "jumps to {}, outside the region", i64::from(start.0) + target)
            }
            Problem::Discipline(v) => write!(f, "{v}"),
            Problem::ScratchUnused { off } => write!(f, "declared scratch slot r10{off:+} is never used"),
            Problem::EnteredMidway { from } => write!(f, "entered midway by the jump at insn {}", from.0),
        }
    }
}

/// Every breach in the `regions` of the object `bytes` (empty: all comply).
pub fn check_regions(bytes: &[u8], regions: &[Region]) -> Result<Vec<RegionDiagnostic>, UnrollError> {
    let obj = BpfObject::parse(bytes)?;
    let mut out = Vec::new();
    for r in regions {
        let diag = |insn: u32, problem| RegionDiagnostic {
            program: r.program.clone(),
            region: (r.insn, r.len),
            kfunc: r.kfunc.clone(),
            lowering: r.lowering,
            insn: Slot(insn),
            problem,
        };
        let Some(p) = obj.program(&r.program).filter(|p| r.end() <= p.len) else {
            out.push(diag(r.insn.0, Problem::NotInObject));
            continue;
        };
        let code = obj.insns_of(p);
        let region = &code[r.insn.index()..r.end() as usize];
        let violations = match r.lowering {
            Lowering::Kernel | Lowering::Stub => discipline::check(region),
            Lowering::Loadable => {
                discipline::check_loadable(region, r.scratch.unwrap_or((0, 0)), &r.kfunc_ids)
            }
        };
        out.extend(
            violations.into_iter().map(|v| diag(r.insn.0 + violation_slot(&v), Problem::Discipline(v))),
        );
        if let (Lowering::Loadable, Some((lo, hi))) = (r.lowering, r.scratch) {
            let used = frame_offsets(region);
            for off in (lo..hi).step_by(8) {
                if !used.iter().any(|&(o, n)| o < off + 8 && off < o + n) {
                    out.push(diag(r.insn.0, Problem::ScratchUnused { off }));
                }
            }
        }
        let Ok(ops) = decode_all(code) else { continue };
        for (slot, op) in ops {
            if (r.insn.0..r.end()).contains(&slot.0) {
                continue;
            }
            if let Some(target) = op.branch_offset().map(|off| i64::from(slot.0) + 1 + i64::from(off)) {
                if i64::from(r.insn.0) < target && target < i64::from(r.end()) {
                    out.push(diag(
                        u32::try_from(target).expect("inside the region"),
                        Problem::EnteredMidway { from: slot },
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn violation_slot(v: &Violation) -> u32 {
    match v {
        Violation::WritesReg { insn, .. }
        | Violation::UsesStack { insn }
        | Violation::LeavesSequence { insn }
        | Violation::SplitsContract { insn, .. }
        | Violation::JumpsOutside { insn, .. } => *insn,
        _ => 0,
    }
}

/// `(offset, bytes)` of every direct r10-relative access.
fn frame_offsets(code: &[bpf_patch::Insn]) -> Vec<(i16, i16)> {
    let Ok(ops) = decode_all(code) else { return Vec::new() };
    ops.into_iter()
        .filter_map(|(_, op)| match op {
            Op::Load { src: Reg::R10, off, size, .. }
            | Op::Store { dst: Reg::R10, off, size, .. }
            | Op::StoreImm { dst: Reg::R10, off, size, .. }
            | Op::Atomic { dst: Reg::R10, off, size, .. } => Some((off, size.bytes() as i16)),
            _ => None,
        })
        .collect()
}
