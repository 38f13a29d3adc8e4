//! Dynptrs as the kernel represents them (`struct bpf_dynptr_kern`, kernel-notes §D.1), written
//! into the program's 16-byte `struct bpf_dynptr`: bytes 0-7 the data pointer, 8-11 `size` (bits
//! 0-23 the usable size, 28-30 the type, 31 read-only), 12-15 `offset`. A NULL dynptr is all
//! zero. Here, and only here, the data pointer of an SKB / SKB_META dynptr is the `__sk_buff`
//! context pointer and that of an XDP dynptr the `xdp_buff` (context) pointer: they stand for
//! the kernel's `sk_buff *` / `xdp_buff *`, which programs cannot read anyway.
//!
//! Helpers: `bpf_dynptr_from_mem` (197), `bpf_dynptr_read` (201), `bpf_dynptr_write` (202),
//! `bpf_dynptr_data` (203); the ringbuf ones (198-200) are in [`super::ringbuf`]. Kfuncs:
//! `bpf_dynptr_from_skb`, `_from_skb_meta`, `_from_xdp`, `_slice`, `_slice_rdwr`, `_size`,
//! `_is_null`, `_is_rdonly`, `_adjust`, `_clone`, with `kernel/bpf/helpers.c` and
//! `net/core/filter.c` return codes. Paged skb data ([`super::SkbSetup::headlen`]) is reached by
//! copies only: a slice of it lands in the caller's buffer, or is NULL without one.

use std::rc::Rc;

use super::helpers::{HelperCtx, HelperError, Helpers};
use super::memory::Memory;
use super::skb::SkbCtx;
use super::XdpCtx;

/// `BPF_FUNC_dynptr_from_mem`.
pub const BPF_FUNC_DYNPTR_FROM_MEM: i32 = 197;
/// `BPF_FUNC_dynptr_read`.
pub const BPF_FUNC_DYNPTR_READ: i32 = 201;
/// `BPF_FUNC_dynptr_write`.
pub const BPF_FUNC_DYNPTR_WRITE: i32 = 202;
/// `BPF_FUNC_dynptr_data`.
pub const BPF_FUNC_DYNPTR_DATA: i32 = 203;

/// `DYNPTR_MAX_SIZE`: sizes are 24-bit.
pub const DYNPTR_MAX_SIZE: u32 = (1 << 24) - 1;
const DYNPTR_TYPE_SHIFT: u32 = 28;
const DYNPTR_RDONLY_BIT: u32 = 1 << 31;

pub(crate) const E2BIG: i64 = 7;
pub(crate) const EINVAL: i64 = 22;
const ERANGE: i64 = 34;
/// `BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH`: the flags `bpf_skb_store_bytes` accepts.
const SKB_STORE_FLAGS: u64 = 1 | 2;

/// `enum bpf_dynptr_type`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DynptrType {
    /// `BPF_DYNPTR_TYPE_INVALID` (a NULL dynptr).
    Invalid = 0,
    /// `BPF_DYNPTR_TYPE_LOCAL`: program memory.
    Local = 1,
    /// `BPF_DYNPTR_TYPE_RINGBUF`: a ring buffer sample.
    Ringbuf = 2,
    /// `BPF_DYNPTR_TYPE_SKB`: the packet of a `__sk_buff`.
    Skb = 3,
    /// `BPF_DYNPTR_TYPE_XDP`: the frame of an `xdp_buff`.
    Xdp = 4,
    /// `BPF_DYNPTR_TYPE_SKB_META`: the metadata in front of an skb's MAC header.
    SkbMeta = 5,
}

/// A decoded `struct bpf_dynptr_kern`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Dynptr {
    /// The data pointer (0 for a NULL dynptr).
    pub data: u64,
    /// Usable size (24 bits).
    pub size: u32,
    /// Type.
    pub kind: DynptrType,
    /// Read-only bit.
    pub rdonly: bool,
    /// Offset into the data.
    pub offset: u32,
}

impl Dynptr {
    /// The all-zero NULL dynptr.
    pub const NULL: Dynptr = Dynptr { data: 0, size: 0, kind: DynptrType::Invalid, rdonly: false, offset: 0 };

