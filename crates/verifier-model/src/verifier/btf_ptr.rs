//! Loads through `PTR_TO_BTF_ID` pointers (the kernel's `btf_struct_walk`, simplified): a read
//! of `size` bytes at `off` in a kernel struct is a scalar when it lies inside a scalar member
//! (nested structs, unions and arrays are walked), a typed pointer when it is exactly a pointer
//! member to a struct, and an error otherwise (past the struct, straddling a member's end,
//! part of a pointer, padding). The types come from the kernel's BTF ([`KfuncTable::btf`]).

use btf_rs::{Btf, BtfType, Type};

use super::kfunc::KfuncTable;

/// What a load through a typed pointer reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    /// An integer (or part of a scalar member).
    Scalar,
    /// A pointer to the struct with this BTF id.
    Ptr(u32),
}

/// A type with typedefs and modifiers skipped.
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

/// Size in bytes of type `id`.
fn size_of(btf: &Btf, id: u32) -> Option<u64> {
    let (_, t) = skip(btf, id)?;
    Some(match &t {
        Type::Int(x) => x.size() as u64,
        Type::Enum(x) => x.size() as u64,
        Type::Enum64(x) => x.size() as u64,
        Type::Float(x) => x.size() as u64,
        Type::Ptr(_) => 8,
        Type::Struct(s) | Type::Union(s) => s.size() as u64,
        Type::Array(a) => a.len() as u64 * size_of(btf, a.get_type_id()?)?,
        _ => return None,
    })
}

fn name(btf: &Btf, t: &Type) -> String {
    t.as_btf_type().and_then(|b| btf.resolve_name(b).ok()).unwrap_or_default()
}

/// The name of the struct with BTF id `id` (`?` when there is none).
pub fn struct_name(table: &KfuncTable, id: u32) -> String {
    table
        .btf()
        .and_then(|btf| btf.resolve_type_by_id(id).ok().map(|t| name(btf, &t)))
        .unwrap_or_else(|| "?".into())
}

/// The BTF id of struct `name`.
pub fn struct_id(table: &KfuncTable, name: &str) -> Option<u32> {
    let btf = table.btf()?;
    btf.resolve_ids_by_name(name)
        .ok()?
        .into_iter()
        .find(|&id| matches!(btf.resolve_type_by_id(id), Ok(Type::Struct(_))))
}

/// A read of `size` bytes at `off` of the struct with id `id`; the error is the kernel's
/// message. A table without BTF (a bundled one) knows no struct.
pub fn read(table: &KfuncTable, id: u32, off: u64, size: u64) -> Result<Field, String> {
    let Some(btf) = table.btf() else { return Err(format!("type {id}: no kernel BTF")) };
    walk(btf, id, off, size, 0)
}

fn walk(btf: &Btf, id: u32, off: u64, size: u64, depth: u32) -> Result<Field, String> {
    let (_, t) = skip(btf, id).ok_or_else(|| format!("type {id} is not in the kernel's BTF"))?;
    let tname = name(btf, &t);
    let (Type::Struct(s) | Type::Union(s)) = &t else {
        return Err(format!("type {tname} is not a struct"));
    };
    if depth > 16 {
        return Err(format!("struct {tname} nests too deeply"));
    }
    if off + size > s.size() as u64 {
        return Err(format!("access beyond struct {tname} at off {off} size {size}"));
    }
    for m in &s.members {
        let mid = m.get_type_id().unwrap_or(0);
        let mname = btf.resolve_name(m).unwrap_or_default();
        let moff = u64::from(m.bit_offset() / 8);
        if let Some(bits) = m.bitfield_size().filter(|b| *b > 0) {
            let end = (u64::from(m.bit_offset()) + u64::from(bits)).div_ceil(8);
            if off >= moff && off < end {
                return Ok(Field::Scalar);
            }
            continue;
        }
        let Some(msize) = size_of(btf, mid) else { continue };
        if off < moff || off >= moff + msize {
            continue;
        }
        let Some((_, mt)) = skip(btf, mid) else { continue };
        let mend = moff + msize;
        return match &mt {
            Type::Struct(_) | Type::Union(_) => walk(btf, mid, off - moff, size, depth + 1),
            Type::Array(a) => {
                let elem = a.get_type_id().unwrap_or(0);
                let esize = size_of(btf, elem).filter(|e| *e > 0).unwrap_or(1);
                match skip(btf, elem) {
                    Some((_, Type::Struct(_) | Type::Union(_))) => {
                        walk(btf, elem, (off - moff) % esize, size, depth + 1)
                    }
                    _ if off + size <= mend => Ok(Field::Scalar),
                    _ => Err(format!(
                        "access beyond the end of member {mname} (mend:{mend}) in struct {tname} with off {off} size {size}"
                    )),
                }
            }
            Type::Ptr(p) => {
                if off != moff || size != 8 {
                    return Err(format!(
                        "cannot access ptr member {mname} with moff {moff} in struct {tname} with off {off} size {size}"
                    ));
                }
                match p.get_type_id().and_then(|i| skip(btf, i)) {
                    Some((pid, Type::Struct(_))) => Ok(Field::Ptr(pid)),
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
}
