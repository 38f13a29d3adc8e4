//! The control-flow checks the kernel makes before it explores any path (`check_subprogs`,
//! `check_cfg`), on a [`petgraph`] graph of the program's instructions: subprograms from call
//! and callback targets, jumps that leave their subprogram or the program or land inside
//! `ld_imm64`, subprograms whose last instruction can fall through, unreachable instructions,
//! and back-edges (reported as loops; bounded loops are allowed to privileged loaders and are
//! the explorer's business). Instruction indices are slots, as in the kernel's messages.

use bpf_patch::op::{CallTarget, LdImm64Src, Op};
use bpf_patch::Slot;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{depth_first_search, DfsEvent};

/// A CFG error with the kernel's wording.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CfgError {
    /// The instruction the kernel names.
    pub insn: Slot,
    /// The kernel's message (without the trailing newline).
    pub message: String,
}

/// The checked control-flow graph.
#[derive(Debug)]
pub struct Cfg {
    /// Instruction graph: one node per slot (node index = slot), edges for fall-through, jumps
    /// and calls (call edges go to the callee's first instruction).
    pub graph: DiGraph<Slot, Edge>,
    /// First slot of each subprogram, ascending (the main program starts at 0).
    pub subprogs: Vec<Slot>,
    /// Back-edges (from, to) found from the entry: the program loops.
    pub back_edges: Vec<(Slot, Slot)>,
}

/// Kind of a CFG edge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Edge {
    /// To the next instruction.
    Fall,
    /// A jump.
    Jump,
    /// A bpf-to-bpf call or a callback address.
    Call,
}

fn err(insn: usize, message: String) -> CfgError {
    CfgError { insn: Slot(insn as u32), message }
}

/// Builds the graph of `ops` (decoded with their slots; `len` slots in all) and runs the
/// kernel's checks, reporting the first error as the kernel would.
pub fn check(ops: &[(Slot, Op)], len: usize) -> Result<Cfg, CfgError> {
    let subprogs = check_subprogs(ops, len)?;
    check_cfg(ops, len, subprogs)
}

fn target(from: Slot, rel: i64) -> i64 {
    i64::from(from.0) + 1 + rel
}

/// The kernel's `check_subprogs`: the first slot of every subprogram (ascending, 0 first),
/// jumps inside their subprogram, and each subprogram ending in an exit or a jump.
pub fn check_subprogs(ops: &[(Slot, Op)], len: usize) -> Result<Vec<usize>, CfgError> {
    // Subprograms: slot 0, every local call target, every callback address.
    let mut subprogs = vec![0usize];
    for &(s, op) in ops {
        let t = match op {
            Op::Call(CallTarget::Local(imm)) => target(s, i64::from(imm)),
            Op::LdImm64 { src: LdImm64Src::Func, imm, .. } => target(s, i64::from(imm)),
            _ => continue,
        };
        match usize::try_from(t).ok().filter(|&t| t < len) {
            Some(t) => subprogs.push(t),
            None => return Err(err(s.index(), "call to invalid destination".into())),
        }
    }
    subprogs.sort_unstable();
    subprogs.dedup();
    // check_subprogs: jumps stay inside their subprogram; the last instruction of each
    // subprogram is an exit or an unconditional jump.
    for (k, &start) in subprogs.iter().enumerate() {
        let end = subprogs.get(k + 1).copied().unwrap_or(len);
        for &(s, op) in ops.iter().filter(|(s, _)| (start..end).contains(&s.index())) {
            let rel = match op {
                Op::Ja { off } | Op::Jump { off, .. } | Op::MayGoto { off } => i64::from(off),
                Op::Gotol { imm } => i64::from(imm),
                _ => continue,
            };
            let t = target(s, rel);
            if t < start as i64 || t >= end as i64 {
                return Err(err(s.index(), format!("jump out of range from insn {} to {t}", s.0)));
            }
        }
        let last = ops.iter().rev().find(|(s, _)| s.index() < end).map(|&(s, op)| (s, op));
        if let Some((s, op)) = last {
            if !matches!(op, Op::Exit | Op::Ja { .. } | Op::Gotol { .. }) || s.index() < start {
                return Err(err(s.index(), "last insn is not an exit or jmp".into()));
            }
        }
    }
    Ok(subprogs)
}