    /// A fresh dynptr as `bpf_dynptr_init` makes it.
    pub fn new(data: u64, kind: DynptrType, size: u32) -> Dynptr {
        Dynptr { data, size, kind, rdonly: false, offset: 0 }
    }

    /// The 16 bytes the kernel stores.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let size = (self.size & DYNPTR_MAX_SIZE)
            | ((self.kind as u32) << DYNPTR_TYPE_SHIFT)
            | if self.rdonly { DYNPTR_RDONLY_BIT } else { 0 };
        b[..8].copy_from_slice(&self.data.to_le_bytes());
        b[8..12].copy_from_slice(&size.to_le_bytes());
        b[12..].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    /// Decodes the 16 stored bytes; `None` for a type the kernel does not have.
    pub fn decode(b: &[u8; 16]) -> Option<Dynptr> {
        let word = |r: std::ops::Range<usize>| b[r].iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let size = word(8..12) as u32;
        let kind = match (size >> DYNPTR_TYPE_SHIFT) & 7 {
            0 => DynptrType::Invalid,
            1 => DynptrType::Local,
            2 => DynptrType::Ringbuf,
            3 => DynptrType::Skb,
            4 => DynptrType::Xdp,
            5 => DynptrType::SkbMeta,
            _ => return None,
        };
        Some(Dynptr {
            data: word(0..8),
            size: size & DYNPTR_MAX_SIZE,
            kind,
            rdonly: size & DYNPTR_RDONLY_BIT != 0,
            offset: word(12..16) as u32,
        })
    }

    /// `bpf_dynptr_check_off_len`: 0 or -E2BIG.
    fn check(&self, offset: u32, len: u32) -> Result<(), i64> {
        if len > self.size || offset > self.size - len {
            return Err(-E2BIG);
        }
        Ok(())
    }
}

/// Reads the dynptr stored at `addr`.
pub fn load(memory: &Memory, addr: u64) -> Result<Dynptr, HelperError> {
    let b: [u8; 16] = memory.read_bytes(addr, 16)?.try_into().expect("read_bytes returns 16 bytes");
    Dynptr::decode(&b).ok_or_else(|| HelperError::Invalid(format!("{addr:#x} does not hold a dynptr")))
}

/// Stores `d` at `addr`.
pub fn store(memory: &mut Memory, addr: u64, d: &Dynptr) -> Result<(), HelperError> {
    Ok(memory.write_bytes(addr, &d.encode())?)
}

fn ret(v: i64) -> u64 {
    v as u64
}

fn skb_of(ctx: &HelperCtx<'_>, data: u64) -> Result<SkbCtx, HelperError> {
    ctx.vm
        .skb
        .filter(|s| s.ctx_addr() == data)
        .ok_or_else(|| HelperError::Invalid(format!("{data:#x} is not the TC context")))
}

fn xdp_of(ctx: &HelperCtx<'_>, data: u64) -> Result<XdpCtx, HelperError> {
    ctx.vm
        .xdp
        .filter(|x| x.ctx_addr() == data)
        .ok_or_else(|| HelperError::Invalid(format!("{data:#x} is not the XDP context")))
}

/// Where byte `off` of the dynptr's view lives, and how many bytes from there are directly
/// addressable (linear).
fn locate(ctx: &HelperCtx<'_>, d: &Dynptr, off: u32) -> Result<(u64, u64), HelperError> {
    let o = u64::from(d.offset) + u64::from(off);
    Ok(match d.kind {
        DynptrType::Local | DynptrType::Ringbuf => (d.data.wrapping_add(o), u64::MAX),
        DynptrType::Skb => {
            let s = skb_of(ctx, d.data)?;
            let at = s.data as u64 + o;
            (Memory::addr(s.packet, at), (s.data_end as u64).saturating_sub(at))
        }
        DynptrType::SkbMeta => {
            let s = skb_of(ctx, d.data)?;
            (Memory::addr(s.packet, (s.data - s.meta_len) as u64 + o), u64::MAX)
        }
        DynptrType::Xdp => {
            let x = xdp_of(ctx, d.data)?;
            let data = x.data(&ctx.vm.memory)?;
            (data.wrapping_add(o), u64::MAX)
        }
        DynptrType::Invalid => return Err(HelperError::Invalid("NULL dynptr has no data".into())),
    })
}

