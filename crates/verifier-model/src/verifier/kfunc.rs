//! Kfunc prototypes: the argument and return kinds the kernel's `check_kfunc_args` derives
//! from a kfunc's BTF prototype (read from the target's vmlinux BTF, by default
//! `/sys/kernel/btf/vmlinux`), plus what BTF does not carry.
//!
//! From BTF: the prototype (parameter types and names, the return type) and whether a FUNC
//! is a kfunc at all (the `bpf_kfunc` declaration tag, [`KfuncTable::tagged`]). Parameter names
//! carry the kernel's suffix conventions: `__sz` / `__szk` (the size of the preceding memory
//! argument, `__szk` a known constant), `__k` (a known constant scalar), `__ign` (not
//! checked), `__uninit` (a dynptr the kfunc initialises), `__opt` / `__nullable` (may be NULL),
//! `__str` (a constant string).
//!
//! Not in BTF, so bundled here from the 6.18 sources: the `KF_*` flags (`BTF_ID_FLAGS` in
//! `kernel/bpf/helpers.c`, `net/core/filter.c`, `net/core/xdp.c`; they live in the kernel
//! image's `.BTF_ids` section, not in `/sys/kernel/btf/vmlinux`) and the program types each
//! kfunc set is registered for (`register_btf_kfunc_id_set`), for the kfuncs this model
//! handles. A kfunc missing from the flags table has no flags; one missing from the gating
//! table is allowed everywhere (the common set).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use btf_rs::{Btf, BtfType, Type};

use crate::load::ProgType;

