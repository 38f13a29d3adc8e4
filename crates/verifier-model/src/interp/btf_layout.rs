//! [`Layout`]s read from BTF (`Layout::from_btf`): a struct or union flattened into named fields.
//!
//! Naming (the convention every user of these layouts relies on):
//! - a named member is its name; members of a named nested struct or union are
//!   `outer.inner` (`hwtstamps.hwtstamp`), and the nested aggregate itself is a field too;
//! - members of an *anonymous* struct or union are flattened without a prefix, as C spells
//!   them (`sk_buff.hash`, `sk_buff.mac_header`); a `struct_group(headers, ...)` therefore gives
//!   both `mac_header` (the anonymous half) and `headers.mac_header` (the named half);
//! - when two paths give the same name the first in declaration order is what
//!   [`Layout::find`] returns;
//! - bitfields keep their bit position ([`super::memory::Field::bits`]);
//! - arrays are one field of their whole size (elements are not listed); pointers are 8 bytes;
//!   typedefs, `const`, `volatile`, `restrict` and type tags are looked through.
//!
//! Loading BTF files (`/sys/kernel/btf/vmlinux`, split module BTF) is the caller's business:
//! see [`load_vmlinux`] and [`load_module`] for the usual paths.

use btf_rs::{Btf, Type};

use super::memory::{Field, Layout, LayoutError};

/// Nesting depth beyond which members are not expanded (BTF from the kernel never gets close;
/// this only guards against malformed, self-referencing input).
const MAX_DEPTH: usize = 16;

impl Layout {
    /// The layout of the struct or union `name` in `btf`, flattened as the module docs say.
    /// With split BTF (a module's, on its vmlinux base) the module's types are searched first.
    pub fn from_btf(btf: &Btf, name: &str) -> Result<Layout, LayoutError> {
        Layout::from_btf_id(btf, struct_id(btf, name)?, name)
    }

    /// The layout of the struct or union with BTF type id `id`, named `name`.
    pub fn from_btf_id(btf: &Btf, id: u32, name: &str) -> Result<Layout, LayoutError> {
        let err = |reason: String| LayoutError::Btf { name: name.to_owned(), reason };
        let st = match btf.resolve_type_by_id(id) {
            Ok(Type::Struct(s) | Type::Union(s)) => s,
            Ok(other) => {
                return Err(err(format!("type id {id} is a {}, not a struct or union", other.name())))
            }
            Err(e) => return Err(err(format!("type id {id}: {e}"))),
        };
        let size = u32::try_from(st.size()).map_err(|_| err("size does not fit in 32 bits".into()))?;
        let mut layout = Layout::new(name, size);
        flatten(btf, &st, 0, "", 0, &mut layout.fields).map_err(err)?;
        Ok(layout)
    }
}

/// The BTF type id of the struct or union `name` (the first one: a split BTF's own types come
/// before its base's).
pub fn struct_id(btf: &Btf, name: &str) -> Result<u32, LayoutError> {
    let missing = || LayoutError::MissingType { name: name.into() };
    let ids = btf.resolve_ids_by_name(name).map_err(|_| missing())?;
    ids.into_iter()
        .find(|&id| matches!(btf.resolve_type_by_id(id), Ok(Type::Struct(_) | Type::Union(_))))
        .ok_or_else(missing)
}

/// Appends the members of `st` (placed at bit `base_bits`) to `out`, prefixed with `prefix`.
fn flatten(
    btf: &Btf,
    st: &btf_rs::Struct,
    base_bits: u32,
    prefix: &str,
    depth: usize,
    out: &mut Vec<Field>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("members nested deeper than {MAX_DEPTH} levels at {prefix}"));
    }
    for m in &st.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        let bit = base_bits + m.bit_offset();
        let ty = resolve(btf, btf.resolve_chained_type(m).map_err(|e| e.to_string())?)?;
        let path = if name.is_empty() { prefix.to_owned() } else { format!("{prefix}{name}") };
        let nested = match &ty {
            Type::Struct(s) | Type::Union(s) => Some(s),
            _ => None,
        };
        if let Some(bits) = m.bitfield_size().filter(|&b| b > 0) {
            out.push(Field {
                name: path,
                offset: bit / 8,
                size: ((bit % 8) + bits).div_ceil(8),
                bits: Some((bit % 8, bits)),
            });
            continue;
        }
        if !name.is_empty() {
            let size = type_size(btf, &ty, 0)?;
            out.push(Field { name: path.clone(), offset: bit / 8, size, bits: None });
        }
        if let Some(s) = nested {
            let prefix = if name.is_empty() { path } else { format!("{path}.") };
            flatten(btf, s, bit, &prefix, depth + 1, out)?;
        }
    }
    Ok(())
}

/// Looks through typedefs and qualifiers.
fn resolve(btf: &Btf, mut ty: Type) -> Result<Type, String> {
    for _ in 0..MAX_DEPTH * 4 {
        ty = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t),
            Type::Volatile(t) | Type::Const(t) | Type::Restrict(t) => btf.resolve_chained_type(t),
            Type::TypeTag(t) => btf.resolve_chained_type(t),
            _ => return Ok(ty),
        }
        .map_err(|e| e.to_string())?;
    }
    Err("typedef chain too long".into())
}

