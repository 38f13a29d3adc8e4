//! BTF for verifier test cases that need `func_info` (callbacks, global functions): each
//! `; func: NAME static|global ARG...` header line of a case names one subprogram, in slot
//! order, and this module encodes the `.BTF` blob and the `func_info` records a loader passes
//! to the kernel with the program, and the [`FuncInfo`] table the model gets.
//!
//! Arguments: `scalar` (a `long`), `ctx` (a pointer to the program type's context struct),
//! `mem:N` (a pointer to an N-byte integer, or to an N-byte struct when N is not 1, 2, 4 or 8).

use bpf_patch::Slot;

use super::subprog::{FuncArg, FuncInfo};
use crate::load::ProgType;

/// One `; func:` line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CaseFunc {
    /// Function name.
    pub name: String,
    /// `global` rather than `static`.
    pub global: bool,
    /// Arguments.
    pub args: Vec<FuncArg>,
}

impl CaseFunc {
    /// Parses what follows `func:`.
    pub fn parse(text: &str) -> Result<CaseFunc, String> {
        let mut words = text.split_whitespace();
        let name = words.next().ok_or("`func:` needs a name")?.to_owned();
        let global = match words.next() {
            Some("global") => true,
            Some("static") => false,
            _ => return Err(format!("`func: {name}` needs `static` or `global`")),
        };
        let args = words
            .map(|w| match w {
                "scalar" => Ok(FuncArg::Scalar),
                "ctx" => Ok(FuncArg::Ctx),
                _ => w
                    .strip_prefix("mem:")
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &u32| n > 0)
                    .map(|size| FuncArg::Mem { size, nullable: true })
                    .ok_or_else(|| format!("`func: {name}`: unknown argument `{w}`")),
            })
            .collect::<Result<_, _>>()?;
        Ok(CaseFunc { name, global, args })
    }
}

/// The model's table for functions starting at `starts` (the program's subprograms).
pub fn func_infos(funcs: &[CaseFunc], starts: &[usize]) -> Vec<FuncInfo> {
    funcs
        .iter()
        .zip(starts)
        .map(|(f, &s)| FuncInfo {
            start: Slot(s as u32),
            name: f.name.clone(),
            global: f.global,
            args: f.args.clone(),
        })
        .collect()
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_STRUCT: u32 = 4;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;

struct Enc {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Enc {
    fn name(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, name_off: u32, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        for w in [name_off, (kind << 24) | vlen, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id
    }

    fn int(&mut self, size: u32) -> u32 {
        let n = self.name(&format!("u{}", size * 8));
        self.push(n, KIND_INT, 0, size, &[size * 8])
    }
}

/// The little-endian `.BTF` blob and the `func_info` records (`insn_off` in slots, type id)
/// for functions `funcs` starting at `starts`.
pub fn encode(funcs: &[CaseFunc], starts: &[usize], prog_type: ProgType) -> (Vec<u8>, Vec<[u32; 2]>) {
    let mut e = Enc { types: Vec::new(), strings: vec![0], next_id: 0 };
    let long = e.name("long");
    let long = e.push(long, KIND_INT, 0, 8, &[(1 << 24) | 64]);
    let ctx_name = match prog_type {
        ProgType::Xdp => "xdp_md",
        _ => "__sk_buff",
    };
    let ctx_name = e.name(ctx_name);
    let ctx = e.push(ctx_name, KIND_STRUCT, 0, 0, &[]);
    let ctx_ptr = e.push(0, KIND_PTR, 0, ctx, &[]);
    let mut records = Vec::new();
    for (f, &start) in funcs.iter().zip(starts) {
        let mut params = Vec::new();
        for (i, a) in f.args.iter().enumerate() {
            let ty = match a {
                FuncArg::Scalar | FuncArg::Other(_) => long,
                FuncArg::Ctx => ctx_ptr,
                FuncArg::Mem { size, .. } => {
                    let pointee = if matches!(size, 1 | 2 | 4 | 8) {
                        e.int(*size)
                    } else {
                        let n = e.name(&format!("blob{size}"));
                        e.push(n, KIND_STRUCT, 0, *size, &[])
                    };
                    e.push(0, KIND_PTR, 0, pointee, &[])
                }
            };
            let n = e.name(&format!("a{i}"));
            params.extend([n, ty]);
        }
        let proto = e.push(0, KIND_FUNC_PROTO, f.args.len() as u32, long, &params);
        let n = e.name(&f.name);
        let func = e.push(n, KIND_FUNC, u32::from(f.global), proto, &[]);
        records.push([start as u32, func]);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
    out.extend_from_slice(&[1, 0]);
    for w in [24, 0, e.types.len() as u32, e.types.len() as u32, e.strings.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&e.types);
    out.extend_from_slice(&e.strings);
    (out, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn func_lines_parse() {
        let f = CaseFunc::parse("sum global ctx scalar mem:12").expect("valid");
        assert_eq!(f.name, "sum");
        assert!(f.global);
        assert_eq!(f.args, [FuncArg::Ctx, FuncArg::Scalar, FuncArg::Mem { size: 12, nullable: true }]);
        assert!(CaseFunc::parse("cb").is_err());
        assert!(CaseFunc::parse("cb static mem:0").is_err());
    }

    #[test]
    fn btf_has_a_header_and_one_record_per_function() {
        let funcs = [
            CaseFunc::parse("main global").expect("valid"),
            CaseFunc::parse("cb static scalar").expect("valid"),
        ];
        let (btf, recs) = encode(&funcs, &[0, 7], ProgType::Xdp);
        assert_eq!(&btf[..2], &0xeb9f_u16.to_le_bytes());
        let type_len = u32::from_le_bytes(btf[12..16].try_into().expect("4 bytes")) as usize;
        let str_len = u32::from_le_bytes(btf[20..24].try_into().expect("4 bytes")) as usize;
        assert_eq!(btf.len(), 24 + type_len + str_len);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1][0], 7);
        assert!(recs[0][1] < recs[1][1]);
    }
}
