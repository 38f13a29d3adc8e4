//! The TC context basics: `struct __sk_buff` as the program sees it. Scalar fields (`len`,
//! `mark`, `protocol`, `priority`, `ifindex`, `cb[]`, `hash`, ...) are plain bytes of the context
//! region; the u32 loads of `data` (76), `data_end` (80) and `data_meta` (140) are translated to
//! pointers into the packet region, as the kernel's ctx rewrite loads `skb->data` and the
//! computed end. `sk_buff` itself is not modelled here (see [`super::memory::Layout`] for
//! hand-written kernel structs); LD_ABS/LD_IND read the same packet.

use super::memory::{Layout, MemError, Memory, RegionId, RegionKind};

/// Offsets of `struct __sk_buff` (uapi, stable).
pub fn sk_buff_uapi_layout() -> Layout {
    Layout::new("__sk_buff", 192)
        .field("len", 0, 4)
        .field("pkt_type", 4, 4)
        .field("mark", 8, 4)
        .field("queue_mapping", 12, 4)
        .field("protocol", 16, 4)
        .field("vlan_present", 20, 4)
        .field("vlan_tci", 24, 4)
        .field("vlan_proto", 28, 4)
        .field("priority", 32, 4)
        .field("ingress_ifindex", 36, 4)
        .field("ifindex", 40, 4)
        .field("tc_index", 44, 4)
        .field("cb", 48, 20)
        .field("hash", 68, 4)
        .field("tc_classid", 72, 4)
        .field("data", 76, 4)
        .field("data_end", 80, 4)
        .field("napi_id", 84, 4)
        .field("data_meta", 140, 4)
}

const DATA: usize = 76;
const DATA_END: usize = 80;
const DATA_META: usize = 140;

/// What the caller gives to build a TC context.
#[derive(Clone, Debug, Default)]
pub struct SkbSetup {
    /// Packet bytes from the MAC header (`data`) to `data_end`.
    pub packet: Vec<u8>,
    /// Metadata bytes placed just before `data` (`data_meta .. data`).
    pub meta: Vec<u8>,
    /// Scalar `__sk_buff` fields by name (`mark`, `protocol` in network order, ...); `len` is
    /// set from the packet unless given.
    pub fields: Vec<(&'static str, u64)>,
    /// Bytes of the packet in the linear head (`skb_headlen`); the rest is paged data that
    /// direct packet access cannot reach (`data_end` stops there) but `bpf_skb_load_bytes` and
    /// skb dynptrs can. `None`: the whole packet is linear.
    pub headlen: Option<usize>,
    /// Whether the skb is a clone (`skb_cloned`): the 6.18 skb_meta dynptr is then read-only.
    pub cloned: bool,
}

/// A live TC context.
#[derive(Clone, Copy, Debug)]
pub struct SkbCtx {
    /// The `__sk_buff` region (R1 points at its start).
    pub ctx: RegionId,
    /// The packet region: metadata then packet.
    pub packet: RegionId,
    /// Offset of `data` in the packet region.
    pub data: usize,
    /// Offset of `data_end` in the packet region (the end of the linear head).
    pub data_end: usize,
    /// Offset of the end of the whole packet (linear and paged) in the packet region.
    pub end: usize,
    /// `skb_cloned(skb)`.
    pub cloned: bool,
    /// The `struct sk_buff` region `bpf_cast_to_kern_ctx` returns, once it was called.
    pub kern: Option<RegionId>,
}

/// Why a TC context could not be built.
pub type SkbError = super::memory::LayoutError;

impl SkbCtx {
    /// Maps the packet and the context; returns the context and R1's value.
    pub fn build(memory: &mut Memory, s: &SkbSetup) -> Result<(SkbCtx, u64), SkbError> {
        let mut bytes = s.meta.clone();
        bytes.extend_from_slice(&s.packet);
        let packet = memory.map(RegionKind::Packet, bytes, true);
        let mut fields = vec![("len", s.packet.len() as u64)];
        fields.extend(s.fields.iter().copied());
        let ctx_bytes = sk_buff_uapi_layout().instantiate(&fields)?;
        let ctx = memory.map(RegionKind::Context, ctx_bytes, true);
        let data = s.meta.len();
        let end = data + s.packet.len();
        let data_end = data + s.headlen.map_or(s.packet.len(), |h| h.min(s.packet.len()));
        let skb = SkbCtx { ctx, packet, data, data_end, end, cloned: s.cloned, kern: None };
        Ok((skb, Memory::addr(ctx, 0)))
    }

    /// The translated value of a context load, or `None` for a plain field access.
    pub fn uapi_load(&self, offset: usize, size: u32) -> Option<u64> {
        let at = |off: usize| Memory::addr(self.packet, off as u64);
        match (offset, size) {
            (DATA, 4) => Some(at(self.data)),
            (DATA_END, 4) => Some(at(self.data_end)),
            (DATA_META, 4) => Some(at(0)),
            _ => None,
        }
    }

    /// Whether a store at `offset` hits a pointer field (the kernel rejects those).
    pub fn is_pointer_field(offset: usize, size: u32) -> bool {
        [DATA, DATA_END, DATA_META].iter().any(|&f| offset < f + 4 && f < offset + size as usize)
    }

    /// The packet bytes, linear and paged (`data .. end`).
    pub fn packet<'m>(&self, memory: &'m Memory) -> Result<&'m [u8], MemError> {
        memory.read_bytes(Memory::addr(self.packet, self.data as u64), (self.end - self.data) as u32)
    }

    /// The metadata bytes in front of `data` (`skb_metadata_len` of them).
    pub fn meta<'m>(&self, memory: &'m Memory) -> Result<&'m [u8], MemError> {
        memory.read_bytes(Memory::addr(self.packet, 0), self.data as u32)
    }

    /// The context pointer (R1) of this skb.
    pub fn ctx_addr(&self) -> u64 {
        Memory::addr(self.ctx, 0)
    }

    /// `skb->len` as the program last left it (the `__sk_buff.len` field).
    pub fn len(&self, memory: &Memory) -> Result<u32, MemError> {
        memory.load(Memory::addr(self.ctx, 0), 4).map(|v| v as u32)
    }
}
