//! Verifier test cases: small programs in our assembly syntax (`testdata/verifier/*.s`), each
//! with the running kernel's verdict recorded in its header and checked against the kernel in
//! CI, so the model can be held to the same verdicts.
//!
//! ```text
//! ; A conditional jump past the end of the program.
//! ; kernel: reject: jump out of range from insn 1 to 7
//! ; type: xdp
//! r0 = 0x0
//! ...
//! ```
//!
//! A case may declare maps, `; map: TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES` (numbers, the type an
//! `enum bpf_map_type`), a map of maps adding `inner TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES`; the
//! program names map `i` (in declaration order) with `ld_pseudo rN, 0x1, i` (`BPF_PSEUDO_MAP_FD`),
//! which the kernel harness replaces with the fd of a map it creates.
//!
//! A case calling kfuncs declares them, `; kfunc: NAME`, and calls the `i`-th (from 1, in
//! declaration order) with `call kfunc i`: the model resolves `i` as the object loader numbers
//! kfuncs, the kernel harness replaces it with the running kernel's BTF id of `NAME`.
//!
//! Cases that need BTF `func_info` (callbacks, global functions) name each subprogram in slot
//! order with `; func: NAME static|global ARG...` ([`super::case_btf`]).

use std::path::Path;

use bpf_patch::Insn;

use super::case_btf::{self, CaseFunc};
use super::explore::{verify, Env, Report};
use super::kfunc::KfuncTable;
use super::subprog::FuncInfo;
use crate::load::{MapShape, ProgType};

/// What the kernel says about a case.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expect {
    /// Accepted.
    Accept,
    /// Rejected with this message (the last line the kernel's log gives as the reason).
    Reject(String),
}

/// One case.
#[derive(Clone, Debug)]
pub struct Case {
    /// File stem.
    pub name: String,
    /// The program text.
    pub source: String,
    /// The kernel's verdict.
    pub expect: Expect,
    /// Program type (`; type:` with a [`ProgType::from_name`] name or a section name; XDP by
    /// default).
    pub prog_type: ProgType,
    /// The declared maps in order, then their inner map templates (as
    /// [`crate::load::ObjectImage::map_shapes`] lays them out).
    pub maps: Vec<MapShape>,
    /// `; func:` lines: the program is loaded with BTF func_info when there are any.
    pub funcs: Vec<CaseFunc>,
    /// `; kfunc:` names: `call kfunc i` calls `kfuncs[i - 1]`.
    pub kfuncs: Vec<String>,
}

/// `TYPE KEY VALUE MAX` as a shape.
fn shape(words: &[&str]) -> Option<MapShape> {
    let n: Vec<u32> = words.iter().map(|w| w.parse().ok()).collect::<Option<_>>()?;
    match n.as_slice() {
        [t, k, v, m] => Some(MapShape::new(*t, *k, *v, *m)),
        _ => None,
    }
}

/// Parses `; map:` values: the map and its inner template.
fn map_line(name: &str, v: &str) -> Result<(MapShape, Option<MapShape>), String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let bad = || format!("{name}: `map:` wants TYPE KEY VALUE MAX [inner TYPE KEY VALUE MAX], got `{v}`");
    match words.as_slice() {
        [a, b, c, d] => Ok((shape(&[a, b, c, d]).ok_or_else(bad)?, None)),
        [a, b, c, d, "inner", rest @ ..] => {
            Ok((shape(&[a, b, c, d]).ok_or_else(bad)?, Some(shape(rest).ok_or_else(bad)?)))
        }
        _ => Err(bad()),
    }
}

