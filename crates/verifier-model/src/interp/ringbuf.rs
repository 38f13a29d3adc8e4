//! Ring buffer maps ([`super::MapKind::Ringbuf`]) and their helpers: `bpf_ringbuf_output`
//! (130), `_reserve` (131), `_submit` (132), `_discard` (133) and the dynptr forms
//! `_reserve_dynptr` (198), `_submit_dynptr` (199), `_discard_dynptr` (200).
//!
//! Nobody consumes the ring here, so space is only ever taken: each record costs its length
//! plus the kernel's 8-byte header, rounded up to 8, and a reservation that does not fit fails
//! as in the kernel (NULL, -EAGAIN from output). Records keep their reservation order, which is
//! the order a consumer would see them; [`Ring::records`] lists the submitted ones.

use std::rc::Rc;

use super::dynptr::{self, Dynptr, DynptrType, DYNPTR_MAX_SIZE, E2BIG, EINVAL};
use super::helpers::{HelperCtx, HelperError, Helpers};
use super::memory::{MemError, Memory, RegionId, RegionKind};

/// `BPF_FUNC_ringbuf_output`.
pub const BPF_FUNC_RINGBUF_OUTPUT: i32 = 130;
/// `BPF_FUNC_ringbuf_reserve`.
pub const BPF_FUNC_RINGBUF_RESERVE: i32 = 131;
/// `BPF_FUNC_ringbuf_submit`.
pub const BPF_FUNC_RINGBUF_SUBMIT: i32 = 132;
/// `BPF_FUNC_ringbuf_discard`.
pub const BPF_FUNC_RINGBUF_DISCARD: i32 = 133;
/// `BPF_FUNC_ringbuf_reserve_dynptr`.
pub const BPF_FUNC_RINGBUF_RESERVE_DYNPTR: i32 = 198;
/// `BPF_FUNC_ringbuf_submit_dynptr`.
pub const BPF_FUNC_RINGBUF_SUBMIT_DYNPTR: i32 = 199;
/// `BPF_FUNC_ringbuf_discard_dynptr`.
pub const BPF_FUNC_RINGBUF_DISCARD_DYNPTR: i32 = 200;

const EAGAIN: i64 = 11;
/// `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP`.
const RB_WAKEUP_FLAGS: u64 = 1 | 2;
/// `BPF_RINGBUF_HDR_SZ`.
const HDR: u64 = 8;

/// Where a record stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecordState {
    /// Reserved, neither submitted nor discarded yet.
    Reserved,
    /// Submitted: a consumer would read it.
    Submitted,
    /// Discarded: a consumer skips it.
    Discarded,
}

/// One record: its bytes live in a region so the program can fill them through the pointer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Record {
    /// The sample's region.
    pub region: RegionId,
    /// Its state.
    pub state: RecordState,
}

/// A ring buffer's contents.
#[derive(Clone, Debug)]
pub struct Ring {
    size: u64,
    used: u64,
    records: Vec<Record>,
}

impl Ring {
    /// An empty ring of `size` data bytes.
    pub fn new(size: u32) -> Ring {
        Ring { size: u64::from(size), used: 0, records: Vec::new() }
    }

    /// All records in reservation order.
    pub fn all(&self) -> &[Record] {
        &self.records
    }

    /// The bytes of the submitted records, in the order a consumer reads them.
    pub fn records(&self, memory: &Memory) -> Result<Vec<Vec<u8>>, MemError> {
        self.records
            .iter()
            .filter(|r| r.state == RecordState::Submitted)
            .map(|r| {
                let len = memory.region(r.region).map_or(0, |g| g.bytes.len());
                memory.read_bytes(Memory::addr(r.region, 0), len as u32).map(<[u8]>::to_vec)
            })
            .collect()
    }

    fn reserve(&mut self, memory: &mut Memory, len: u32) -> Option<u64> {
        let cost = (u64::from(len) + HDR).div_ceil(8) * 8;
        if self.used + cost > self.size {
            return None;
        }
        self.used += cost;
        let region = memory.map(RegionKind::Plain, vec![0; len as usize], true);
        self.records.push(Record { region, state: RecordState::Reserved });
        Some(Memory::addr(region, 0))
    }
}

