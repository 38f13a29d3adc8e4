//! The packet-trait kfuncs of the traits RFC (kernel-notes §E) on an XDP frame: the
//! [`crate::traits`] codec applied to the headroom
//! `| xdp_frame | traits | headroom | XDP metadata | data |`.
//!
//! The trait area starts at `data_hard_start + sizeof(struct xdp_frame)` and may grow up to
//! the hard end: `data_meta` in v1, `data` in v2 (§E.1). A context has traits only when its
//! setup says which RFC version the kernel carries ([`super::XdpSetup::traits`]); otherwise,
//! as for a buff whose driver lacks metadata support, every trait kfunc returns -EOPNOTSUPP.
//! The kfuncs are not in mainline kernels, so [`super::Helpers::kernel`] does not register
//! them: [`register`] does.
//!
//! Overlap rules (§E.1), which keep traits and metadata apart:
//! - v1: the header is initialised when the context is built (`traits_init`, as the RFC's
//!   buff preparation does), and the metadata may not grow below the end of the trait area
//!   (`xdp_meta_hard_start` = trait start + `traits_size`); traits may not grow past
//!   `data_meta` (-ENOSPC).
//! - v2: traits and metadata are exclusive per packet. The first trait kfunc call clears
//!   `XDP_FLAGS_META_SUPPORTED` (`bpf_xdp_adjust_meta` then returns -ENOTSUPP, as mainline does
//!   for a buff without metadata support) and initialises the header then; the first
//!   `bpf_xdp_adjust_meta` call clears `XDP_FLAGS_TRAITS_SUPPORTED` (trait kfuncs then return
//!   -EOPNOTSUPP). "First call" means any call not refused by the other's flag, successful or
//!   not: the notes do not say whether a failing call claims the headroom.
//! - Both: once the header is initialised, `bpf_xdp_adjust_head` may not move the metadata (or,
//!   without metadata, the packet start) below the end of the trait area either. The notes only
//!   mention `adjust_meta`; without this bound a head adjustment would overwrite the traits.
//!
//! A header that cannot be placed (fewer than 16 bytes before the hard end) makes the call
//! return -ENOMEM, `traits_init`'s code. A value buffer is read or written only once the
//! codec's argument checks pass, so a bad key or size returns -EINVAL without touching it.

use std::rc::Rc;

use super::ctx::{XdpCtx, XDP_FRAME_SIZE};
use super::helpers::{HelperCtx, HelperError, Helpers};
use super::memory::Memory;
use crate::traits::{self as codec, Format, TraitError, TraitHdr};

/// `EOPNOTSUPP`: traits unsupported for this buff.
pub const EOPNOTSUPP: i64 = 95;
/// `ENOTSUPP` (the kernel-internal 524): what `bpf_xdp_adjust_meta` returns for a buff without
/// metadata support.
pub const ENOTSUPP: i64 = 524;

/// The trait state of one XDP buff.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct XdpTraits {
    /// The RFC version (v1: hard end `data_meta`, sizes 2/4/8; v2: hard end `data`, sizes
    /// 0/4/8, exclusive with metadata).
    pub format: Format,
    /// Whether the header at the trait start has been initialised.
    pub initialised: bool,
    /// v2's `XDP_FLAGS_TRAITS_SUPPORTED` (always true in v1).
    pub traits_supported: bool,
    /// v2's `XDP_FLAGS_META_SUPPORTED` (always true in v1).
    pub meta_supported: bool,
}

impl XdpTraits {
    /// A fresh buff's state: nothing initialised, both flags set.
    pub fn new(format: Format) -> XdpTraits {
        XdpTraits { format, initialised: false, traits_supported: true, meta_supported: true }
    }
}

/// The trait area's bounds now: (trait start, hard end).
pub fn area_bounds(x: &XdpCtx, t: &XdpTraits, mem: &Memory) -> Result<(u64, u64), HelperError> {
    let start = x.data_hard_start(mem)?.wrapping_add(XDP_FRAME_SIZE);
    let end = match t.format {
        Format::V1 => x.data_meta(mem)?,
        Format::V2 => x.data(mem)?,
    };
    if end < start {
        return Err(HelperError::Invalid(format!(
            "trait hard end {end:#x} is below the trait start {start:#x}"
        )));
    }
    Ok((start, end))
}