/// The kernel's `check_cfg` on subprograms from [`check_subprogs`]: the instruction graph,
/// unreachable instructions, jumps into `ld_imm64`, back-edges.
pub fn check_cfg(ops: &[(Slot, Op)], len: usize, subprogs: Vec<usize>) -> Result<Cfg, CfgError> {
    // check_cfg: a depth-first walk over slots from slot 0. As in the kernel, the second slot
    // of `ld_imm64` is a node too (falling through to the next slot), so a jump into it is
    // reported after the walk, like unreachable code.
    let mut graph = DiGraph::with_capacity(len, len * 2);
    let nodes: Vec<NodeIndex> = (0..len).map(|s| graph.add_node(Slot(s as u32))).collect();
    let node_at = |t: i64, from: Slot| -> Result<NodeIndex, CfgError> {
        usize::try_from(t)
            .ok()
            .filter(|&t| t < len)
            .map(|t| nodes[t])
            .ok_or_else(|| err(from.index(), format!("jump out of range from insn {} to {t}", from.0)))
    };
    let mut wide = vec![false; len];
    for &(s, op) in ops {
        let i = s.index();
        let width = if matches!(op, Op::LdImm64 { .. }) { 2 } else { 1 };
        let mut fall = true;
        match op {
            Op::Exit => fall = false,
            Op::Ja { off } => {
                graph.add_edge(nodes[i], node_at(target(s, i64::from(off)), s)?, Edge::Jump);
                fall = false;
            }
            Op::Gotol { imm } => {
                graph.add_edge(nodes[i], node_at(target(s, i64::from(imm)), s)?, Edge::Jump);
                fall = false;
            }
            Op::Jump { off, .. } | Op::MayGoto { off } => {
                graph.add_edge(nodes[i], node_at(target(s, i64::from(off)), s)?, Edge::Jump);
            }
            Op::Call(CallTarget::Local(imm)) | Op::LdImm64 { src: LdImm64Src::Func, imm, .. } => {
                graph.add_edge(nodes[i], node_at(target(s, i64::from(imm)), s)?, Edge::Call);
            }
            _ => {}
        }
        if width == 2 {
            wide[i] = true;
            if let Some(&n) = nodes.get(i + 2) {
                graph.add_edge(nodes[i + 1], n, Edge::Fall);
            }
        }
        if fall {
            match nodes.get(i + width) {
                Some(&n) => {
                    graph.add_edge(nodes[i], n, Edge::Fall);
                }
                None => return Err(err(i, "last insn is not an exit or jmp".into())),
            }
        }
    }
    let mut seen = vec![false; len];
    let mut back_edges = Vec::new();
    if let Some(&entry) = nodes.first() {
        depth_first_search(&graph, Some(entry), |e| match e {
            DfsEvent::Discover(n, _) => seen[n.index()] = true,
            DfsEvent::BackEdge(a, b) => back_edges.push((graph[a], graph[b])),
            _ => {}
        });
    }
    let mut i = 0;
    while i < len {
        if !seen[i] {
            return Err(err(i, format!("unreachable insn {i}")));
        }
        if wide[i] {
            if seen[i + 1] {
                return Err(err(i, format!("jump into the middle of ldimm64 insn {i}")));
            }
            i += 1;
        }
        i += 1;
    }
    Ok(Cfg { graph, subprogs: subprogs.into_iter().map(|s| Slot(s as u32)).collect(), back_edges })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::op::decode_all;
    use bpf_patch::text::assemble;

    fn cfg(src: &str) -> Result<Cfg, CfgError> {
        let insns = assemble(src).expect("test programs assemble");
        let ops = decode_all(&insns).expect("decodes");
        check(&ops, insns.len())
    }

    #[test]
    fn the_kernel_messages_for_malformed_control_flow() {
        let cases = [
            ("r0 = 0\nif r0 > 0x1 goto +0x5\nexit", "jump out of range from insn 1 to 7", 1),
            ("r0 = 0\ngoto -0x3\nexit", "jump out of range from insn 1 to -1", 1),
            ("r0 = 0", "last insn is not an exit or jmp", 0),
            ("r0 = 0\nexit\nr0 = 1\nexit", "unreachable insn 2", 2),
            ("goto +0x1\nr0 = 0x1122334455667788 ll\nexit", "unreachable insn 1", 1),
            (
                "if r1 == 0x0 goto +0x1\nr0 = 0x1122334455667788 ll\nexit",
                "jump into the middle of ldimm64 insn 1",
                1,
            ),
            // A subprogram may not be jumped into from the main program.
            (
                "r0 = 0\nif r0 == 0x0 goto +0x2\ncall local 0x1\nexit\nr0 = 1\nexit",
                "jump out of range from insn 1 to 4",
                1,
            ),
            ("call local 0x10\nexit", "call to invalid destination", 0),
        ];
        for (src, message, insn) in cases {
            let e = cfg(src).expect_err(src);
            assert_eq!((e.message.as_str(), e.insn), (message, Slot(insn)), "{src}");
        }
    }

    #[test]
    fn subprograms_and_loops_are_found() {
        let c = cfg(
            "r0 = 0\ncall local 0x2\nr0 += 0x1\nexit\nr1 = 0xa\nr1 += -0x1\nif r1 != 0x0 goto -0x2\nexit",
        )
        .expect("well-formed");
        assert_eq!(c.subprogs, [Slot(0), Slot(4)]);
        assert_eq!(c.back_edges, [(Slot(6), Slot(5))]);
        assert_eq!(c.graph.node_count(), 8);
        assert_eq!(c.graph.edge_count(), 8);
    }
}
