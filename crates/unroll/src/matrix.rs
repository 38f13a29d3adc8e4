//! The driver matrix: for every driver × ABI × kfunc × lowering, what replaces the call,
//! computed by running the emitters (never a hand-written table) with the driver's bundled
//! profile ([`crate::profile`]); the `loadable` lowering with a target kernel's ids and layouts.

use std::collections::BTreeSet;

use bpf_patch::op::{AluOp, Op, Operand, Reg};
use bpf_verifier_model::interp::Layouts;

use crate::emit::{emit, emit_loadable, Driver, KernelIds, Lowering, Sequence, ENODATA, EOPNOTSUPP};
use crate::error::UnrollError;
use crate::kfunc::{Abi, Kfunc};
use crate::profile::Profile;

/// The kernel the `loadable` cells are emitted for.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its BTF ids.
    pub ids: KernelIds,
    /// Its layouts, read from its BTF ([`Profile::from_btf`]).
    pub profile: Profile,
}

/// What one combination does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// A sequence replaces the call.
    Sequence {
        /// Instructions (slots) emitted.
        insns: usize,
        /// The functions it calls, by the names its annotations give.
        calls: Vec<String>,
        /// What it leaves in R0: each immediate by name with its annotation's reason, or
        /// `a loaded value`.
        results: Vec<String>,
        /// Stack bytes it uses.
        stack_bytes: u32,
    },
    /// The emitter refused.
    Error(String),
}

impl Outcome {
    /// One line: `inline, 10 insns; r0: 0 | -ENODATA (xdp_frame path: no skb)`, `18 insns,
    /// calls bpf_cast_to_kern_ctx, bpf_rdonly_cast, 8 stack bytes; r0: ...`, the annotation of a
    /// one-instruction sequence (`-EOPNOTSUPP: no driver support`), `error: ...`.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Error(e) => format!("error: {e}"),
            Outcome::Sequence { insns: 1, calls, results, .. } if calls.is_empty() && results.len() == 1 => {
                results[0].clone()
            }
            Outcome::Sequence { insns, calls, results, stack_bytes } => {
                let mut s = if calls.is_empty() {
                    format!("inline, {insns} insns")
                } else {
                    format!("{insns} insns, calls {}", calls.join(", "))
                };
                if *stack_bytes > 0 {
                    s.push_str(&format!(", {stack_bytes} stack bytes"));
                }
                if !results.is_empty() {
                    s.push_str(&format!("; r0: {}", results.join(" | ")));
                }
                s
            }
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cell {
    /// The driver.
    pub driver: Driver,
    /// The ABI.
    pub abi: Abi,
    /// The kfunc.
    pub kfunc: Kfunc,
    /// The lowering.
    pub lowering: Lowering,
    /// What happens.
    pub outcome: Outcome,
}

/// The matrix and the profiles its layouts came from.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// Every driver's bundled profile (`None`: the driver reads no layouts).
    pub profiles: Vec<(Driver, Option<Profile>)>,
    /// Driver-major, then ABI, kfunc, lowering, each in its `ALL` order.
    pub cells: Vec<Cell>,
}

/// The name of the function an annotation says is called: the identifier before its first `(`.
fn called(note: &str) -> String {
    let Some((head, _)) = note.split_once('(') else { return note.to_owned() };
    let head = head.trim_end();
    let name: String =
        head.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let name: String = name.chars().rev().collect();
    if name.is_empty() {
        note.to_owned()
    } else {
        name
    }
}

fn result_name(k: i32) -> String {
    match k {
        k if k == -ENODATA => "-ENODATA".into(),
        k if k == -EOPNOTSUPP => "-EOPNOTSUPP".into(),
        k => k.to_string(),
    }
}

/// What each instruction that can leave its value in R0 at the end says: an immediate by name
/// with its annotation's reason in parentheses, anything else by its annotation.
fn result_text(op: &Op, note: &str) -> String {
    match op {
        Op::Alu { op: AluOp::Mov, src: Operand::Imm(k), .. } => {
            let why = note.split_once(" (").map(|(_, w)| format!(" ({w}")).unwrap_or_default();
            format!("{}{why}", result_name(*k))
        }
        _ => note.to_owned(),
    }
}