/// Where the running kernel publishes its BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Errors reading kfunc prototypes.
#[derive(Debug, thiserror::Error)]
pub enum KfuncError {
    /// The BTF file could not be read or parsed.
    #[error("{path}: {message}")]
    Btf {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No FUNC of that name.
    #[error("kfunc {name}: not in the kernel's BTF")]
    NotFound {
        /// The name.
        name: String,
    },
    /// No table is bundled for that kernel version.
    #[error("no bundled kfunc table for kernel {version} (bundled: {known})", known = crate::verifier::kfunc_bundle::VERSIONS.join(", "))]
    NoBundle {
        /// The version asked for.
        version: String,
    },
    /// A line of a bundled table that does not parse.
    #[error("bundled kfunc table, line {line}: {message}")]
    Bundle {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A prototype the model cannot classify.
    #[error("kfunc {name}: {message}")]
    Prototype {
        /// The kfunc.
        name: String,
        /// What is not understood.
        message: String,
    },
}

/// `KF_*` flags (`include/linux/btf.h`).
pub mod flags {
    /// `KF_ACQUIRE`: returns a referenced pointer.
    pub const ACQUIRE: u32 = 1 << 0;
    /// `KF_RELEASE`: releases its referenced argument.
    pub const RELEASE: u32 = 1 << 1;
    /// `KF_RET_NULL`: the returned pointer may be NULL.
    pub const RET_NULL: u32 = 1 << 2;
    /// `KF_TRUSTED_ARGS`: pointer arguments must be trusted.
    pub const TRUSTED_ARGS: u32 = 1 << 4;
    /// `KF_SLEEPABLE`.
    pub const SLEEPABLE: u32 = 1 << 5;
    /// `KF_DESTRUCTIVE`: needs `CAP_SYS_BOOT`.
    pub const DESTRUCTIVE: u32 = 1 << 6;
    /// `KF_RCU`: arguments may be RCU-protected pointers.
    pub const RCU: u32 = 1 << 7;
}

/// Bundled `KF_*` flags of the 6.18 kfuncs whose flags matter to the model (source file in the
/// comment); every other kfunc is taken to have none.
const FLAGS: &[(&str, u32)] = &[
    // kernel/bpf/helpers.c common_btf_ids
    ("bpf_dynptr_slice", flags::RET_NULL),
    ("bpf_dynptr_slice_rdwr", flags::RET_NULL),
    // net/core/filter.c bpf_kfunc_check_set_skb / _skb_meta
    ("bpf_dynptr_from_skb", flags::TRUSTED_ARGS),
    ("bpf_dynptr_from_skb_meta", flags::TRUSTED_ARGS),
    // net/core/xdp.c XDP_METADATA_KFUNC_xxx
    ("bpf_xdp_metadata_rx_timestamp", flags::TRUSTED_ARGS),
    ("bpf_xdp_metadata_rx_hash", flags::TRUSTED_ARGS),
    ("bpf_xdp_metadata_rx_vlan_tag", flags::TRUSTED_ARGS),
    // kernel/bpf/helpers.c generic_btf_ids
    // net/netfilter/nf_conntrack_bpf.c nf_ct_kfunc_set
    ("bpf_skb_ct_lookup", flags::ACQUIRE | flags::RET_NULL),
    ("bpf_xdp_ct_lookup", flags::ACQUIRE | flags::RET_NULL),
    ("bpf_skb_ct_alloc", flags::ACQUIRE | flags::RET_NULL),
    ("bpf_xdp_ct_alloc", flags::ACQUIRE | flags::RET_NULL),
    ("bpf_ct_release", flags::RELEASE),
    ("bpf_task_acquire", flags::ACQUIRE | flags::RCU | flags::RET_NULL),
    ("bpf_task_release", flags::RELEASE),
    ("crash_kexec", flags::DESTRUCTIVE),
];

/// Program types a kfunc set is registered for (6.18); kfuncs not listed are in the common
/// set (`BPF_PROG_TYPE_UNSPEC`, every type).
const GATING: &[(&str, &[ProgType])] = &[
    // net/core/filter.c: bpf_kfunc_set_skb for SCHED_CLS, SCHED_ACT, SK_SKB, SOCKET_FILTER,
    // CGROUP_SKB, LWT_*, NETFILTER, TRACING (the modelled ones listed).
    (
        "bpf_dynptr_from_skb",
        &[ProgType::SchedCls, ProgType::SchedAct, ProgType::SocketFilter, ProgType::CgroupSkb],
    ),
    // bpf_kfunc_set_skb_meta: the types that can read __sk_buff->data_meta.
    ("bpf_dynptr_from_skb_meta", &[ProgType::SchedCls, ProgType::SchedAct]),
    // bpf_kfunc_set_xdp.
    ("bpf_dynptr_from_xdp", &[ProgType::Xdp]),
    ("bpf_xdp_pull_data", &[ProgType::Xdp]),
    // net/netfilter/nf_conntrack_bpf.c: registered for XDP and SCHED_CLS.
    ("bpf_skb_ct_lookup", &[ProgType::Xdp, ProgType::SchedCls]),
    ("bpf_xdp_ct_lookup", &[ProgType::Xdp, ProgType::SchedCls]),
    ("bpf_skb_ct_alloc", &[ProgType::Xdp, ProgType::SchedCls]),
    ("bpf_xdp_ct_alloc", &[ProgType::Xdp, ProgType::SchedCls]),
    ("bpf_ct_release", &[ProgType::Xdp, ProgType::SchedCls]),
    // net/core/xdp.c xdp_metadata_kfunc_set.
    ("bpf_xdp_metadata_rx_timestamp", &[ProgType::Xdp]),
    ("bpf_xdp_metadata_rx_hash", &[ProgType::Xdp]),
    ("bpf_xdp_metadata_rx_vlan_tag", &[ProgType::Xdp]),
];

/// An argument, as `check_kfunc_args` classifies it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum KArg {
    /// A scalar; `konst`: `__k`, a known constant.
    Scalar {
        /// Must be a known constant.
        konst: bool,
    },
    /// `__ign`: not checked.
    Ignored,
    /// A pointer to the context struct named (`xdp_md`, `__sk_buff`).
    Ctx(String),
    /// `struct bpf_dynptr *`; `uninit`: `__uninit`, the kfunc initialises it.
    Dynptr {
        /// A constructor's out-parameter.
        uninit: bool,
    },
    /// A pointer to memory whose size follows in the next argument (`__sz` / `__szk`).
    MemSize {
        /// `__opt` / `__nullable`: may be NULL.
        nullable: bool,
    },
    /// The size of the preceding memory argument; `konst`: `__szk`.
    Size {
        /// Must be a known constant.
        konst: bool,
    },
    /// A pointer to a scalar (or a struct of scalars) of `size` bytes.
    Mem {
        /// Size of the pointee.
        size: u32,
        /// May be NULL.
        nullable: bool,
    },
    /// `__str`: a constant string.
    Str,
    /// A pointer to another kernel type (`PTR_TO_BTF_ID`).
    BtfPtr(String),
    /// `void *` with no size (`bpf_cast_to_kern_ctx`'s object).
    AnyPtr,
    /// An open-coded iterator (`struct bpf_iter_<type> *`, the first argument of the iterator
    /// kfuncs), of the named struct.
    Iter(String),
}

/// A return value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum KRet {
    /// `void`.
    Void,
    /// An integer: an unknown scalar.
    Scalar,
    /// `void *` (memory; the slices' size comes from an argument).
    VoidPtr,
    /// A pointer to the named kernel type.
    BtfPtr(String),
}

