use proptest::prelude::*;

use super::*;
use crate::edit::{apply, ApplyOptions, Edits};
use crate::filter::{alu64_imm, call_rel, exit, jmp_imm, ld_imm64, mov64_imm};
use crate::op::{decode_all, encode_all, AluOp, Cond, Reg};
use crate::text::assemble;
use crate::Insn;

fn ops(src: &str) -> Vec<(Slot, Op)> {
    decode_all(&assemble(src).expect("test assembly is valid")).expect("assembled code decodes")
}

/// Rows as `=old/new`, `~old/new`, `-old`, `+new`, space-separated.
fn render(d: &Diff) -> String {
    let rows: Vec<String> = d
        .rows
        .iter()
        .map(|r| match r {
            Row::Same(a, b) => format!("={}/{}", a.0, b.0),
            Row::Changed(a, b) => format!("~{}/{}", a.0, b.0),
            Row::Removed(a) => format!("-{}", a.0),
            Row::Inserted(b) => format!("+{}", b.0),
        })
        .collect();
    rows.join(" ")
}

#[test]
fn alignment_table() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "pure insertion shifts a forward jump, untouched rows stay same",
            "if r1 > 0x5 goto +0x2\nr0 = 0x1\nr0 += 0x2\nexit",
            "if r1 > 0x5 goto +0x3\nr0 = 0x1\nr3 = 0x7\nr0 += 0x2\nexit",
            "=0/0 =1/1 +2 =2/3 =3/4",
        ),
        (
            "pure insertion shifts a backward jump",
            "r0 = 0x0\nr0 += 0x1\nif r0 < 0xa goto -0x2\nexit",
            "r0 = 0x0\nr0 += 0x1\nr2 = 0x5\nif r0 < 0xa goto -0x3\nexit",
            "=0/0 =1/1 +2 =2/3 =3/4",
        ),
        (
            "a jump to code inserted before its old target is the same jump",
            "if r1 > 0x5 goto +0x1\nr0 = 0x1\nexit",
            "if r1 > 0x5 goto +0x1\nr0 = 0x1\nr3 = 0x9\nexit",
            "=0/0 =1/1 +2 =2/3",
        ),
        (
            "deletion; a jump to the deleted instruction now lands on its successor",
            "r0 = 0x1\nif r1 > 0x5 goto +0x0\nr2 = 0x3\nexit",
            "r0 = 0x1\nif r1 > 0x5 goto +0x0\nexit",
            "=0/0 =1/1 -2 =3/2",
        ),
        ("replacement of the same kind is changed", "r0 = 0x1\nexit", "r0 = 0x2\nexit", "~0/0 =1/1"),
        ("register and immediate operands are one kind", "r0 = 0x1\nexit", "r0 = r1\nexit", "~0/0 =1/1"),
        (
            "32- and 64-bit forms are one kind, byte swaps too",
            "w0 = 0x1\nr0 = be16 r0\nexit",
            "r0 = 0x1\nr0 = bswap16 r0\nexit",
            "~0/0 ~1/1 =2/2",
        ),
        (
            "replacement of another kind is removed plus inserted",
            "r0 = 0x1\nexit",
            "r0 = *(u32 *)(r1 + 0x0)\nexit",
            "-0 +0 =1/1",
        ),
        (
            "a re-targeted jump is changed",
            "if r1 > 0x5 goto +0x1\nr0 = 0x1\nr0 = 0x2\nexit",
            "if r1 > 0x5 goto +0x2\nr0 = 0x1\nr0 = 0x2\nexit",
            "~0/0 =1/1 =2/2 =3/3",
        ),
        (
            "ld_imm64 rows carry their first slot",
            "r1 = 0x1 ll\nr0 = 0x0\nexit",
            "r2 = *(u64 *)(r1 + 0x8)\nr1 = 0x1 ll\nr0 = 0x0\nexit",
            "+0 =0/1 =2/3 =3/4",
        ),
        ("both empty", "", "", ""),
        ("everything inserted", "", "r0 = 0x0\nexit", "+0 +1"),
        ("everything removed", "r0 = 0x0\nexit", "", "-0 -1"),
        (
            "identical",
            "r0 = 0x0\nif r0 == 0x0 goto -0x2\nexit",
            "r0 = 0x0\nif r0 == 0x0 goto -0x2\nexit",
            "=0/0 =1/1 =2/2",
        ),
        (
            "a jump into an ld_imm64 is never the same",
            "r1 = 0x1 ll\nif r1 > 0x5 goto -0x2\nexit",
            "r1 = 0x1 ll\nif r1 > 0x5 goto -0x2\nexit",
            "=0/0 ~2/2 =3/3",
        ),
    ];
    for (name, old, new, want) in cases {
        assert_eq!(render(&diff(&ops(old), &ops(new))), *want, "{name}");
    }
}