fn read_area(mem: &Memory, (start, end): (u64, u64)) -> Result<Vec<u8>, HelperError> {
    let len = u32::try_from(end - start).map_err(|_| HelperError::Invalid("trait area over 4 GiB".into()))?;
    Ok(mem.read_bytes(start, len)?.to_vec())
}

fn corrupt(e: TraitError) -> HelperError {
    HelperError::Invalid(format!("trait area: {e}"))
}

/// The lowest address `data_meta` may take (the end of the trait area once its header is
/// initialised, else the end of the `xdp_frame` area): the bound of `bpf_xdp_adjust_meta` and
/// `bpf_xdp_adjust_head`.
pub fn meta_floor(x: &XdpCtx, mem: &Memory) -> Result<u64, HelperError> {
    let frame_end = x.data_hard_start(mem)?.wrapping_add(XDP_FRAME_SIZE);
    match x.traits {
        Some(t) if t.initialised => {
            let bounds = area_bounds(x, &t, mem)?;
            let used = codec::size(&read_area(mem, bounds)?, t.format).map_err(corrupt)?;
            Ok(frame_end + used as u64)
        }
        _ => Ok(frame_end),
    }
}

/// Initialises the header of a freshly built v1 context (v2 waits for the first trait call).
/// A header that does not fit is left for the first call to report (-ENOMEM).
pub(crate) fn setup(mem: &mut Memory, x: &mut XdpCtx) {
    let Some(t) = x.traits.filter(|t| t.format == Format::V1) else { return };
    let Ok((start, end)) = area_bounds(x, &t, mem) else { return };
    if end - start >= TraitHdr::SIZE as u64 && mem.write_bytes(start, &[0; TraitHdr::SIZE]).is_ok() {
        x.traits = Some(XdpTraits { initialised: true, ..t });
    }
}

/// `bpf_xdp_adjust_meta`'s v2 gate: `Some(-ENOTSUPP)` when traits took the headroom, else
/// claims it for metadata (clears `XDP_FLAGS_TRAITS_SUPPORTED`) and returns `None`.
pub(crate) fn claim_for_meta(x: &mut XdpCtx) -> Option<i64> {
    let t = x.traits.as_mut().filter(|t| t.format == Format::V2)?;
    if !t.meta_supported {
        return Some(-ENOTSUPP);
    }
    t.traits_supported = false;
    None
}

/// What a trait call finds: the trait state and the area's bounds, or the errno it returns at
/// once.
type Entry = Result<(XdpTraits, (u64, u64)), i64>;

/// The context behind R1, its trait state after the call's v2 claim and header
/// initialisation, and the area's bounds; `Err(errno)` for a call that returns without
/// touching the area.
fn enter(ctx: &mut HelperCtx<'_>, r1: u64) -> Result<Entry, HelperError> {
    let mut x = ctx
        .vm
        .xdp
        .filter(|x| x.ctx_addr() == r1)
        .ok_or_else(|| HelperError::Invalid(format!("{r1:#x} is not the XDP context")))?;
    let Some(mut t) = x.traits else { return Ok(Err(-EOPNOTSUPP)) };
    if !t.traits_supported {
        return Ok(Err(-EOPNOTSUPP));
    }
    if t.format == Format::V2 {
        t.meta_supported = false;
    }
    let mem = &mut ctx.vm.memory;
    let bounds = area_bounds(&x, &t, mem)?;
    let mut r = Ok((t, bounds));
    if !t.initialised {
        let room = bounds.1 - bounds.0;
        if room < TraitHdr::SIZE as u64 {
            r = Err(TraitError::NoHeaderRoom { room: room as usize }.errno());
        } else {
            mem.write_bytes(bounds.0, &[0; TraitHdr::SIZE])?;
            t.initialised = true;
            r = Ok((t, bounds));
        }
    }
    x.traits = Some(t);
    ctx.vm.xdp = Some(x);
    Ok(r)
}