/// A kfunc's prototype.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KfuncProto {
    /// Name.
    pub name: String,
    /// Its BTF id in the kernel's BTF.
    pub btf_id: u32,
    /// Arguments (R1 first), with their parameter names.
    pub args: Vec<(String, KArg)>,
    /// Return.
    pub ret: KRet,
    /// `KF_*` flags ([`flags`], bundled).
    pub flags: u32,
}

impl KfuncProto {
    /// Whether program type `t` may call it (`btf_kfunc_id_set_contains`).
    pub fn allowed(&self, t: ProgType) -> bool {
        GATING.iter().find(|(n, _)| *n == self.name).is_none_or(|(_, types)| types.contains(&t))
    }

    /// Whether a flag is set.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// Kfunc prototypes of one kernel: read on demand from its BTF, or parsed from the table
/// bundled for a named kernel version ([`KfuncTable::bundled`]).
pub struct KfuncTable {
    source: Source,
}

/// Where a table's prototypes come from.
enum Source {
    /// A vmlinux BTF, and the file it was read from.
    Btf(Btf, String),
    /// A bundled table: the prototypes (or why a kfunc has none) by name.
    Bundled(Bundled),
}

/// Each kfunc's BTF id and prototype, or the reason the model could not classify it, by name.
pub(crate) type Entries = BTreeMap<String, (u32, Result<KfuncProto, String>)>;

/// A parsed bundled table ([`crate::verifier::kfunc_bundle`]).
pub(crate) struct Bundled {
    /// The kernel version it was derived from.
    pub(crate) version: String,
    /// Each kfunc's prototype, or the reason the model could not classify it.
    pub(crate) protos: Entries,
    /// The kernel types it carries.
    pub(crate) types: crate::verifier::kernel_types::Types,
}

impl std::fmt::Debug for KfuncTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KfuncTable({})", self.origin())
    }
}

fn btf_err(path: &str, e: impl std::fmt::Display) -> KfuncError {
    KfuncError::Btf { path: path.to_owned(), message: e.to_string() }
}

/// A type id with modifiers and typedefs skipped (`btf_type_skip_modifiers`).
fn skip(btf: &Btf, mut id: u32) -> Option<(u32, Type)> {
    for _ in 0..32 {
        let t = btf.resolve_type_by_id(id).ok()?;
        match &t {
            Type::Typedef(x) => id = x.get_type_id()?,
            Type::Const(x) | Type::Volatile(x) | Type::Restrict(x) => id = x.get_type_id()?,
            Type::TypeTag(x) => id = x.get_type_id()?,
            _ => return Some((id, t)),
        }
    }
    None
}

fn scalar(t: &Type) -> bool {
    matches!(t, Type::Int(_) | Type::Enum(_) | Type::Enum64(_))
}

impl KfuncTable {
    /// The table of an already parsed BTF.
    pub fn new(btf: Btf) -> KfuncTable {
        KfuncTable { source: Source::Btf(btf, "BTF".into()) }
    }

    /// The table of the BTF in `path` (a vmlinux BTF file).
    pub fn from_file(path: &Path) -> Result<KfuncTable, KfuncError> {
        let shown = path.display().to_string();
        let btf = Btf::from_file(path).map_err(|e| btf_err(&shown, e))?;
        Ok(KfuncTable { source: Source::Btf(btf, shown) })
    }

    /// The running kernel's table ([`VMLINUX`]), `None` when it publishes no BTF.
    pub fn running() -> Option<KfuncTable> {
        Self::from_vmlinux(Path::new(VMLINUX))
    }

    /// The table of the BTF at `path`, `None` when it is absent or unreadable.
    pub fn from_vmlinux(path: &Path) -> Option<KfuncTable> {
        path.exists().then(|| Self::from_file(path).ok()).flatten()
    }

    /// The table bundled for kernel `version` (one of [`crate::verifier::kfunc_bundle::VERSIONS`]).
    pub fn bundled(version: &str) -> Result<KfuncTable, KfuncError> {
        let text = crate::verifier::kfunc_bundle::text(version)
            .ok_or_else(|| KfuncError::NoBundle { version: version.to_owned() })?;
        Self::parse_bundled(version, text)
    }

    /// A table in the bundled format ([`crate::verifier::kfunc_bundle`]) for kernel `version`.
    pub fn parse_bundled(version: &str, text: &str) -> Result<KfuncTable, KfuncError> {
        let (protos, types) = crate::verifier::kfunc_bundle::parse(text)?;
        Ok(KfuncTable { source: Source::Bundled(Bundled { version: version.to_owned(), protos, types }) })
    }

