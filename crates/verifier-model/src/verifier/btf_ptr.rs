//! Loads through `PTR_TO_BTF_ID` pointers (the kernel's `btf_struct_walk`, simplified): a read
//! of `size` bytes at `off` in a kernel struct is a scalar when it lies inside a scalar member
//! (nested structs, unions and arrays are walked), a typed pointer when it is exactly a pointer
//! member to a struct, and an error otherwise (past the struct, straddling a member's end,
//! part of a pointer, padding). The types come from the kernel's BTF ([`KfuncTable::btf`]) or
//! from a bundled table's types ([`crate::verifier::kernel_types`]); a struct such a table
//! carries only by name and size is refused with a message saying so.

use super::kernel_types::{self, TypeInfo};
use super::kfunc::KfuncTable;

/// What a load through a typed pointer reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    /// An integer (or part of a scalar member).
    Scalar,
    /// A pointer to the struct with this BTF id.
    Ptr(u32),
}

/// Type `id` of the table's BTF or bundled types.
fn info(table: &KfuncTable, id: u32) -> Option<TypeInfo> {
    match table.btf() {
        Some(btf) => kernel_types::from_btf(btf, id),
        None => table.types()?.get(&id).cloned(),
    }
}

/// Size in bytes of type `id`.
fn size_of(types: &dyn Fn(u32) -> Option<TypeInfo>, id: u32) -> Option<u64> {
    Some(match kernel_types::skip(types, id)?.1 {
        TypeInfo::Scalar(n) => n,
        TypeInfo::Ptr(_) => 8,
        TypeInfo::Struct { size, .. } | TypeInfo::Opaque { size, .. } => size,
        TypeInfo::Array { elem, len } => len * size_of(types, elem)?,
        TypeInfo::Alias(_) | TypeInfo::Other => return None,
    })
}

/// The name of the struct with BTF id `id` (`?` when there is none).
pub fn struct_name(table: &KfuncTable, id: u32) -> String {
    match info(table, id) {
        Some(TypeInfo::Struct { name, .. } | TypeInfo::Opaque { name, .. }) => name,
        Some(_) => String::new(),
        None => "?".into(),
    }
}

/// The BTF id of struct `name`.
pub fn struct_id(table: &KfuncTable, name: &str) -> Option<u32> {
    let is_struct = |t: Option<TypeInfo>| matches!(t, Some(TypeInfo::Struct { union: false, name: n, .. } | TypeInfo::Opaque { name: n, .. }) if n == name);
    match table.btf() {
        Some(btf) => btf.resolve_ids_by_name(name).ok()?.into_iter().find(|&id| is_struct(info(table, id))),
        None => table.types()?.iter().find(|(_, t)| is_struct(Some((*t).clone()))).map(|(id, _)| *id),
    }
}

/// A read of `size` bytes at `off` of the struct with id `id`; the error is the kernel's
/// message.
pub fn read(table: &KfuncTable, id: u32, off: u64, size: u64) -> Result<Field, String> {
    walk(&|i| info(table, i), table, id, off, size, 0)
}