/// `bpf_dynptr_from_mem(data, size, flags, ptr)`.
pub fn from_mem(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (data, size, flags, ptr) = (a[0], a[1] as u32, a[2], a[3]);
    let r = if flags != 0 {
        Err(-EINVAL)
    } else if size > DYNPTR_MAX_SIZE {
        Err(-E2BIG)
    } else {
        Ok(Dynptr::new(data, DynptrType::Local, size))
    };
    init(ctx, ptr, r)
}

/// Stores the constructed dynptr (or NULL on error) and returns 0 or the error.
pub(crate) fn init(ctx: &mut HelperCtx<'_>, ptr: u64, r: Result<Dynptr, i64>) -> Result<u64, HelperError> {
    let (d, code) = match r {
        Ok(d) => (d, 0),
        Err(e) => (Dynptr::NULL, e),
    };
    store(&mut ctx.vm.memory, ptr, &d)?;
    Ok(ret(code))
}

/// `bpf_dynptr_read(dst, len, src, offset, flags)`.
pub fn read(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (dst, len, offset, flags) = (a[0], a[1] as u32, a[3] as u32, a[4]);
    let d = load(&ctx.vm.memory, a[2])?;
    if d.data == 0 || flags != 0 {
        return Ok(ret(-EINVAL));
    }
    if let Err(e) = d.check(offset, len) {
        return Ok(ret(e));
    }
    let (src, _) = locate(ctx, &d, offset)?;
    let bytes = ctx.vm.memory.read_bytes(src, len)?.to_vec();
    ctx.vm.memory.write_bytes(dst, &bytes)?;
    Ok(0)
}

/// `bpf_dynptr_write(dst, offset, src, len, flags)`.
pub fn write(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (offset, src, len, flags) = (a[1] as u32, a[2], a[3] as u32, a[4]);
    let d = load(&ctx.vm.memory, a[0])?;
    if d.data == 0 || d.rdonly {
        return Ok(ret(-EINVAL));
    }
    if let Err(e) = d.check(offset, len) {
        return Ok(ret(e));
    }
    let bad_flags = match d.kind {
        DynptrType::Skb => flags & !SKB_STORE_FLAGS != 0,
        _ => flags != 0,
    };
    if bad_flags {
        return Ok(ret(-EINVAL));
    }
    let bytes = ctx.vm.memory.read_bytes(src, len)?.to_vec();
    let (to, _) = locate(ctx, &d, offset)?;
    ctx.vm.memory.write_bytes(to, &bytes)?;
    Ok(0)
}

/// `bpf_dynptr_data(ptr, offset, len)`: a pointer for LOCAL and RINGBUF dynptrs, NULL otherwise
/// (and for read-only or out-of-range requests).
pub fn data(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    let (offset, len) = (a[1] as u32, a[2] as u32);
    if d.data == 0 || d.check(offset, len).is_err() || d.rdonly {
        return Ok(0);
    }
    Ok(match d.kind {
        DynptrType::Local | DynptrType::Ringbuf => locate(ctx, &d, offset)?.0,
        _ => 0,
    })
}

/// `bpf_dynptr_from_skb(skb, flags, ptr)`: size `skb->len`.
pub fn from_skb(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let s = skb_of(ctx, a[0])?;
    let r = if a[1] != 0 {
        Err(-EINVAL)
    } else {
        Ok(Dynptr::new(a[0], DynptrType::Skb, s.len(&ctx.vm.memory)?.min(DYNPTR_MAX_SIZE)))
    };
    init(ctx, a[2], r)
}

/// `bpf_dynptr_from_skb_meta(skb, flags, ptr)`: size `skb_metadata_len`, read-only when the
/// skb is cloned (6.18).
pub fn from_skb_meta(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let s = skb_of(ctx, a[0])?;
    let r = if a[1] != 0 {
        Err(-EINVAL)
    } else {
        let mut d = Dynptr::new(a[0], DynptrType::SkbMeta, s.meta_len as u32);
        d.rdonly = s.cloned;
        Ok(d)
    };
    init(ctx, a[2], r)
}

/// `bpf_dynptr_from_xdp(xdp, flags, ptr)`: size `data_end - data` (no fragments modelled).
pub fn from_xdp(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    let r = if a[1] != 0 {
        Err(-EINVAL)
    } else {
        let m = &ctx.vm.memory;
        let len = x.data_end(m)?.wrapping_sub(x.data(m)?) as u32;
        Ok(Dynptr::new(a[0], DynptrType::Xdp, len))
    };
    init(ctx, a[2], r)
}

