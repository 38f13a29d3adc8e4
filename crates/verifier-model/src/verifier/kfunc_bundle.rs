//! Bundled kfunc tables: the prototypes [`KfuncTable`] derives from a kernel's BTF, written
//! as text for a named kernel version, so that kfunc calls are decided without that kernel's
//! BTF (`data/kfuncs-<version>.txt`, embedded; regenerated and checked by
//! `scripts/derive-kfuncs.sh`, which runs the `derive_kfuncs` example).
//!
//! One line per kfunc tagged `bpf_kfunc` in the BTF, sorted by name; `#` starts a comment:
//!
//! ```text
//! <name> <btf id> ret=<ret> flags=<flags> <param>:<kind> ...
//! <name> <btf id> ! <why the model cannot classify the prototype>
//! ```
//!
//! `<ret>`: `void`, `scalar`, `ptr` (`void *`), `btf.<struct>`. `<flags>`: `-` or `KF_*`
//! names joined by `,` (`acquire`, `release`, `ret_null`, `trusted_args`, `sleepable`,
//! `destructive`, `rcu`; from the bundled flags table, as for BTF). A parameter's kind is its
//! [`KArg`]: `scalar`, `scalar_k` (`__k`), `ign`, `ctx.<struct>`, `dynptr`, `dynptr_uninit`,
//! `mem_sz` / `mem_sz_opt` (memory sized by the next argument), `sz` / `szk`, `mem<N>` /
//! `mem<N>_opt` (a pointer to N bytes), `str`, `btf.<struct>`, `any`, `iter.<struct>`. An
//! unnamed parameter has an empty name (`:scalar`); spaces in a type name are written `+`
//! (`btf.long+long+unsigned+int`).
//!
//! After the kfuncs, `type` lines ([`crate::verifier::kernel_types`]) carry the kernel types
//! loads through kernel pointers (`PTR_TO_BTF_ID`) need: the structs `bpf_cast_to_kern_ctx`
//! gives (`xdp_buff`, `sk_buff`) and those acquiring kfuncs return, with what they contain and
//! the structs they point to; a struct further away is known by name and size only, and a load
//! from it is refused with a message naming the table. `bpf_rdonly_cast` (any BTF id) needs a
//! BTF.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::kernel_types::{self, Types};
use super::kfunc::{flags, Entries, KArg, KRet, KfuncError, KfuncProto, KfuncTable};

/// Kernel versions with a bundled table, oldest first.
pub const VERSIONS: &[&str] = &["6.18.44"];

/// The bundled text for `version`.
pub fn text(version: &str) -> Option<&'static str> {
    match version {
        "6.18.44" => Some(include_str!("../../data/kfuncs-6.18.44.txt")),
        _ => None,
    }
}

/// The newest bundled version.
pub fn newest() -> &'static str {
    VERSIONS.last().expect("at least one table is bundled")
}

/// The bundled version for a kernel release string (`6.18.44-fc-v782` → `6.18.44`), when
/// there is one.
pub fn version_of_release(release: &str) -> Option<&'static str> {
    let base = release.split(['-', '+']).next().unwrap_or(release).trim();
    VERSIONS.iter().copied().find(|v| *v == base)
}

const FLAG_NAMES: &[(u32, &str)] = &[
    (flags::ACQUIRE, "acquire"),
    (flags::RELEASE, "release"),
    (flags::RET_NULL, "ret_null"),
    (flags::TRUSTED_ARGS, "trusted_args"),
    (flags::SLEEPABLE, "sleepable"),
    (flags::DESTRUCTIVE, "destructive"),
    (flags::RCU, "rcu"),
];

/// A type name as one word: C names such as `long long unsigned int` have spaces, never `+`.
fn word(name: &str) -> String {
    name.replace(' ', "+")
}

fn arg_kind(a: &KArg) -> String {
    match a {
        KArg::Scalar { konst: false } => "scalar".into(),
        KArg::Scalar { konst: true } => "scalar_k".into(),
        KArg::Ignored => "ign".into(),
        KArg::Ctx(s) => format!("ctx.{}", word(s)),
        KArg::Dynptr { uninit: false } => "dynptr".into(),
        KArg::Dynptr { uninit: true } => "dynptr_uninit".into(),
        KArg::MemSize { nullable: false } => "mem_sz".into(),
        KArg::MemSize { nullable: true } => "mem_sz_opt".into(),
        KArg::Size { konst: false } => "sz".into(),
        KArg::Size { konst: true } => "szk".into(),
        KArg::Mem { size, nullable: false } => format!("mem{size}"),
        KArg::Mem { size, nullable: true } => format!("mem{size}_opt"),
        KArg::Str => "str".into(),
        KArg::BtfPtr(s) => format!("btf.{}", word(s)),
        KArg::AnyPtr => "any".into(),
        KArg::Iter(s) => format!("iter.{}", word(s)),
    }
}