    /// The newest bundled table.
    pub fn newest_bundled() -> Result<KfuncTable, KfuncError> {
        Self::bundled(crate::verifier::kfunc_bundle::newest())
    }

    /// The kernel version of a bundled table; `None` for one read from BTF.
    pub fn bundled_version(&self) -> Option<&str> {
        match &self.source {
            Source::Bundled(b) => Some(&b.version),
            Source::Btf(..) => None,
        }
    }

    /// Where the prototypes come from, for a user: the BTF file or the bundled version.
    pub fn origin(&self) -> String {
        match &self.source {
            Source::Btf(_, path) => format!("BTF {path}"),
            Source::Bundled(b) => format!("the bundled table of Linux {}", b.version),
        }
    }

    /// The BTF itself; `None` for a bundled table, which carries only the kernel types the
    /// kfuncs it models need ([`crate::verifier::kernel_types`]).
    pub fn btf(&self) -> Option<&Btf> {
        match &self.source {
            Source::Btf(btf, _) => Some(btf),
            Source::Bundled(_) => None,
        }
    }

    /// The kernel types of a bundled table (for loads through kernel pointers).
    pub(crate) fn types(&self) -> Option<&crate::verifier::kernel_types::Types> {
        match &self.source {
            Source::Bundled(b) => Some(&b.types),
            Source::Btf(..) => None,
        }
    }

    /// The name of the FUNC with BTF id `id`.
    pub fn name_of(&self, id: u32) -> Option<String> {
        let btf = match &self.source {
            Source::Btf(btf, _) => btf,
            Source::Bundled(b) => {
                return b.protos.iter().find(|(_, (i, _))| *i == id).map(|(n, _)| n.clone())
            }
        };
        match btf.resolve_type_by_id(id).ok()? {
            Type::Func(f) => btf.resolve_name(&f).ok(),
            _ => None,
        }
    }