fn ret<T>(r: Result<T, TraitError>, ok: impl FnOnce(T) -> i64) -> Result<u64, HelperError> {
    match r {
        Ok(v) => Ok(ok(v) as u64),
        Err(e @ TraitError::Corrupt { .. }) => Err(corrupt(e)),
        Err(e) => Ok(e.errno() as u64),
    }
}

/// `int bpf_xdp_trait_set(xdp, u64 key, const void *val, u64 val__sz, u64 flags)`.
pub fn trait_set(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (t, bounds) = match enter(ctx, a[0])? {
        Ok(v) => v,
        Err(errno) => return Ok(errno as u64),
    };
    if let Err(e) = codec::check_set(t.format, a[1], a[3]) {
        return ret(Err::<(), _>(e), |()| 0);
    }
    let mem = &mut ctx.vm.memory;
    // A 0-byte value (a v2 flag) may come with a NULL pointer: nothing is read.
    let val = if a[3] == 0 { Vec::new() } else { mem.read_bytes(a[2], a[3] as u32)?.to_vec() };
    let mut area = read_area(mem, bounds)?;
    let r = codec::set(&mut area, t.format, a[1], &val, a[4]);
    if r.is_ok() {
        mem.write_bytes(bounds.0, &area)?;
    }
    ret(r, |()| 0)
}

/// `int bpf_xdp_trait_get(xdp, u64 key, void *val, u64 val__sz)`: the value's size.
pub fn trait_get(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (t, bounds) = match enter(ctx, a[0])? {
        Ok(v) => v,
        Err(errno) => return Ok(errno as u64),
    };
    let mem = &mut ctx.vm.memory;
    let area = read_area(mem, bounds)?;
    // The largest value is 8 bytes: a bigger buffer gets the same answer (and the error
    // for a smaller one carries its real size).
    let mut out = [0u8; 8];
    let buf = a[3].min(out.len() as u64) as usize;
    let r = codec::get(&area, t.format, a[1], &mut out[..buf]);
    if let Ok(n @ 1..) = r {
        mem.write_bytes(a[2], &out[..n])?;
    }
    ret(r, |n| n as i64)
}

/// `int bpf_xdp_trait_del(xdp, u64 key)`.
pub fn trait_del(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (t, bounds) = match enter(ctx, a[0])? {
        Ok(v) => v,
        Err(errno) => return Ok(errno as u64),
    };
    let mem = &mut ctx.vm.memory;
    let mut area = read_area(mem, bounds)?;
    let r = codec::del(&mut area, t.format, a[1]);
    if r.is_ok() {
        mem.write_bytes(bounds.0, &area)?;
    }
    ret(r, |()| 0)
}

/// v2's `int bpf_xdp_trait_is_set(xdp, u64 key)`: 1 when set, 0 when not, -EINVAL for a key
/// above 63. Calling it on a v1 context is a fault (the v1 kernel has no such kfunc).
pub fn trait_is_set(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let format = ctx.vm.xdp.and_then(|x| x.traits).map(|t| t.format);
    if format == Some(Format::V1) {
        return Err(HelperError::Invalid(
            "bpf_xdp_trait_is_set is a v2 kfunc; this kernel carries v1".into(),
        ));
    }
    let (_, bounds) = match enter(ctx, a[0])? {
        Ok(v) => v,
        Err(errno) => return Ok(errno as u64),
    };
    let area = read_area(&ctx.vm.memory, bounds)?;
    ret(codec::is_set(&area, a[1]), i64::from)
}

/// Registers `bpf_xdp_trait_set`, `_get`, `_del` and `_is_set`.
pub fn register(h: &mut Helpers) {
    h.register_kfunc("bpf_xdp_trait_set", Rc::new(trait_set));
    h.register_kfunc("bpf_xdp_trait_get", Rc::new(trait_get));
    h.register_kfunc("bpf_xdp_trait_del", Rc::new(trait_del));
    h.register_kfunc("bpf_xdp_trait_is_set", Rc::new(trait_is_set));
}

#[cfg(test)]
#[path = "traits_tests.rs"]
mod tests;
