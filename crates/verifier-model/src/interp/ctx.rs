//! Program contexts. XDP: the program sees `struct xdp_md` (data 0, data_end 4, data_meta 8,
//! ingress_ifindex 12, rx_queue_index 16, egress_ifindex 20, all u32), but R1 really points at the
//! kernel's `struct xdp_buff`, the first member of the driver's wrapper (`veth_xdp_buff` by
//! default, or the ice / mlx4 / bnxt one: [`super::drivers`]), and the verifier rewrites each
//! u32 field load into a 64-bit load from the buff. [`XdpCtx`] models that: a 4-byte load below
//! offset 24 through the context pointer is an `xdp_md` access and is translated; every other
//! access reads the underlying wrapper bytes, as the kernel's own rewritten (unrolled) code
//! does. Also `bpf_xdp_adjust_head` / `bpf_xdp_adjust_meta` with the kernel's bounds (and, for
//! a context with packet traits, the RFC's: [`super::traits`]).

use std::rc::Rc;

use super::drivers::{self, DriverKind, FramePlace, XdpDriver};
use super::helpers::{HelperCtx, HelperError, Helpers};
use super::layouts::Layouts;
use super::memory::{Layout, LayoutError, MemError, Memory, RegionId, RegionKind};
use super::traits::{self, XdpTraits};
use crate::traits::Format;

/// `BPF_FUNC_xdp_adjust_head`.
pub const BPF_FUNC_XDP_ADJUST_HEAD: i32 = 44;
/// `BPF_FUNC_xdp_adjust_meta`.
pub const BPF_FUNC_XDP_ADJUST_META: i32 = 54;
/// `XDP_PACKET_HEADROOM`.
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `sizeof(struct xdp_frame)` (kept at the start of the headroom).
pub const XDP_FRAME_SIZE: u64 = 40;
const ETH_HLEN: u64 = 14;
const EINVAL: i64 = 22;
const EACCES: i64 = 13;

/// `struct veth_xdp_buff` on 6.18 x86_64 (kernel-notes §B.3): the `xdp_buff` (fields
/// `xdp.data`, ...) then `skb`.
pub fn veth_xdp_buff_layout() -> Layout {
    super::layouts::veth_xdp_buff()
}

/// What the caller gives to build an XDP context.
#[derive(Clone, Debug)]
pub struct XdpSetup {
    /// Packet bytes (from `data` to `data_end`).
    pub packet: Vec<u8>,
    /// Bytes before `data` (including the `xdp_frame` area); the kernel gives 256.
    pub headroom: usize,
    /// Bytes after `data_end` in the frame.
    pub tailroom: usize,
    /// `xdp_md.ingress_ifindex` (`rxq->dev->ifindex`).
    pub ingress_ifindex: u32,
    /// `xdp_md.rx_queue_index` (`rxq->queue_index`).
    pub rx_queue_index: u32,
    /// `xdp_md.egress_ifindex` (0 unless the program runs on a devmap).
    pub egress_ifindex: u32,
    /// Largest metadata `bpf_xdp_adjust_meta` accepts: 32 in older kernels, 255 in recent ones.
    pub max_meta_len: u64,
    /// The driver and the frame's hardware facts (default: veth, `xdp_frame` path).
    pub driver: XdpDriver,
    /// The struct layouts the context is built from.
    pub layouts: Rc<Layouts>,
    /// The packet-traits RFC version the kernel carries (kernel-notes §E), `None` for a
    /// mainline kernel: see [`super::traits`].
    pub traits: Option<Format>,
}

impl XdpSetup {
    /// Defaults: 256 bytes of headroom, 0 tailroom, ifindex 1, queue 0, metadata up to 255.
    pub fn new(packet: Vec<u8>) -> Self {
        XdpSetup {
            packet,
            headroom: XDP_PACKET_HEADROOM,
            tailroom: 0,
            ingress_ifindex: 1,
            rx_queue_index: 0,
            egress_ifindex: 0,
            max_meta_len: 255,
            driver: XdpDriver::default(),
            layouts: Rc::new(Layouts::v6_18()),
            traits: None,
        }
    }
}