impl Case {
    /// Parses a case file's text; the error says which header is missing or malformed.
    pub fn parse(name: &str, text: &str) -> Result<Case, String> {
        let mut expect = None;
        let mut prog_type = ProgType::Xdp;
        let (mut maps, mut inner) = (Vec::new(), Vec::new());
        let mut funcs = Vec::new();
        let mut kfuncs = Vec::new();
        for line in text.lines().filter_map(|l| l.trim().strip_prefix(';')) {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("kernel:") {
                let v = v.trim();
                expect = Some(match v.strip_prefix("reject:") {
                    Some(m) => Expect::Reject(m.trim().to_owned()),
                    None if v == "accept" => Expect::Accept,
                    None => return Err(format!("{name}: `kernel:` must be `accept` or `reject: MESSAGE`")),
                });
            } else if let Some(v) = line.strip_prefix("type:") {
                let v = v.trim();
                prog_type = ProgType::from_name(v).unwrap_or_else(|| ProgType::of_section(v));
            } else if let Some(v) = line.strip_prefix("map:") {
                let (m, i) = map_line(name, v)?;
                if let Some(i) = i {
                    inner.push((maps.len(), i));
                }
                maps.push(m);
            } else if let Some(v) = line.strip_prefix("kfunc:") {
                kfuncs.push(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("func:") {
                funcs.push(CaseFunc::parse(v).map_err(|e| format!("{name}: {e}"))?);
            }
        }
        let expect = expect.ok_or_else(|| format!("{name}: no `; kernel:` line"))?;
        for (outer, template) in inner {
            maps[outer].inner = u32::try_from(maps.len()).ok();
            maps.push(template);
        }
        Ok(Case { name: name.to_owned(), source: text.to_owned(), expect, prog_type, maps, funcs, kfuncs })
    }

    /// First slots of the subprograms of `insns` (just 0 when they do not decode or the
    /// subprograms are malformed).
    fn starts(insns: &[Insn]) -> Vec<usize> {
        bpf_patch::op::decode_all(insns)
            .ok()
            .and_then(|ops| super::cfg::check_subprogs(&ops, insns.len()).ok())
            .unwrap_or_else(|| vec![0])
    }

    /// The model's func_info table for the assembled `insns` (`None` without `; func:` lines).
    pub fn func_infos(&self, insns: &[Insn]) -> Option<Vec<FuncInfo>> {
        (!self.funcs.is_empty()).then(|| case_btf::func_infos(&self.funcs, &Self::starts(insns)))
    }

    /// The model's exploration of the case as the kernel harness loads it (privileged, GPL,
    /// its maps, `func_info` and kfuncs), with kfunc prototypes from `table`; the error says
    /// why the source does not assemble or decode.
    pub fn verify(&self, table: Option<&KfuncTable>) -> Result<Report, String> {
        let insns = bpf_patch::text::assemble(&self.source).map_err(|e| format!("{}: {e}", self.name))?;
        let funcs = self.func_infos(&insns);
        let env = Env {
            maps: &self.maps,
            kfuncs: &self.kfuncs,
            kfunc_table: table,
            funcs: funcs.as_deref(),
            ..Env::new(self.prog_type)
        };
        verify(&insns, &env).map_err(|e| format!("{}: {e}", self.name))
    }

    /// The `.BTF` blob and func_info records (`[insn_off, type_id]`) to load the assembled
    /// `insns` with (`None` without `; func:` lines).
    pub fn btf(&self, insns: &[Insn]) -> Option<(Vec<u8>, Vec<[u32; 2]>)> {
        (!self.funcs.is_empty()).then(|| case_btf::encode(&self.funcs, &Self::starts(insns), self.prog_type))
    }

    /// Every `*.s` case in `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cases = Vec::new();
        for e in entries {
            let path = e.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|x| x == "s") {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                cases.push(Case::parse(&name, &text)?);
            }
        }
        cases.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(cases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_headers_lay_out_inner_templates_last() {
        let text = "; kernel: accept\n; type: kprobe\n; map: 12 4 4 1 inner 2 4 8 1\n; map: 4 4 4 2\nexit\n";
        let case = Case::parse("c", text).expect("parses");
        assert_eq!(case.prog_type, ProgType::Kprobe);
        assert_eq!(case.maps.len(), 3);
        assert_eq!(case.maps[0].inner, Some(2));
        assert_eq!(case.maps[1], MapShape::new(4, 4, 4, 2));
        assert_eq!(case.maps[2], MapShape::new(2, 4, 8, 1));
        assert!(Case::parse("c", "; kernel: accept\n; map: 1 2\n").is_err());
        let k = Case::parse("k", "; kernel: accept\n; kfunc: bpf_dynptr_slice\n; kfunc: bpf_dynptr_size\n")
            .expect("parses");
        assert_eq!(k.kfuncs, ["bpf_dynptr_slice", "bpf_dynptr_size"]);
    }
}