/// Submits or discards the reserved sample at `sample`.
fn commit(ctx: &mut HelperCtx<'_>, sample: u64, state: RecordState) -> Result<(), HelperError> {
    let (id, off) = ctx.vm.memory.resolve(sample, 1)?;
    let rec = ctx
        .vm
        .maps
        .rings_mut()
        .find_map(|r| r.records.iter_mut().find(|rec| rec.region == id && rec.state == RecordState::Reserved))
        .filter(|_| off == 0)
        .ok_or_else(|| HelperError::Invalid(format!("{sample:#x} is not a reserved ring buffer sample")))?;
    rec.state = state;
    Ok(())
}

fn ring_of<'a>(ctx: &'a mut HelperCtx<'_>, map: u64) -> Result<(&'a mut Ring, &'a mut Memory), HelperError> {
    let vm = &mut *ctx.vm;
    let ring = vm
        .maps
        .ring_mut(map)
        .ok_or_else(|| HelperError::Invalid(format!("{map:#x} is not a ring buffer")))?;
    Ok((ring, &mut vm.memory))
}

/// `bpf_ringbuf_output(map, data, size, flags)`.
pub fn output(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if a[3] & !RB_WAKEUP_FLAGS != 0 {
        return Ok((-EINVAL) as u64);
    }
    let data = ctx.vm.memory.read_bytes(a[1], a[2] as u32)?.to_vec();
    let (ring, memory) = ring_of(ctx, a[0])?;
    let Some(at) = ring.reserve(memory, data.len() as u32) else { return Ok((-EAGAIN) as u64) };
    memory.write_bytes(at, &data)?;
    ring.records.last_mut().expect("just reserved").state = RecordState::Submitted;
    Ok(0)
}

/// `bpf_ringbuf_reserve(map, size, flags)`: the sample or NULL.
pub fn reserve(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (ring, memory) = ring_of(ctx, a[0])?;
    if a[2] != 0 {
        return Ok(0);
    }
    Ok(ring.reserve(memory, a[1] as u32).unwrap_or(0))
}

/// `bpf_ringbuf_reserve_dynptr(map, size, flags, ptr)`.
pub fn reserve_dynptr(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = a[1] as u32;
    let r = if a[2] != 0 {
        Err(-EINVAL)
    } else if size > DYNPTR_MAX_SIZE {
        Err(-E2BIG)
    } else {
        let (ring, memory) = ring_of(ctx, a[0])?;
        ring.reserve(memory, size).map(|at| Dynptr::new(at, DynptrType::Ringbuf, size)).ok_or(-EINVAL)
    };
    dynptr::init(ctx, a[3], r)
}

fn commit_dynptr(ctx: &mut HelperCtx<'_>, ptr: u64, state: RecordState) -> Result<u64, HelperError> {
    let d = dynptr::load(&ctx.vm.memory, ptr)?;
    if d.data == 0 {
        return Ok(0);
    }
    commit(ctx, d.data, state)?;
    dynptr::store(&mut ctx.vm.memory, ptr, &Dynptr::NULL)?;
    Ok(0)
}

/// Registers the ring buffer helpers.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_RINGBUF_OUTPUT, Rc::new(output));
    h.register(BPF_FUNC_RINGBUF_RESERVE, Rc::new(reserve));
    h.register(
        BPF_FUNC_RINGBUF_SUBMIT,
        Rc::new(|c: &mut HelperCtx<'_>, a| commit(c, a[0], RecordState::Submitted).map(|()| 0)),
    );
    h.register(
        BPF_FUNC_RINGBUF_DISCARD,
        Rc::new(|c: &mut HelperCtx<'_>, a| commit(c, a[0], RecordState::Discarded).map(|()| 0)),
    );
    h.register(BPF_FUNC_RINGBUF_RESERVE_DYNPTR, Rc::new(reserve_dynptr));
    h.register(
        BPF_FUNC_RINGBUF_SUBMIT_DYNPTR,
        Rc::new(|c: &mut HelperCtx<'_>, a| commit_dynptr(c, a[0], RecordState::Submitted)),
    );
    h.register(
        BPF_FUNC_RINGBUF_DISCARD_DYNPTR,
        Rc::new(|c: &mut HelperCtx<'_>, a| commit_dynptr(c, a[0], RecordState::Discarded)),
    );
}