/// Size in bytes of a (resolved) type.
fn type_size(btf: &Btf, ty: &Type, depth: usize) -> Result<u32, String> {
    if depth > MAX_DEPTH {
        return Err("array of arrays nested too deep".into());
    }
    let n = match ty {
        Type::Int(i) => i.size(),
        Type::Ptr(_) => 8,
        Type::Struct(s) | Type::Union(s) => s.size(),
        Type::Enum(e) => e.size(),
        Type::Enum64(e) => e.size(),
        Type::Float(f) => f.size(),
        Type::Array(a) => {
            let elem = resolve(btf, btf.resolve_chained_type(a).map_err(|e| e.to_string())?)?;
            let n = u64::from(type_size(btf, &elem, depth + 1)?) * a.len() as u64;
            return u32::try_from(n).map_err(|_| "array larger than 4 GiB".to_owned());
        }
        Type::Typedef(_) | Type::Volatile(_) | Type::Const(_) | Type::Restrict(_) | Type::TypeTag(_) => {
            return type_size(btf, &resolve(btf, ty.clone())?, depth + 1)
        }
        other => return Err(format!("member of kind {} has no size", other.name())),
    };
    u32::try_from(n).map_err(|_| "type larger than 4 GiB".to_owned())
}

/// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), if readable.
pub fn load_vmlinux() -> Option<Btf> {
    Btf::from_file("/sys/kernel/btf/vmlinux").ok()
}

/// A module's split BTF (`/sys/kernel/btf/<module>`) on top of `base`, if the module is loaded.
pub fn load_module(base: &Btf, module: &str) -> Option<Btf> {
    Btf::from_split_file(format!("/sys/kernel/btf/{module}"), base).ok()
}

/// A struct's layout from the module's BTF when it exists, else from vmlinux (for built-in
/// drivers, like veth on the 6.18 test machine), else `None`.
pub fn driver_layout(vmlinux: &Btf, module: &str, name: &str) -> Option<Layout> {
    load_module(vmlinux, module)
        .and_then(|m| Layout::from_btf(&m, name).ok())
        .or_else(|| Layout::from_btf(vmlinux, name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn require_kernel() -> bool {
        std::env::var("BPFPATCH_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
    }

    #[test]
    #[allow(clippy::print_stdout)] // the skip reason and the count are the test's report
    fn vmlinux_layouts_match_the_6_18_offsets() {
        let Some(btf) = load_vmlinux() else {
            assert!(!require_kernel(), "BPFPATCH_REQUIRE_KERNEL=1 but /sys/kernel/btf/vmlinux is unreadable");
            println!("skipped: /sys/kernel/btf/vmlinux is not readable");
            return;
        };
        let skb = Layout::from_btf(&btf, "sk_buff").expect("vmlinux has sk_buff");
        let shinfo = Layout::from_btf(&btf, "skb_shared_info").expect("vmlinux has skb_shared_info");
        let xdp = Layout::from_btf(&btf, "xdp_buff").expect("vmlinux has xdp_buff");
        let cases: [(&Layout, &str, u32); 11] = [
            (&skb, "hash", 148),
            (&skb, "len", 112),
            (&skb, "mark", 164),
            (&skb, "vlan_proto", 152),
            (&skb, "vlan_tci", 154),
            (&skb, "end", 188),
            (&skb, "head", 192),
            (&skb, "headers.mac_header", 182),
            (&shinfo, "hwtstamps", 16),
            (&shinfo, "meta_len", 1),
            (&xdp, "frame_sz", 48),
        ];
        for (layout, field, want) in cases {
            assert_eq!(layout.offset_of(field), Ok(want), "{}.{field}", layout.name);
        }
        assert_eq!((skb.size, xdp.size), (224, 56), "struct sizes on 6.18");
        // Bitfields: l4_hash and sw_hash are bits 1 and 2 of byte 130 on 6.18.
        let l4 = skb.find("l4_hash").expect("sk_buff.l4_hash");
        let sw = skb.find("sw_hash").expect("sk_buff.sw_hash");
        assert_eq!((l4.offset, l4.bits), (130, Some((1, 1))));
        assert_eq!((sw.offset, sw.bits), (130, Some((2, 1))));
        assert_eq!(shinfo.find("hwtstamps.hwtstamp").map(|f| (f.offset, f.size)), Some((16, 8)));
        assert!(matches!(Layout::from_btf(&btf, "no_such_struct_xyz"), Err(LayoutError::MissingType { .. })));
        // veth_xdp_buff: in vmlinux when veth is built in, else in the module's split BTF.
        match driver_layout(&btf, "veth", "veth_xdp_buff") {
            Some(v) => {
                assert_eq!(v.offset_of("skb"), Ok(56));
                assert_eq!(v.offset_of("xdp.frame_sz"), Ok(48));
            }
            None => println!("veth_xdp_buff is in neither vmlinux nor /sys/kernel/btf/veth"),
        }
        println!("checked {} sk_buff fields from BTF", skb.fields.len());
    }
}