/// A live XDP context: the buff region, the frame region and the scalar fields. The layouts it
/// was built from are [`super::Vm::layouts`].
#[derive(Clone, Copy, Debug)]
pub struct XdpCtx {
    /// The driver's wrapper region (R1 points at its start, the `xdp_buff`).
    pub buff: RegionId,
    /// The frame (headroom + packet + tailroom).
    pub frame: RegionId,
    /// `ingress_ifindex`.
    pub ingress_ifindex: u32,
    /// `rx_queue_index`.
    pub rx_queue_index: u32,
    /// `egress_ifindex`.
    pub egress_ifindex: u32,
    /// Metadata limit of `bpf_xdp_adjust_meta`.
    pub max_meta_len: u64,
    /// The driver.
    pub driver: DriverKind,
    /// veth: what `__skb_get_hash` computes for this frame (see [`drivers::VethSkb::flow_hash`]).
    pub flow_hash: (u32, bool),
    /// The packet-trait state, when the setup asked for traits.
    pub traits: Option<XdpTraits>,
}

/// Pointer fields of the buff.
const DATA: u64 = 0;
const DATA_END: u64 = 8;
const DATA_META: u64 = 16;
const HARD_START: u64 = 24;

impl XdpCtx {
    /// Maps the frame, the driver's wrapper and what it points to into `memory`; returns the
    /// context and R1's value. Fails only when the layouts lack a field the driver needs.
    pub fn build(memory: &mut Memory, s: &XdpSetup) -> Result<(XdpCtx, u64), LayoutError> {
        let l = &*s.layouts;
        let mut frame = vec![0u8; s.headroom];
        frame.extend_from_slice(&s.packet);
        frame.resize(frame.len() + s.tailroom, 0);
        let frame_len = frame.len();
        frame.resize(frame_len + s.driver.frame_extra(l, frame_len), 0);
        let fid = memory.map(RegionKind::Packet, frame, true);
        let base = Memory::addr(fid, 0);
        let data = Memory::addr(fid, s.headroom as u64);
        let values = [
            ("data", data),
            ("data_end", data + s.packet.len() as u64),
            ("data_meta", data),
            ("data_hard_start", base),
            ("frame_sz", frame_len as u64),
        ];
        let wrapper = drivers::map_wrapper(memory, s.driver.wrapper(l));
        l.xdp_buff.write_into(memory, wrapper, &values)?;
        // The receive queue and its device: xdp->rxq->queue_index, xdp->rxq->dev->ifindex.
        let dev = memory.map_struct(&l.net_device, &[("ifindex", u64::from(s.ingress_ifindex))])?;
        let rxq = memory
            .map_struct(&l.xdp_rxq_info, &[("dev", dev), ("queue_index", u64::from(s.rx_queue_index))])?;
        l.xdp_buff.write_into(memory, wrapper, &[("rxq", rxq)])?;
        let place = FramePlace { base, data: s.headroom, len: s.packet.len(), frame_len };
        drivers::attach(memory, l, &s.driver, wrapper, place)?;
        let flow_hash = match s.driver {
            XdpDriver::Veth(Some(skb)) => skb.flow_hash,
            _ => (0, false),
        };
        let (bid, _) = memory.resolve(wrapper, 1).expect("the wrapper was just mapped");
        let mut ctx = XdpCtx {
            buff: bid,
            frame: fid,
            ingress_ifindex: s.ingress_ifindex,
            rx_queue_index: s.rx_queue_index,
            egress_ifindex: s.egress_ifindex,
            max_meta_len: s.max_meta_len,
            driver: s.driver.kind(),
            flow_hash,
            traits: s.traits.map(XdpTraits::new),
        };
        traits::setup(memory, &mut ctx);
        Ok((ctx, wrapper))
    }

    fn ptr(&self, memory: &Memory, field: u64) -> Result<u64, MemError> {
        memory.load(Memory::addr(self.buff, field), 8)
    }

    /// The context pointer (R1): the start of the `xdp_buff` (and of the driver's wrapper).
    pub fn ctx_addr(&self) -> u64 {
        Memory::addr(self.buff, 0)
    }

    /// `xdp->data` now.
    pub fn data(&self, memory: &Memory) -> Result<u64, MemError> {
        self.ptr(memory, DATA)
    }

    /// `xdp->data_end` now.
    pub fn data_end(&self, memory: &Memory) -> Result<u64, MemError> {
        self.ptr(memory, DATA_END)
    }

    /// `xdp->data_meta` now.
    pub fn data_meta(&self, memory: &Memory) -> Result<u64, MemError> {
        self.ptr(memory, DATA_META)
    }

    /// `xdp->data_hard_start`.
    pub fn data_hard_start(&self, memory: &Memory) -> Result<u64, MemError> {
        self.ptr(memory, HARD_START)
    }

