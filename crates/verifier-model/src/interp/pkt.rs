//! Packet helpers: `bpf_skb_load_bytes` (26), `bpf_xdp_load_bytes` (189),
//! `bpf_skb_vlan_push` (18) and `bpf_get_hash_recalc` (34), with `net/core/filter.c`'s bounds
//! and return codes.
//!
//! `bpf_skb_vlan_push` models the hardware-accelerated tag as the kernel keeps it: the new tag
//! goes into `skb->vlan_proto` (network order) / `vlan_tci` (so `__sk_buff.vlan_present`
//! reads 1); a tag already there is first written into the packet after the MAC addresses
//! (`__vlan_insert_tag`), which grows the packet by 4 bytes.

use std::rc::Rc;

use super::helpers::{HelperCtx, HelperError, Helpers};
use super::memory::Memory;
use super::skb::SkbCtx;

/// `BPF_FUNC_skb_vlan_push`.
pub const BPF_FUNC_SKB_VLAN_PUSH: i32 = 18;
/// `BPF_FUNC_get_hash_recalc`.
pub const BPF_FUNC_GET_HASH_RECALC: i32 = 34;
/// `BPF_FUNC_skb_load_bytes`.
pub const BPF_FUNC_SKB_LOAD_BYTES: i32 = 26;
/// `BPF_FUNC_xdp_load_bytes`.
pub const BPF_FUNC_XDP_LOAD_BYTES: i32 = 189;

const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
/// `htons(ETH_P_8021Q)` and `htons(ETH_P_8021AD)` as a little-endian register holds them.
const BE_8021Q: u16 = 0x0081;
const BE_8021AD: u16 = 0xa888;
/// `__sk_buff.protocol`.
const PROTOCOL: usize = 16;
/// `__sk_buff` offsets of the VLAN fields.
const VLAN_PRESENT: usize = 20;
const VLAN_TCI: usize = 24;
const VLAN_PROTO: usize = 28;

fn skb_of(ctx: &HelperCtx<'_>, r1: u64) -> Result<SkbCtx, HelperError> {
    ctx.vm
        .skb
        .filter(|s| s.ctx_addr() == r1)
        .ok_or_else(|| HelperError::Invalid(format!("{r1:#x} is not the TC context")))
}

/// `bpf_skb_load_bytes(skb, offset, to, len)`: linear and paged bytes; -EFAULT with `to`
/// zeroed when out of range.
pub fn skb_load_bytes(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let s = skb_of(ctx, a[0])?;
    let (off, to, len) = (a[1] as u32, a[2], a[3] as u32);
    let pkt_len = (s.end - s.data) as u64;
    if off > i32::MAX as u32 || u64::from(off) + u64::from(len) > pkt_len {
        ctx.vm.memory.write_bytes(to, &vec![0; len as usize])?;
        return Ok((-EFAULT) as u64);
    }
    let src = Memory::addr(s.packet, s.data as u64 + u64::from(off));
    let bytes = ctx.vm.memory.read_bytes(src, len)?.to_vec();
    ctx.vm.memory.write_bytes(to, &bytes)?;
    Ok(0)
}

/// `bpf_xdp_load_bytes(xdp, offset, buf, len)`: -EFAULT past 0xffff, -EINVAL past the frame.
pub fn xdp_load_bytes(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = ctx
        .vm
        .xdp
        .filter(|x| x.ctx_addr() == a[0])
        .ok_or_else(|| HelperError::Invalid(format!("{:#x} is not the XDP context", a[0])))?;
    let (off, buf, len) = (a[1] as u32, a[2], a[3] as u32);
    if off > 0xffff || len > 0xffff {
        return Ok((-EFAULT) as u64);
    }
    let (data, end) = (x.data(&ctx.vm.memory)?, x.data_end(&ctx.vm.memory)?);
    if u64::from(off) + u64::from(len) > end.wrapping_sub(data) {
        return Ok((-EINVAL) as u64);
    }
    let bytes = ctx.vm.memory.read_bytes(data + u64::from(off), len)?.to_vec();
    ctx.vm.memory.write_bytes(buf, &bytes)?;
    Ok(0)
}

/// `bpf_skb_vlan_push(skb, vlan_proto, vlan_tci)`: a protocol other than 802.1Q / 802.1ad is
/// taken as 802.1Q, as the kernel does.
pub fn skb_vlan_push(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let mut s = skb_of(ctx, a[0])?;
    let mut proto = a[1] as u16;
    if proto != BE_8021Q && proto != BE_8021AD {
        proto = BE_8021Q;
    }
    let tci = a[2] as u16;
    let mem = &mut ctx.vm.memory;
    if s.get(mem, VLAN_PRESENT)? != 0 {
        let (old_proto, old_tci) = (s.get(mem, VLAN_PROTO)? as u16, s.get(mem, VLAN_TCI)? as u16);
        if s.data_end - s.data < 12 {
            return Ok((-EINVAL) as u64);
        }
        let mut tag = old_proto.to_le_bytes().to_vec();
        tag.extend_from_slice(&old_tci.to_be_bytes());
        s.insert(mem, s.data + 12, &tag)?;
        // skb->protocol = skb->vlan_proto: the packet now starts with that tag.
        s.set(mem, PROTOCOL, u64::from(old_proto))?;
        ctx.vm.skb = Some(s);
        ctx.vm.packet = Some((s.packet, s.data, s.data_end));
    }
    // The hardware-accelerated tag: vlan_present follows from vlan_all != 0.
    let mem = &mut ctx.vm.memory;
    s.set(mem, VLAN_PROTO, u64::from(proto))?;
    s.set(mem, VLAN_TCI, u64::from(tci))?;
    Ok(0)
}

/// `bpf_get_hash_recalc(skb)`: `skb_get_hash`. A hash the skb already has (`l4_hash` or
/// `sw_hash` set) is returned as is; otherwise the flow dissector's hash (the context's
/// [`SkbCtx::flow_hash`]) is stored with `sw_hash` set, and `l4_hash` when the flow had ports.
pub fn get_hash_recalc(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let s = skb_of(ctx, a[0])?;
    let l = s.layout;
    let at = |off: u32| Memory::addr(s.skb, u64::from(off));
    let mem = &mut ctx.vm.memory;
    let flags = mem.load(at(l.hash_flags_byte), 1)?;
    const L4_HASH: u64 = 1 << 1;
    const SW_HASH: u64 = 1 << 2;
    if flags & (L4_HASH | SW_HASH) == 0 {
        let (hash, l4) = s.flow_hash;
        mem.store(at(l.hash), 4, u64::from(hash))?;
        let set = SW_HASH | if l4 { L4_HASH } else { 0 };
        mem.store(at(l.hash_flags_byte), 1, flags | set)?;
    }
    Ok(mem.load(at(l.hash), 4)?)
}

/// Registers the packet helpers.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_SKB_LOAD_BYTES, Rc::new(skb_load_bytes));
    h.register(BPF_FUNC_XDP_LOAD_BYTES, Rc::new(xdp_load_bytes));
    h.register(BPF_FUNC_SKB_VLAN_PUSH, Rc::new(skb_vlan_push));
    h.register(BPF_FUNC_GET_HASH_RECALC, Rc::new(get_hash_recalc));
}