/// Describes a sequence from its instructions and annotations: its length, the functions it
/// calls, and the R0 writers that reach its end (a forward pass over the jumps; sequences only
/// jump forward).
pub fn describe(seq: &Sequence) -> Outcome {
    let ops = bpf_patch::op::decode_all(&seq.insns).expect("emitted sequences decode");
    let end = ops.len();
    let index_of = |slot: i64| {
        if slot == seq.insns.len() as i64 {
            Some(end)
        } else {
            ops.iter().position(|(s, _)| i64::from(s.0) == slot)
        }
    };
    // Per instruction (and the end): the instructions whose R0 may reach it; `None` is R0 as the
    // call site had it.
    let mut reaching: Vec<BTreeSet<Option<usize>>> = vec![BTreeSet::new(); end + 1];
    reaching[0].insert(None);
    let mut calls: Vec<String> = Vec::new();
    for (i, (_, op)) in ops.iter().enumerate() {
        let note = seq.annotations.get(i).map_or("", String::as_str);
        if matches!(op, Op::Call { .. }) && !calls.contains(&called(note)) {
            calls.push(called(note));
        }
        let mut state = std::mem::take(&mut reaching[i]);
        if op.regs_written() & Reg::R0.mask() != 0 {
            state = BTreeSet::from([Some(i)]);
        }
        let next = ops.get(i + 1).map_or(seq.insns.len() as i64, |(s, _)| i64::from(s.0));
        let mut succ = Vec::new();
        if let Some(off) = op.branch_offset() {
            succ.extend(index_of(next + i64::from(off)));
        }
        if !matches!(op, Op::Ja { .. } | Op::Gotol { .. } | Op::Exit) {
            succ.extend(index_of(next));
        }
        for j in succ.into_iter().filter(|&j| j > i) {
            reaching[j].extend(state.iter().copied());
        }
    }
    let mut results = Vec::new();
    if let ([(_, op)], [note]) = (ops.as_slice(), seq.annotations.as_slice()) {
        // One instruction: its annotation says it all (`-EOPNOTSUPP: no driver support`).
        if op.regs_written() == Reg::R0.mask() {
            results.push(note.clone());
        }
    }
    let single = !results.is_empty();
    for w in reaching[end].iter().filter(|_| !single) {
        let r = match w {
            None => "r0 as before the call".to_owned(),
            Some(i) => result_text(&ops[*i].1, seq.annotations.get(*i).map_or("", String::as_str)),
        };
        if !results.contains(&r) {
            results.push(r);
        }
    }
    Outcome::Sequence { insns: seq.insns.len(), calls, results, stack_bytes: seq.usage.stack_bytes }
}

fn outcome(r: Result<Sequence, UnrollError>) -> Outcome {
    match r {
        Ok(seq) => describe(&seq),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The matrix of every [`Driver::ALL`] × [`Abi::ALL`] × kfunc × [`Lowering::ALL`]: `kernel` and
/// `stub` with each driver's bundled profile, `loadable` for `target` (its error, e.g. no
/// readable BTF, fills those cells). A bundled profile that does not parse is an error.
pub fn matrix(target: Result<&Target, &UnrollError>) -> Result<Matrix, UnrollError> {
    let mut profiles = Vec::new();
    let mut cells = Vec::new();
    for driver in Driver::ALL {
        let profile = Profile::bundled(driver)?;
        let layouts = profile.as_ref().map_or_else(Layouts::v6_18, |p| p.layouts.clone());
        for abi in Abi::ALL {
            for &kfunc in abi.kfuncs() {
                for lowering in Lowering::ALL {
                    let outcome = match (lowering, target) {
                        (Lowering::Loadable, Ok(t)) => outcome(
                            emit_loadable(driver, kfunc, &t.profile.layouts, &t.ids, 0, "prog")
                                .map_err(|e| t.profile.explain(e)),
                        ),
                        (Lowering::Loadable, Err(e)) => Outcome::Error(e.to_string()),
                        _ => outcome(emit(driver, kfunc, lowering, &layouts).map_err(|e| match &profile {
                            Some(p) => p.explain(e),
                            None => e,
                        })),
                    };
                    cells.push(Cell { driver, abi, kfunc, lowering, outcome });
                }
            }
        }
        profiles.push((driver, profile));
    }
    Ok(Matrix { profiles, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_names_the_function_an_annotation_calls() {
        let cases = [
            ("r0 = bpf_cast_to_kern_ctx(ctx): the struct xdp_buff", "bpf_cast_to_kern_ctx"),
            ("r0 = bpf_rdonly_cast(r1, struct veth_xdp_buff)", "bpf_rdonly_cast"),
            ("call mlx4_xdp_rx_timestamp (RFC r0 contract)", "mlx4_xdp_rx_timestamp"),
            ("no call here", "no call here"),
        ];
        for (note, want) in cases {
            assert_eq!(called(note), want, "{note}");
        }
    }

    #[test]
    fn every_combination_has_a_cell_and_defaults_are_one_instruction() {
        let m = matrix(Err(&UnrollError::NeedsKernelBtf)).expect("bundled profiles parse");
        let per_driver: usize =
            Abi::ALL.iter().map(|a| a.kfuncs().len()).sum::<usize>() * Lowering::ALL.len();
        assert_eq!(m.cells.len(), Driver::ALL.len() * per_driver);
        for c in m.cells.iter().filter(|c| c.driver == Driver::Default && c.lowering == Lowering::Kernel) {
            let want = if c.abi == Abi::Mainline { "-EOPNOTSUPP: " } else { "0: " };
            assert!(c.outcome.summary().starts_with(want), "{c:?}");
        }
        let veth_ts = m
            .cells
            .iter()
            .find(|c| (c.driver, c.kfunc, c.lowering) == (Driver::Veth, Kfunc::RxTimestamp, Lowering::Kernel))
            .expect("cell");
        assert_eq!(
            veth_ts.outcome.summary(),
            "inline, 10 insns; r0: -ENODATA (xdp_frame path: no skb) | 0",
            "{veth_ts:?}"
        );
        assert!(m
            .cells
            .iter()
            .filter(|c| c.lowering == Lowering::Loadable)
            .all(|c| c.outcome.summary().starts_with("error: ")));
    }
}