    /// The `xdp_md` view of a load at `offset` of `size` bytes through the context pointer, or
    /// `None` if it is a raw access to the buff.
    pub fn uapi_load(&self, memory: &Memory, offset: usize, size: u32) -> Option<Result<u64, MemError>> {
        if size != 4 || offset >= 24 || offset % 4 != 0 {
            return None;
        }
        Some(match offset {
            0 => self.ptr(memory, DATA),
            4 => self.ptr(memory, DATA_END),
            8 => self.ptr(memory, DATA_META),
            12 => Ok(u64::from(self.ingress_ifindex)),
            16 => Ok(u64::from(self.rx_queue_index)),
            _ => Ok(u64::from(self.egress_ifindex)),
        })
    }

    /// (metadata, packet) bytes as they are now.
    pub fn output(&self, memory: &Memory) -> Result<(Vec<u8>, Vec<u8>), MemError> {
        let (meta, data, end) =
            (self.ptr(memory, DATA_META)?, self.ptr(memory, DATA)?, self.ptr(memory, DATA_END)?);
        let m = memory.read_bytes(meta, (data.wrapping_sub(meta)) as u32)?.to_vec();
        let p = memory.read_bytes(data, (end.wrapping_sub(data)) as u32)?.to_vec();
        Ok((m, p))
    }
}

fn xdp_of(ctx: &HelperCtx<'_>, r1: u64) -> Result<XdpCtx, HelperError> {
    let x = ctx.vm.xdp.ok_or_else(|| HelperError::Invalid("no XDP context".into()))?;
    if r1 != Memory::addr(x.buff, 0) {
        return Err(HelperError::Invalid(format!("{r1:#x} is not the XDP context")));
    }
    Ok(x)
}

/// `bpf_xdp_adjust_head(ctx, delta)` as in `net/core/filter.c`.
pub fn xdp_adjust_head(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    let mem = &mut ctx.vm.memory;
    let delta = a[1] as i32 as i64 as u64;
    let (data, end, meta) = (x.ptr(mem, DATA)?, x.ptr(mem, DATA_END)?, x.ptr(mem, DATA_META)?);
    let metalen = data - meta;
    let new_data = data.wrapping_add(delta);
    // data_hard_start + sizeof(struct xdp_frame), or the end of the trait area.
    let floor = traits::meta_floor(&x, mem)?;
    if new_data < floor + metalen || new_data > end - ETH_HLEN {
        return Ok((-EINVAL) as u64);
    }
    if metalen > 0 {
        let bytes = mem.read_bytes(meta, metalen as u32)?.to_vec();
        mem.write_bytes(meta.wrapping_add(delta), &bytes)?;
    }
    mem.store(Memory::addr(x.buff, DATA_META), 8, meta.wrapping_add(delta))?;
    mem.store(Memory::addr(x.buff, DATA), 8, new_data)?;
    Ok(0)
}

/// `bpf_xdp_adjust_meta(ctx, delta)` as in `net/core/filter.c` (metadata a multiple of 4 and
/// at most [`XdpCtx::max_meta_len`]). With packet traits: not below the trait area, and in v2
/// not at all once traits are in use ([`super::traits`]).
pub fn xdp_adjust_meta(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp_of(ctx, a[0])?;
    if let Some(errno) = ctx.vm.xdp.as_mut().and_then(traits::claim_for_meta) {
        return Ok(errno as u64);
    }
    let mem = &mut ctx.vm.memory;
    let delta = a[1] as i32 as i64 as u64;
    let (data, meta) = (x.ptr(mem, DATA)?, x.ptr(mem, DATA_META)?);
    let new_meta = meta.wrapping_add(delta);
    if new_meta < traits::meta_floor(&x, mem)? || new_meta > data {
        return Ok((-EINVAL) as u64);
    }
    let metalen = data - new_meta;
    if metalen % 4 != 0 || metalen > x.max_meta_len {
        return Ok((-EACCES) as u64);
    }
    mem.store(Memory::addr(x.buff, DATA_META), 8, new_meta)?;
    Ok(0)
}

/// Registers `bpf_xdp_adjust_head` and `bpf_xdp_adjust_meta`.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_XDP_ADJUST_HEAD, Rc::new(xdp_adjust_head));
    h.register(BPF_FUNC_XDP_ADJUST_META, Rc::new(xdp_adjust_meta));
}