fn walk(
    types: &dyn Fn(u32) -> Option<TypeInfo>,
    table: &KfuncTable,
    id: u32,
    off: u64,
    size: u64,
    depth: u32,
) -> Result<Field, String> {
    let (_, t) =
        kernel_types::skip(types, id).ok_or_else(|| format!("type {id} is not in the kernel's BTF"))?;
    let (tname, ssize, members) = match t {
        TypeInfo::Struct { name, size, members, .. } => (name, size, members),
        TypeInfo::Opaque { name, .. } => {
            return Err(format!(
                "struct {name}: its layout is not in {} (give the kernel's BTF)",
                table.origin()
            ))
        }
        _ => return Err(format!("type {id} is not a struct")),
    };
    if depth > 16 {
        return Err(format!("struct {tname} nests too deeply"));
    }
    if off + size > ssize {
        return Err(format!("access beyond struct {tname} at off {off} size {size}"));
    }
    for m in &members {
        let mname = &m.name;
        let moff = u64::from(m.bit_offset / 8);
        if m.bits > 0 {
            let end = (u64::from(m.bit_offset) + u64::from(m.bits)).div_ceil(8);
            if off >= moff && off < end {
                return Ok(Field::Scalar);
            }
            continue;
        }
        let Some(msize) = size_of(types, m.ty) else { continue };
        if off < moff || off >= moff + msize {
            continue;
        }
        let Some((_, mt)) = kernel_types::skip(types, m.ty) else { continue };
        let mend = moff + msize;
        return match &mt {
            TypeInfo::Struct { .. } | TypeInfo::Opaque { .. } => {
                walk(types, table, m.ty, off - moff, size, depth + 1)
            }
            TypeInfo::Array { elem, .. } => {
                let esize = size_of(types, *elem).filter(|e| *e > 0).unwrap_or(1);
                match kernel_types::skip(types, *elem) {
                    Some((_, TypeInfo::Struct { .. } | TypeInfo::Opaque { .. })) => {
                        walk(types, table, *elem, (off - moff) % esize, size, depth + 1)
                    }
                    _ if off + size <= mend => Ok(Field::Scalar),
                    _ => Err(format!(
                        "access beyond the end of member {mname} (mend:{mend}) in struct {tname} with off {off} size {size}"
                    )),
                }
            }
            TypeInfo::Ptr(to) => {
                if off != moff || size != 8 {
                    return Err(format!(
                        "cannot access ptr member {mname} with moff {moff} in struct {tname} with off {off} size {size}"
                    ));
                }
                match kernel_types::skip(types, *to) {
                    Some((pid, TypeInfo::Struct { union: false, .. } | TypeInfo::Opaque { .. })) => Ok(Field::Ptr(pid)),
                    _ => Ok(Field::Scalar),
                }
            }
            _ if off + size <= mend => Ok(Field::Scalar),
            _ => Err(format!(
                "access beyond the end of member {mname} (mend:{mend}) in struct {tname} with off {off} size {size}"
            )),
        };
    }
    Err(format!("struct {tname} doesn't have field at offset {off}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::print_stderr)]
    fn sk_buff_and_xdp_buff_fields() {
        let Some(t) = KfuncTable::running() else {
            eprintln!("no kernel BTF: skipped");
            return;
        };
        let skb = struct_id(&t, "sk_buff").expect("vmlinux has sk_buff");
        assert_eq!(struct_name(&t, skb), "sk_buff");
        // kernel-notes §B.3: sk_buff.hash at 148 (u32).
        assert_eq!(read(&t, skb, 148, 4), Ok(Field::Scalar));
        assert!(read(&t, skb, 100_000, 4).is_err());
        let xdp = struct_id(&t, "xdp_buff").expect("vmlinux has xdp_buff");
        // xdp_buff.rxq (a pointer to struct xdp_rxq_info) follows data, data_end, data_meta,
        // data_hard_start.
        let rxq = read(&t, xdp, 32, 8).expect("rxq");
        let Field::Ptr(rxq) = rxq else { panic!("{rxq:?}") };
        assert_eq!(struct_name(&t, rxq), "xdp_rxq_info");
        assert!(read(&t, xdp, 32, 4).is_err());
    }

    /// A bundled table reads xdp_buff -> rxq like the BTF, and refuses a struct it carries by
    /// name only, saying so.
    #[test]
    fn bundled_layouts_stop_one_pointer_away() {
        let t = KfuncTable::newest_bundled().expect("bundled");
        let xdp = struct_id(&t, "xdp_buff").expect("bundled");
        let Ok(Field::Ptr(rxq)) = read(&t, xdp, 32, 8) else { panic!("rxq is a pointer") };
        assert_eq!(struct_name(&t, rxq), "xdp_rxq_info");
        assert_eq!(read(&t, rxq, 8, 4), Ok(Field::Scalar), "queue_index");
        let Ok(Field::Ptr(dev)) = read(&t, rxq, 0, 8) else { panic!("rxq->dev is a pointer") };
        assert_eq!(struct_name(&t, dev), "net_device");
        let e = read(&t, dev, 0, 4).expect_err("net_device is two hops away");
        assert!(e.contains("struct net_device: its layout is not in the bundled table"), "{e}");
    }
}
