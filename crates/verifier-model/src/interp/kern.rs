//! Helpers and kfuncs about kernel objects: `bpf_cast_to_kern_ctx`, `bpf_rdonly_cast`,
//! `bpf_get_current_task` (35, returns [`super::Helpers::current_task`]),
//! `bpf_probe_read_kernel` (113) and the open-coded number iterator
//! `bpf_iter_num_new/next/destroy`.
//!
//! `bpf_cast_to_kern_ctx`: for XDP the `xdp_buff` is the context region itself, so the kfunc
//! returns its argument (as the kernel's fixup `r0 = r1` does). For TC it returns a
//! `struct sk_buff` region laid out by [`super::Vm::layouts`], filled at each call from
//! the `__sk_buff` as it is then (a snapshot: `len`, `data_len`, `mark`, `queue_mapping`,
//! `hash`, `vlan_proto`, `vlan_tci`, `head`, `data`, `mac_header`, `tail`; `end` and the
//! shared info are not modelled for TC). `bpf_rdonly_cast(obj, btf_id)` returns `obj`.

use std::rc::Rc;

use super::helpers::{HelperCtx, HelperError, Helpers};
use super::BPF_MAX_LOOPS;

/// `BPF_FUNC_get_current_task`.
pub const BPF_FUNC_GET_CURRENT_TASK: i32 = 35;
/// `BPF_FUNC_probe_read_kernel`.
pub const BPF_FUNC_PROBE_READ_KERNEL: i32 = 113;

const E2BIG: i64 = 7;
const EFAULT: i64 = 14;
const EINVAL: i64 = 22;

/// `bpf_probe_read_kernel(dst, size, unsafe_ptr)`: -EFAULT and a zeroed `dst` on a fault.
pub fn probe_read_kernel(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (dst, size, src) = (a[0], a[1] as u32, a[2]);
    match ctx.vm.memory.read_bytes(src, size).map(<[u8]>::to_vec) {
        Ok(bytes) => {
            ctx.vm.memory.write_bytes(dst, &bytes)?;
            Ok(0)
        }
        Err(_) => {
            ctx.vm.memory.write_bytes(dst, &vec![0; size as usize])?;
            Ok((-EFAULT) as u64)
        }
    }
}

/// `bpf_cast_to_kern_ctx(ctx)`.
pub fn cast_to_kern_ctx(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if ctx.vm.xdp.as_ref().is_some_and(|x| x.ctx_addr() == a[0]) {
        return Ok(a[0]);
    }
    let Some(s) = ctx.vm.skb.filter(|s| s.ctx_addr() == a[0]) else {
        return Err(HelperError::Invalid(format!("{:#x} is not a program context", a[0])));
    };
    // The TC context is backed by a real sk_buff (see `skb`): the kernel object itself.
    Ok(s.skb_addr())
}

/// `bpf_iter_num_new(it, start, end)`: -EINVAL when `start > end`, -E2BIG past
/// `BPF_MAX_LOOPS` elements; the iterator's 8 bytes are `{int cur; int end;}`.
pub fn iter_num_new(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (it, start, end) = (a[0], a[1] as i32, a[2] as i32);
    let (cur, stop, r) = if start > end {
        (0, 0, -EINVAL)
    } else if i64::from(end) - i64::from(start) > BPF_MAX_LOOPS as i64 {
        (0, 0, -E2BIG)
    } else {
        (start.wrapping_sub(1), end, 0)
    };
    set_iter(ctx, it, cur, stop)?;
    Ok(r as u64)
}

fn set_iter(ctx: &mut HelperCtx<'_>, it: u64, cur: i32, end: i32) -> Result<(), HelperError> {
    ctx.vm.memory.store(it, 4, u64::from(cur as u32))?;
    ctx.vm.memory.store(it + 4, 4, u64::from(end as u32))?;
    Ok(())
}

/// `bpf_iter_num_next(it)`: a pointer to the current number, or NULL when done.
pub fn iter_num_next(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let it = a[0];
    let cur = ctx.vm.memory.load(it, 4)? as u32 as i32;
    let end = ctx.vm.memory.load(it + 4, 4)? as u32 as i32;
    if i64::from(cur.wrapping_add(1)) >= i64::from(end) {
        set_iter(ctx, it, 0, 0)?;
        return Ok(0);
    }
    set_iter(ctx, it, cur + 1, end)?;
    Ok(it)
}

/// Registers these helpers and kfuncs; `bpf_get_current_task` reads `task`.
pub fn register(h: &mut Helpers) {
    let task = h.current_task.clone();
    h.register(BPF_FUNC_GET_CURRENT_TASK, Rc::new(move |_, _| Ok(task.get())));
    h.register(BPF_FUNC_PROBE_READ_KERNEL, Rc::new(probe_read_kernel));
    h.register_kfunc("bpf_cast_to_kern_ctx", Rc::new(cast_to_kern_ctx));
    h.register_kfunc("bpf_rdonly_cast", Rc::new(|_: &mut HelperCtx<'_>, a: [u64; 5]| Ok(a[0])));
    h.register_kfunc("bpf_iter_num_new", Rc::new(iter_num_new));
    h.register_kfunc("bpf_iter_num_next", Rc::new(iter_num_next));
    h.register_kfunc(
        "bpf_iter_num_destroy",
        Rc::new(|c: &mut HelperCtx<'_>, a: [u64; 5]| set_iter(c, a[0], 0, 0).map(|()| 0)),
    );
}