    /// The BTF id of FUNC `name`.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        let btf = match &self.source {
            Source::Btf(btf, _) => btf,
            Source::Bundled(b) => return b.protos.get(name).map(|(id, _)| *id),
        };
        let ids = btf.resolve_ids_by_name(name).ok()?;
        ids.into_iter().find(|&id| matches!(btf.resolve_type_by_id(id), Ok(Type::Func(_))))
    }

    /// Every FUNC tagged `bpf_kfunc` (`__bpf_kfunc`), by name.
    pub fn tagged(&self) -> Vec<String> {
        let btf = match &self.source {
            Source::Btf(btf, _) => btf,
            Source::Bundled(b) => return b.protos.keys().cloned().collect(),
        };
        let mut out = Vec::new();
        for id in 1.. {
            let Ok(t) = btf.resolve_type_by_id(id) else { break };
            if let Type::DeclTag(tag) = t {
                if btf.resolve_name(&tag).is_ok_and(|n| n == "bpf_kfunc") {
                    if let Some(name) = tag.get_type_id().and_then(|f| self.name_of(f)) {
                        out.push(name);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The prototype of kfunc `name`.
    pub fn proto(&self, name: &str) -> Result<KfuncProto, KfuncError> {
        let not_found = || KfuncError::NotFound { name: name.to_owned() };
        let bad = |message: String| KfuncError::Prototype { name: name.to_owned(), message };
        let btf = match &self.source {
            Source::Btf(btf, _) => btf,
            Source::Bundled(b) => {
                let (_, p) = b.protos.get(name).ok_or_else(not_found)?;
                return p.clone().map_err(bad);
            }
        };
        let id = self.id_of(name).ok_or_else(not_found)?;
        let Ok(Type::Func(func)) = btf.resolve_type_by_id(id) else { return Err(not_found()) };
        let Ok(Type::FuncProto(fp)) = btf.resolve_chained_type(&func) else {
            return Err(bad("no prototype".into()));
        };
        let params: Vec<(String, u32)> = fp
            .parameters
            .iter()
            .map(|p| (btf.resolve_name(p).unwrap_or_default(), p.get_type_id().unwrap_or(0)))
            .collect();
        let mut args = Vec::new();
        for (i, (pname, ty)) in params.iter().enumerate() {
            let (_, t) = skip(btf, *ty).ok_or_else(|| bad(format!("argument {pname}: bad type")))?;
            let next_is_size =
                params.get(i + 1).is_some_and(|(n, _)| n.ends_with("__sz") || n.ends_with("__szk"));
            let nullable = pname.ends_with("__opt") || pname.ends_with("__nullable");
            let arg = if pname.ends_with("__ign") {
                KArg::Ignored
            } else if scalar(&t) {
                if pname.ends_with("__szk") {
                    KArg::Size { konst: true }
                } else if pname.ends_with("__sz") {
                    KArg::Size { konst: false }
                } else {
                    KArg::Scalar { konst: pname.ends_with("__k") }
                }
            } else if let Type::Ptr(p) = &t {
                let pointee = p.get_type_id().and_then(|id| skip(btf, id));
                let pointee_name = pointee
                    .as_ref()
                    .and_then(|(_, t)| t.as_btf_type().and_then(|b| btf.resolve_name(b).ok()))
                    .unwrap_or_default();
                match pointee {
                    _ if pname.ends_with("__str") => KArg::Str,
                    Some((_, Type::Struct(_))) if pointee_name == "bpf_dynptr" => {
                        KArg::Dynptr { uninit: pname.ends_with("__uninit") }
                    }
                    Some((_, Type::Struct(_))) if i == 0 && pointee_name.starts_with("bpf_iter_") => {
                        KArg::Iter(pointee_name)
                    }
                    Some((_, Type::Struct(_))) if pointee_name == "xdp_md" || pointee_name == "__sk_buff" => {
                        KArg::Ctx(pointee_name)
                    }
                    _ if next_is_size => KArg::MemSize { nullable },
                    Some((_, Type::Void)) | None => KArg::AnyPtr,
                    Some((_, t)) if scalar(&t) => {
                        let size = match &t {
                            Type::Int(x) => x.size(),
                            Type::Enum(x) => x.size(),
                            Type::Enum64(x) => x.size(),
                            _ => 0,
                        };
                        KArg::Mem { size: size as u32, nullable }
                    }
                    Some((_, Type::Struct(_) | Type::Union(_))) => KArg::BtfPtr(pointee_name),
                    _ => return Err(bad(format!("argument {pname}: pointer to an unsupported type"))),
                }
            } else {
                return Err(bad(format!("argument {pname}: unsupported type {}", t.name())));
            };
            args.push((pname.clone(), arg));
        }
        let ret = match skip(btf, fp.return_type_id()) {
            Some((_, Type::Void)) | None => KRet::Void,
            Some((_, t)) if scalar(&t) => KRet::Scalar,
            Some((_, Type::Ptr(p))) => match p.get_type_id().and_then(|id| skip(btf, id)) {
                Some((_, Type::Void)) | None => KRet::VoidPtr,
                Some((_, t)) => {
                    KRet::BtfPtr(t.as_btf_type().and_then(|b| btf.resolve_name(b).ok()).unwrap_or_default())
                }
            },
            Some((_, t)) => return Err(bad(format!("unsupported return type {}", t.name()))),
        };
        let flags = FLAGS.iter().find(|(n, _)| *n == name).map_or(0, |(_, f)| *f);
        Ok(KfuncProto { name: name.to_owned(), btf_id: id, args, ret, flags })
    }

    /// The prototypes of `names`, failures kept per name.
    pub fn protos<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> HashMap<String, Result<KfuncProto, String>> {
        names.into_iter().map(|n| (n.to_owned(), self.proto(n).map_err(|e| e.to_string()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prototypes of the running kernel's dynptr and metadata kfuncs (skipped without BTF).
    #[test]
    #[allow(clippy::print_stderr)]
    fn prototypes_follow_the_suffix_conventions() {
        let Some(t) = KfuncTable::running() else {
            eprintln!("{VMLINUX} absent: skipped");
            return;
        };
        let p = t.proto("bpf_dynptr_from_skb_meta").expect("6.18 has it");
        assert_eq!(
            p.args.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
            [KArg::Ctx("__sk_buff".into()), KArg::Scalar { konst: false }, KArg::Dynptr { uninit: true }]
        );
        assert_eq!(p.ret, KRet::Scalar);
        assert!(!p.allowed(ProgType::Xdp) && p.allowed(ProgType::SchedAct));
        let s = t.proto("bpf_dynptr_slice").expect("present");
        assert_eq!(s.ret, KRet::VoidPtr);
        assert_eq!(s.args[2].1, KArg::MemSize { nullable: true });
        assert_eq!(s.args[3].1, KArg::Size { konst: true });
        assert!(s.has(flags::RET_NULL));
        let m = t.proto("bpf_xdp_metadata_rx_timestamp").expect("present");
        assert_eq!(m.args[1].1, KArg::Mem { size: 8, nullable: false });
        assert_eq!(t.name_of(s.btf_id).as_deref(), Some("bpf_dynptr_slice"));
        assert!(t.proto("no_such_kfunc").is_err());
    }
}