fn parse_arg(kind: &str) -> Option<KArg> {
    let named =
        |prefix: &str| kind.strip_prefix(prefix).filter(|s| !s.is_empty()).map(|s| s.replace('+', " "));
    Some(match kind {
        "scalar" => KArg::Scalar { konst: false },
        "scalar_k" => KArg::Scalar { konst: true },
        "ign" => KArg::Ignored,
        "dynptr" => KArg::Dynptr { uninit: false },
        "dynptr_uninit" => KArg::Dynptr { uninit: true },
        "mem_sz" => KArg::MemSize { nullable: false },
        "mem_sz_opt" => KArg::MemSize { nullable: true },
        "sz" => KArg::Size { konst: false },
        "szk" => KArg::Size { konst: true },
        "str" => KArg::Str,
        "any" => KArg::AnyPtr,
        _ => {
            if let Some(s) = named("ctx.") {
                KArg::Ctx(s)
            } else if let Some(s) = named("btf.") {
                KArg::BtfPtr(s)
            } else if let Some(s) = named("iter.") {
                KArg::Iter(s)
            } else {
                let rest = kind.strip_prefix("mem")?;
                let (n, nullable) = match rest.strip_suffix("_opt") {
                    Some(n) => (n, true),
                    None => (rest, false),
                };
                KArg::Mem { size: n.parse().ok()?, nullable }
            }
        }
    })
}

fn ret_kind(r: &KRet) -> String {
    match r {
        KRet::Void => "void".into(),
        KRet::Scalar => "scalar".into(),
        KRet::VoidPtr => "ptr".into(),
        KRet::BtfPtr(s) => format!("btf.{}", word(s)),
    }
}

fn parse_ret(kind: &str) -> Option<KRet> {
    Some(match kind {
        "void" => KRet::Void,
        "scalar" => KRet::Scalar,
        "ptr" => KRet::VoidPtr,
        _ => KRet::BtfPtr(kind.strip_prefix("btf.").filter(|s| !s.is_empty())?.replace('+', " ")),
    })
}

/// One kfunc's line (without the newline).
fn line(name: &str, id: u32, proto: &Result<KfuncProto, String>) -> String {
    let p = match proto {
        Ok(p) => p,
        Err(why) => return format!("{name} {id} ! {why}"),
    };
    let names: Vec<&str> = FLAG_NAMES.iter().filter(|(f, _)| p.has(*f)).map(|(_, n)| *n).collect();
    let flags = if names.is_empty() { "-".to_owned() } else { names.join(",") };
    let mut out = format!("{name} {id} ret={} flags={flags}", ret_kind(&p.ret));
    for (pname, a) in &p.args {
        let _ = write!(out, " {pname}:{}", arg_kind(a));
    }
    out
}

/// The bundled text of `table` (read from BTF), with a header naming `version` and `source`.
pub fn render(table: &KfuncTable, version: &str, source: &str) -> String {
    let mut out = format!(
        "# Kfunc prototypes of Linux {version}, derived from {source} by scripts/derive-kfuncs.sh.\n\
         # Format: crates/verifier-model/src/verifier/kfunc_bundle.rs. Do not edit by hand.\n"
    );
    let mut roots: Vec<u32> =
        KERN_STRUCTS.iter().filter_map(|s| super::btf_ptr::struct_id(table, s)).collect();
    for name in table.tagged() {
        let proto = table.proto(&name).map_err(|e| match e {
            KfuncError::Prototype { message, .. } => message,
            other => other.to_string(),
        });
        let id = table.id_of(&name).unwrap_or(0);
        out.push_str(&line(&name, id, &proto));
        out.push('\n');
        if let Ok(KfuncProto { ret: KRet::BtfPtr(s), flags: f, .. }) = &proto {
            if f & flags::ACQUIRE != 0 {
                roots.extend(super::btf_ptr::struct_id(table, s));
            }
        }
    }
    if let Some(btf) = table.btf() {
        let (full, opaque) = kernel_types::closure(btf, &roots);
        let _ = writeln!(
            out,
            "# Kernel types: {} and what they contain, the structs they point to with theirs \
             ({} types), {} structs further away by name and size only.",
            KERN_STRUCTS.join(", ") + " and the structs acquiring kfuncs return",
            full.len(),
            opaque.len()
        );
        let mut all: Vec<(u32, bool)> = full.iter().map(|i| (*i, false)).collect();
        all.extend(opaque.iter().map(|i| (*i, true)));
        all.sort_unstable();
        for (id, opaque) in all {
            out.push_str(&kernel_types::line(btf, id, opaque));
            out.push('\n');
        }
    }
    out
}