#[test]
fn calls_out_of_the_program_compare_by_distance_from_its_ends() {
    // The callee lies 3 slots past the end: after an insertion the offset grows by one.
    let old = decode_all(&encode_all(&[call_rel(4), exit()])).expect("decodes");
    let new = decode_all(&encode_all(&[mov64_imm(Reg::R9, 0), call_rel(4), exit()])).expect("decodes");
    let moved = decode_all(&encode_all(&[mov64_imm(Reg::R9, 0), call_rel(3), exit()])).expect("decodes");
    assert_eq!(render(&diff(&old, &new)), "+0 =0/1 =1/2");
    assert_eq!(render(&diff(&old, &moved)), "+0 ~0/1 =1/2");
}

#[test]
fn summary_counts_rows() {
    let d = diff(&ops("r0 = 0x1\nr1 = 0x2\nexit"), &ops("r0 = 0x3\nr2 = *(u8 *)(r1 + 0x0)\nexit"));
    assert_eq!(render(&d), "~0/0 -1 +1 =2/2");
    assert_eq!(d.summary(), Summary { same: 1, changed: 1, removed: 1, inserted: 1 });
    assert!(!d.is_identical());
    assert!(diff(&[], &[]).is_identical());
}

/// A program whose instructions are pairwise distinct even with jump offsets ignored (so a
/// longest common subsequence with an edited copy is unique), ending in `exit`. Jumps target
/// instruction starts only.
fn program() -> impl Strategy<Value = Vec<Insn>> {
    (proptest::collection::vec((0u8..3, any::<prop::sample::Index>()), 1..40)).prop_map(|spec| {
        // Slot of each instruction first, then the jumps' targets among them.
        let mut starts = Vec::new();
        let mut slot = 0u32;
        for (kind, _) in &spec {
            starts.push(slot);
            slot += if *kind == 2 { 2 } else { 1 };
        }
        starts.push(slot); // the final exit
        let mut out = Vec::new();
        for (i, (kind, target)) in spec.iter().enumerate() {
            let unique = i32::try_from(i).expect("small");
            match kind {
                0 => mov64_imm(Reg::R0, unique).encode_into(&mut out),
                1 => {
                    let t = starts[target.index(starts.len())];
                    let off = i16::try_from(i64::from(t) - i64::from(starts[i]) - 1).expect("small");
                    jmp_imm(Cond::Gt, Reg::R1, unique, off).encode_into(&mut out);
                }
                _ => ld_imm64(Reg::R2, u64::from(unique as u32)).encode_into(&mut out),
            }
        }
        exit().encode_into(&mut out);
        out
    })
}

/// Code that never occurs in [`program`]: r8 / r9 only.
fn marker(n: u8, seed: i32) -> Vec<Insn> {
    (0..n)
        .map(|k| {
            let v = seed + i32::from(k);
            if k % 2 == 0 {
                mov64_imm(Reg::R9, v).encode().0
            } else {
                alu64_imm(AluOp::Add, Reg::R8, v).encode().0
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn kept_instructions_align_to_their_new_slots(
        insns in program(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, 0u8..3), 0..12),
    ) {
        let old = decode_all(&insns).expect("generated code decodes");
        let mut edits = Edits::new();
        let mut middle = std::collections::HashSet::new();
        for (k, (at, kind, n)) in picks.iter().enumerate() {
            let slot = old[at.index(old.len())].0;
            let code = marker(n + 1, i32::try_from(k).expect("small") * 10);
            match kind {
                0 => { edits.insert_before(slot, code); }
                1 => { edits.insert_after(slot, code); }
                2 if middle.insert(slot) => { edits.replace(slot, code); }
                3 if middle.insert(slot) => { edits.delete(slot); }
                _ => {}
            }
        }
        // An edit set that deletes a jump's last possible landing place is refused; skip it.
        let Ok(applied) = apply(&insns, &edits, &ApplyOptions::default()) else { return Ok(()); };
        let new = decode_all(&applied.insns).expect("edited code decodes");
        let d = diff(&old, &new);

        // Every instruction of each side appears once, in order.
        let olds: Vec<Slot> = d.rows.iter().filter_map(Row::old_slot).collect();
        let news: Vec<Slot> = d.rows.iter().filter_map(Row::new_slot).collect();
        prop_assert_eq!(olds, old.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        prop_assert_eq!(news, new.iter().map(|(s, _)| *s).collect::<Vec<_>>());

        // Every kept instruction is the same as itself at its new position.
        let mut kept = 0;
        for (slot, _) in &old {
            if let Some(p) = applied.remap.position(*slot) {
                kept += 1;
                prop_assert!(d.rows.contains(&Row::Same(*slot, p)), "{slot:?} -> {p:?}: {}", render(&d));
            }
        }
        let s = d.summary();
        prop_assert_eq!(s.same, kept);
        prop_assert_eq!(s.removed + s.changed, old.len() - kept);
        prop_assert_eq!(s.inserted + s.changed, new.len() - kept);
    }
}