/// `bpf_dynptr_slice(p, offset, buffer, len)`.
pub fn slice(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    slice_of(ctx, &d, a[1] as u32, a[2], a[3] as u32)
}

/// `bpf_dynptr_slice_rdwr(p, offset, buffer, len)`: NULL for read-only dynptrs.
pub fn slice_rdwr(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    if d.rdonly {
        return Ok(0);
    }
    slice_of(ctx, &d, a[1] as u32, a[2], a[3] as u32)
}

fn slice_of(
    ctx: &mut HelperCtx<'_>,
    d: &Dynptr,
    offset: u32,
    buffer: u64,
    len: u32,
) -> Result<u64, HelperError> {
    if d.data == 0 || d.check(offset, len).is_err() {
        return Ok(0);
    }
    let (at, linear) = locate(ctx, d, offset)?;
    if linear >= u64::from(len) {
        return Ok(at);
    }
    // Paged skb data: skb_header_pointer copies into the buffer; without one, NULL.
    if buffer == 0 {
        return Ok(0);
    }
    let bytes = ctx.vm.memory.read_bytes(at, len)?.to_vec();
    ctx.vm.memory.write_bytes(buffer, &bytes)?;
    Ok(buffer)
}

/// `bpf_dynptr_size(p)`: -EINVAL for NULL.
pub fn size(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    Ok(if d.data == 0 { ret(-EINVAL) } else { u64::from(d.size) })
}

/// `bpf_dynptr_is_null(p)`.
pub fn is_null(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(u64::from(load(&ctx.vm.memory, a[0])?.data == 0))
}

/// `bpf_dynptr_is_rdonly(p)`: false for NULL.
pub fn is_rdonly(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    Ok(u64::from(d.data != 0 && d.rdonly))
}

/// `bpf_dynptr_adjust(p, start, end)`: -EINVAL for NULL or `start > end`, -ERANGE past the size.
pub fn adjust(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let mut d = load(&ctx.vm.memory, a[0])?;
    let (start, end) = (a[1] as u32, a[2] as u32);
    if d.data == 0 || start > end {
        return Ok(ret(-EINVAL));
    }
    if end > d.size {
        return Ok(ret(-ERANGE));
    }
    d.offset = d.offset.wrapping_add(start);
    d.size = end - start;
    store(&mut ctx.vm.memory, a[0], &d)?;
    Ok(0)
}

/// `bpf_dynptr_clone(p, clone)`: NULL clone and -EINVAL for a NULL source.
pub fn clone(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = load(&ctx.vm.memory, a[0])?;
    let r = if d.data == 0 { Err(-EINVAL) } else { Ok(d) };
    init(ctx, a[1], r)
}

/// Registers the dynptr helpers and kfuncs.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_DYNPTR_FROM_MEM, Rc::new(from_mem));
    h.register(BPF_FUNC_DYNPTR_READ, Rc::new(read));
    h.register(BPF_FUNC_DYNPTR_WRITE, Rc::new(write));
    h.register(BPF_FUNC_DYNPTR_DATA, Rc::new(data));
    h.register_kfunc("bpf_dynptr_from_skb", Rc::new(from_skb));
    h.register_kfunc("bpf_dynptr_from_skb_meta", Rc::new(from_skb_meta));
    h.register_kfunc("bpf_dynptr_from_xdp", Rc::new(from_xdp));
    h.register_kfunc("bpf_dynptr_slice", Rc::new(slice));
    h.register_kfunc("bpf_dynptr_slice_rdwr", Rc::new(slice_rdwr));
    h.register_kfunc("bpf_dynptr_size", Rc::new(size));
    h.register_kfunc("bpf_dynptr_is_null", Rc::new(is_null));
    h.register_kfunc("bpf_dynptr_is_rdonly", Rc::new(is_rdonly));
    h.register_kfunc("bpf_dynptr_adjust", Rc::new(adjust));
    h.register_kfunc("bpf_dynptr_clone", Rc::new(clone));
}

#[cfg(test)]
#[path = "dynptr_tests.rs"]
mod tests;