/// The structs `bpf_cast_to_kern_ctx` gives, whose layouts a bundled table carries.
const KERN_STRUCTS: &[&str] = &["xdp_buff", "sk_buff"];

/// Parses a bundled table: each kfunc's BTF id and prototype (or why it has none), and the
/// kernel types.
pub(crate) fn parse(text: &str) -> Result<(Entries, Types), KfuncError> {
    let mut out = BTreeMap::new();
    let mut types = Types::new();
    for (i, raw) in text.lines().enumerate() {
        let bad = |message: String| KfuncError::Bundle { line: i + 1, message };
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(rest) = l.strip_prefix("type ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (id, t) = kernel_types::parse_line(&words).map_err(bad)?;
            if types.insert(id, t).is_some() {
                return Err(bad(format!("type {id} listed twice")));
            }
            continue;
        }
        let mut words = l.split_whitespace();
        let name = words.next().expect("a non-empty line has a word").to_owned();
        let id: u32 = match words.next().map(str::parse) {
            Some(Ok(id)) => id,
            _ => return Err(bad(format!("{name}: expected a BTF id after the name"))),
        };
        let third = words.next().ok_or_else(|| bad(format!("{name}: nothing after the BTF id")))?;
        let proto = if third == "!" {
            Err(words.collect::<Vec<_>>().join(" "))
        } else {
            let ret = third
                .strip_prefix("ret=")
                .and_then(parse_ret)
                .ok_or_else(|| bad(format!("{name}: expected ret=<kind>, found `{third}`")))?;
            let fl = words
                .next()
                .and_then(|w| w.strip_prefix("flags="))
                .ok_or_else(|| bad(format!("{name}: expected flags=<flags> after the return")))?;
            let mut bits = 0;
            for f in fl.split(',').filter(|f| *f != "-") {
                let Some((b, _)) = FLAG_NAMES.iter().find(|(_, n)| *n == f) else {
                    return Err(bad(format!("{name}: unknown flag `{f}`")));
                };
                bits |= b;
            }
            let mut args = Vec::new();
            for w in words {
                let arg = w
                    .split_once(':')
                    .and_then(|(p, k)| Some((p.to_owned(), parse_arg(k)?)))
                    .ok_or_else(|| bad(format!("{name}: bad argument `{w}`")))?;
                args.push(arg);
            }
            Ok(KfuncProto { name: name.clone(), btf_id: id, args, ret, flags: bits })
        };
        if out.insert(name.clone(), (id, proto)).is_some() {
            return Err(bad(format!("{name}: listed twice")));
        }
    }
    Ok((out, types))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::btf_ptr;
    use crate::verifier::kfunc::VMLINUX;

    #[test]
    fn every_bundled_table_parses_and_round_trips() {
        for v in VERSIONS {
            let text = text(v).expect("listed versions are bundled");
            let (parsed, types) = parse(text).unwrap_or_else(|e| panic!("{v}: {e}"));
            let lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
            assert_eq!(parsed.len() + types.len(), lines, "{v}: one kfunc or type per line");
            assert!(parsed.len() > 100, "{v}: {} kfuncs", parsed.len());
            for (name, (id, p)) in &parsed {
                let (again, _) = parse(&line(name, *id, p)).expect("a rendered line parses");
                assert_eq!(again.get(name), Some(&(*id, p.clone())), "{name}");
            }
            let t = KfuncTable::bundled(v).expect("bundled");
            let slice = t.proto("bpf_dynptr_slice").expect("6.18 has bpf_dynptr_slice");
            assert!(slice.has(flags::RET_NULL));
            assert_eq!(slice.args[3].1, KArg::Size { konst: true });
            assert_eq!(t.name_of(slice.btf_id).as_deref(), Some("bpf_dynptr_slice"));
            assert!(t.btf().is_none());
        }
    }

    /// Each bad line is an error naming its line, never a panic.
    #[test]
    fn bad_lines_are_errors() {
        let cases = [
            ("f", "expected a BTF id"),
            ("f x ret=void flags=-", "expected a BTF id"),
            ("f 1", "nothing after"),
            ("f 1 ret=bogus flags=-", "expected ret="),
            ("f 1 ret=void", "expected flags="),
            ("f 1 ret=void flags=nope", "unknown flag"),
            ("f 1 ret=void flags=- a:wat", "bad argument"),
            ("f 1 ret=void flags=- a", "bad argument"),
            ("f 1 ret=void flags=- a:memx", "bad argument"),
            ("f 1 ret=void flags=- a:ctx.", "bad argument"),
            ("f 1 ret=void flags=-\nf 2 ret=void flags=-", "listed twice"),
            ("type 1 int 4\ntype 1 int 4", "listed twice"),
            ("type x int 4", "expected a number"),
            ("type 1 blob 4", "unknown kind"),
            ("type 1 struct s 8 a:2", "bad member"),
            ("type 1 struct s 8 a:2:0:x", "bad member"),
            ("type 1 struct", "no name"),
            ("type 1 array 2", "expected a number"),
        ];
        for (text, want) in cases {
            let e = parse(&format!("# header\n{text}")).expect_err(text).to_string();
            assert!(e.contains(want) && e.contains("line "), "{text}: {e}");
        }
        assert!(KfuncTable::bundled("1.0").is_err());
    }

    #[test]
    fn release_names_a_version() {
        assert_eq!(version_of_release("6.18.44-fc-v782"), Some("6.18.44"));
        assert_eq!(version_of_release("6.18.44"), Some("6.18.44"));
        assert_eq!(version_of_release("5.4.0-100-generic"), None);
    }

    /// The table read from the running kernel's BTF and the bundled one agree on every kfunc
    /// they share, when the running kernel is the bundled version.
    #[test]
    #[allow(clippy::print_stderr)]
    fn bundled_agrees_with_the_running_kernel() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let Some(v) = version_of_release(&release) else {
            eprintln!("kernel {} has no bundled table: skipped", release.trim());
            return;
        };
        let Some(live) = KfuncTable::running() else {
            assert!(std::env::var_os("BPFPATCH_REQUIRE_KERNEL").is_none(), "no {VMLINUX}");
            eprintln!("{VMLINUX} absent: skipped");
            return;
        };
        let bundled = KfuncTable::bundled(v).expect("bundled");
        let (live_names, bundled_names) = (live.tagged(), bundled.tagged());
        let mut shared = 0;
        for name in live_names.iter().filter(|n| bundled_names.contains(n)) {
            shared += 1;
            let a = live.proto(name).map_err(|e| e.to_string());
            let b = bundled.proto(name).map_err(|e| e.to_string());
            assert_eq!(a, b, "{name}");
            assert_eq!(live.id_of(name), bundled.id_of(name), "{name}");
        }
        assert_eq!(shared, live_names.len(), "the bundled table misses kfuncs of {v}");
        // Every read of 1, 2, 4 or 8 bytes in the structs whose layouts are bundled.
        let mut reads = 0;
        let types = bundled.types().expect("a bundled table");
        for (&id, t) in types {
            let kernel_types::TypeInfo::Struct { size, union: false, .. } = t else { continue };
            for off in 0..*size {
                for n in [1, 2, 4, 8] {
                    let (a, b) = (btf_ptr::read(&live, id, off, n), btf_ptr::read(&bundled, id, off, n));
                    assert_eq!(a, b, "struct {} off {off} size {n}", btf_ptr::struct_name(&live, id));
                    reads += 1;
                }
            }
        }
        for s in KERN_STRUCTS {
            assert_eq!(btf_ptr::struct_id(&live, s), btf_ptr::struct_id(&bundled, s), "{s}");
        }
        eprintln!(
            "{shared} kfuncs and {reads} struct reads agree between {VMLINUX} and the bundled table of {v}"
        );
    }
}
