//! The TC / socket filter context: the program sees `struct __sk_buff`, but, as in the kernel,
//! the data lives in a `struct sk_buff` and each `__sk_buff` field access is converted into an
//! access of the kernel object (`bpf_convert_ctx_access` in `net/core/filter.c`): `len` is
//! `skb->len`, `mark` `skb->mark`, `cb[i]` bytes of `qdisc_skb_cb(skb)->data`, `vlan_present`
//! `skb->vlan_all != 0`, `data` `skb->data`, `data_end` the end of the linear data, and so on.
//! Fields this model does not convert read as zero from a plain `__sk_buff` region and are
//! stored there.
//!
//! The packet region is the skb's head buffer: headroom (the metadata at its end), the frame,
//! then `struct skb_shared_info` at `skb->head + skb->end`, so kernel-style code that follows
//! `skb->head` and `skb->end` reaches it. `bpf_cast_to_kern_ctx` gives [`SkbCtx::skb`]'s
//! address. Offsets are [`SkBuffLayout`]'s (this machine's 6.18 by default).

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
        .field("tstamp", 152, 8)
        .field("wire_len", 160, 4)
        .field("hwtstamp", 184, 8)
}

/// Where the converted fields live in `struct sk_buff` and `struct skb_shared_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkBuffLayout {
    /// `sizeof(struct sk_buff)`.
    pub size: u32,
    /// `dev` (pointer).
    pub dev: u32,
    /// `tstamp` (u64).
    pub tstamp: u32,
    /// `cb[48]`; `qdisc_skb_cb` lives there: `pkt_len` at +0, `tc_classid` at +6, `data[20]`
    /// at +8.
    pub cb: u32,
    /// `len` (u32).
    pub len: u32,
    /// `data_len` (u32).
    pub data_len: u32,
    /// `queue_mapping` (u16).
    pub queue_mapping: u32,
    /// The byte whose low 3 bits are `pkt_type`.
    pub pkt_type_byte: u32,
    /// The byte holding `l4_hash` (bit 1) and `sw_hash` (bit 2).
    pub hash_flags_byte: u32,
    /// `tc_index` (u16).
    pub tc_index: u32,
    /// `priority` (u32).
    pub priority: u32,
    /// `skb_iif` (int).
    pub skb_iif: u32,
    /// `hash` (u32).
    pub hash: u32,
    /// `vlan_all` (u32) = `vlan_proto` (be16) then `vlan_tci` (u16).
    pub vlan_all: u32,
    /// `napi_id` (u32).
    pub napi_id: u32,
    /// `mark` (u32).
    pub mark: u32,
    /// `protocol` (be16).
    pub protocol: u32,
    /// `mac_header` (u16 offset from head).
    pub mac_header: u32,
    /// `tail` (u32 offset from head).
    pub tail: u32,
    /// `end` (u32 offset from head to `skb_shared_info`).
    pub end: u32,
    /// `head` (pointer).
    pub head: u32,
    /// `data` (pointer).
    pub data: u32,
    /// `sizeof(struct skb_shared_info)`.
    pub shinfo_size: u32,
    /// `skb_shared_info.meta_len` (u8).
    pub shinfo_meta_len: u32,
    /// `skb_shared_info.hwtstamps` (ktime).
    pub shinfo_hwtstamps: u32,
}

impl SkBuffLayout {
    /// Linux 6.18.44 x86_64 (kernel-notes §B.3, read from `/sys/kernel/btf/vmlinux`).
    pub const LINUX_6_18: SkBuffLayout = SkBuffLayout {
        size: 224,
        dev: 16,
        tstamp: 32,
        cb: 40,
        len: 112,
        data_len: 116,
        queue_mapping: 124,
        pkt_type_byte: 128,
        hash_flags_byte: 130,
        tc_index: 132,
        priority: 140,
        skb_iif: 144,
        hash: 148,
        vlan_all: 152,
        napi_id: 156,
        mark: 164,
        protocol: 176,
        mac_header: 182,
        tail: 184,
        end: 188,
        head: 192,
        data: 200,
        shinfo_size: 320,
        shinfo_meta_len: 1,
        shinfo_hwtstamps: 16,
    };
}

impl Default for SkBuffLayout {
    fn default() -> Self {
        SkBuffLayout::LINUX_6_18
    }
}

/// `__sk_buff` offsets.
const DATA: usize = 76;
const DATA_END: usize = 80;
const DATA_META: usize = 140;
/// Bytes of headroom in front of the metadata (the kernel's `NET_SKB_PAD`).
const HEADROOM: usize = 64;

/// What the caller gives to build a TC context.
#[derive(Clone, Debug, Default)]
pub struct SkbSetup {
    /// Packet bytes from the MAC header (`data`) to `data_end`.
    pub packet: Vec<u8>,
    /// Metadata bytes placed just before `data` (`data_meta .. data`).
    pub meta: Vec<u8>,
    /// `__sk_buff` fields by name (`mark`, `protocol` in network order, `ifindex`, ...),
    /// stored through the same conversion as a program's stores; `len` is set from the packet.
    pub fields: Vec<(&'static str, u64)>,
    /// The hardware receive timestamp (`skb_shinfo(skb)->hwtstamps`).
    pub hwtstamp: u64,
    /// Bytes of the packet in the linear head (`skb_headlen`); the rest is paged data that
    /// direct packet access cannot reach (`data_end` stops there) but `bpf_skb_load_bytes` and
    /// skb dynptrs can. `None`: the whole packet is linear.
    pub headlen: Option<usize>,
    /// Whether the skb is a clone (`skb_cloned`): the 6.18 skb_meta dynptr is then read-only.
    pub cloned: bool,
    /// What the flow dissector (`__skb_get_hash`) would compute for this packet: (hash,
    /// whether the flow keys had ports). Its seed is random per boot, so the caller says.
    pub flow_hash: (u32, bool),
}

/// A live TC context.
#[derive(Clone, Copy, Debug)]
pub struct SkbCtx {
    /// The `__sk_buff` region (R1 points at its start).
    pub ctx: RegionId,
    /// The `sk_buff` region.
    pub skb: RegionId,
    /// The head buffer: headroom, metadata, packet, `skb_shared_info`.
    pub packet: RegionId,
    /// Offset of `data` in the packet region.
    pub data: usize,
    /// Offset of `data_end` in the packet region (the end of the linear head).
    pub data_end: usize,
    /// Offset of the end of the whole packet (linear and paged) in the packet region.
    pub end: usize,
    /// `skb_cloned(skb)`.
    pub cloned: bool,
    /// Metadata length (`data - data_meta`).
    pub meta_len: usize,
    /// `ifindex` (`skb->dev->ifindex`; the device is not modelled).
    pub ifindex: u32,
    /// [`SkbSetup::flow_hash`].
    pub flow_hash: (u32, bool),
    /// The layout in use.
    pub layout: SkBuffLayout,
}

/// Why a TC context could not be built.
pub type SkbError = super::memory::LayoutError;

/// How a `__sk_buff` field maps onto the kernel objects.
enum Conv {
    /// A field of `sk_buff` at this offset with this width (loads zero-extend).
    Skb(u32, u32),
    /// A computed packet pointer.
    Pointer,
    /// `pkt_type`: low 3 bits of a byte.
    PktType,
    /// `vlan_present`: `vlan_all != 0`.
    VlanPresent,
    /// `ifindex` from the (unmodelled) device.
    Ifindex,
    /// `hwtstamp` from `skb_shared_info`.
    Hwtstamp,
}

impl SkbCtx {
    /// Maps the head buffer, the `sk_buff` and the `__sk_buff`; returns the context and R1's
    /// value.
    pub fn build(memory: &mut Memory, s: &SkbSetup) -> Result<(SkbCtx, u64), SkbError> {
        let l = SkBuffLayout::default();
        let data = HEADROOM + s.meta.len();
        let pkt_end = data + s.packet.len();
        let data_end = data + s.headlen.map_or(s.packet.len(), |h| h.min(s.packet.len()));
        // skb_shared_info sits after the buffer (paged bytes are kept in the same region, past
        // data_end, so that one address space serves load_bytes and dynptrs).
        let end = pkt_end.next_multiple_of(64);
        let mut head = vec![0u8; end + l.shinfo_size as usize];
        head[HEADROOM..data].copy_from_slice(&s.meta);
        head[data..pkt_end].copy_from_slice(&s.packet);
        head[end + l.shinfo_meta_len as usize] = s.meta.len().min(255) as u8;
        let ts = end + l.shinfo_hwtstamps as usize;
        head[ts..ts + 8].copy_from_slice(&s.hwtstamp.to_le_bytes());
        let packet = memory.map(RegionKind::Packet, head, true);
        let mut skb = vec![0u8; l.size as usize];
        let mut put =
            |off: u32, bytes: &[u8]| skb[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
        put(l.len, &(s.packet.len() as u32).to_le_bytes());
        put(l.data_len, &((pkt_end - data_end) as u32).to_le_bytes());
        put(l.mac_header, &(data as u16).to_le_bytes());
        put(l.tail, &(data_end as u32).to_le_bytes());
        put(l.end, &(end as u32).to_le_bytes());
        put(l.head, &Memory::addr(packet, 0).to_le_bytes());
        put(l.data, &Memory::addr(packet, data as u64).to_le_bytes());
        put(l.cb, &(s.packet.len() as u32).to_le_bytes()); // qdisc_skb_cb.pkt_len
        let skb = memory.map(RegionKind::Kernel { type_name: "sk_buff".into() }, skb, true);
        let ctx = memory.map(RegionKind::Context, vec![0; 192], true);
        let mut c = SkbCtx {
            ctx,
            skb,
            packet,
            data,
            data_end,
            end: pkt_end,
            cloned: s.cloned,
            meta_len: s.meta.len(),
            ifindex: 0,
            flow_hash: s.flow_hash,
            layout: l,
        };
        let uapi = sk_buff_uapi_layout();
        for &(name, value) in &s.fields {
            let f = uapi
                .find(name)
                .ok_or_else(|| SkbError::UnknownField { layout: uapi.name.clone(), field: name.into() })?;
            if name == "ifindex" {
                c.ifindex = value as u32;
            } else if c.uapi_store(memory, f.offset as usize, f.size.min(8), value) != Some(Ok(())) {
                return Err(SkbError::BadField { layout: uapi.name.clone(), field: name.into() });
            }
        }
        Ok((c, Memory::addr(ctx, 0)))
    }

    /// The conversion of an access at `offset` of `__sk_buff`, if this model converts that
    /// field; narrow accesses inside a field get the matching bytes of the kernel field.
    fn conv(&self, offset: usize) -> Option<Conv> {
        let start = match offset {
            48..=67 => offset,
            152..=159 => 152,
            184..=191 => 184,
            o => o & !3,
        };
        let delta = (offset - start) as u32;
        let conv = self.conv_field(start)?;
        Some(match conv {
            Conv::Skb(off, width) if width > delta => Conv::Skb(off + delta, width - delta),
            Conv::Skb(off, 0) => Conv::Skb(off, 0),
            Conv::Skb(..) => return None,
            other if delta == 0 => other,
            _ => return None,
        })
    }

    fn conv_field(&self, offset: usize) -> Option<Conv> {
        let l = &self.layout;
        Some(match offset {
            0 => Conv::Skb(l.len, 4),
            4 => Conv::PktType,
            8 => Conv::Skb(l.mark, 4),
            12 => Conv::Skb(l.queue_mapping, 2),
            16 => Conv::Skb(l.protocol, 2),
            20 => Conv::VlanPresent,
            24 => Conv::Skb(l.vlan_all + 2, 2),
            28 => Conv::Skb(l.vlan_all, 2),
            32 => Conv::Skb(l.priority, 4),
            36 => Conv::Skb(l.skb_iif, 4),
            40 => Conv::Ifindex,
            44 => Conv::Skb(l.tc_index, 2),
            48..=67 => Conv::Skb(l.cb + 8 + (offset as u32 - 48), 0),
            68 => Conv::Skb(l.hash, 4),
            72 => Conv::Skb(l.cb + 6, 2),
            DATA | DATA_END | DATA_META => Conv::Pointer,
            84 => Conv::Skb(l.napi_id, 4),
            152 => Conv::Skb(l.tstamp, 8),
            160 => Conv::Skb(l.cb, 4),
            184 => Conv::Hwtstamp,
            _ => return None,
        })
    }

    fn skb_field(&self, off: u32) -> u64 {
        Memory::addr(self.skb, u64::from(off))
    }

    /// The value of a context load of `size` bytes at `offset`, or `None` when the model does
    /// not convert that field (the plain `__sk_buff` byte is read then).
    pub fn uapi_load(&self, memory: &Memory, offset: usize, size: u32) -> Option<Result<u64, MemError>> {
        let at = |off: usize| Memory::addr(self.packet, off as u64);
        Some(match self.conv(offset)? {
            Conv::Pointer if size == 4 => Ok(match offset {
                DATA => at(self.data),
                DATA_END => at(self.data_end),
                _ => at(self.data - self.meta_len),
            }),
            Conv::Pointer => return None,
            // cb[] bytes: any width at the byte.
            Conv::Skb(off, 0) => memory.load(self.skb_field(off), size),
            Conv::Skb(off, width) => memory.load(self.skb_field(off), width.min(size)),
            Conv::PktType => memory.load(self.skb_field(self.layout.pkt_type_byte), 1).map(|b| b & 7),
            Conv::VlanPresent => {
                memory.load(self.skb_field(self.layout.vlan_all), 4).map(|v| u64::from(v != 0))
            }
            Conv::Ifindex => Ok(u64::from(self.ifindex)),
            Conv::Hwtstamp => {
                let end = memory.load(self.skb_field(self.layout.end), 4);
                end.and_then(|e| memory.load(at(e as usize + self.layout.shinfo_hwtstamps as usize), 8))
            }
        })
    }

    /// Performs a context store, or returns `None` when the model does not convert that field
    /// (it is then stored in the plain `__sk_buff` bytes). Stores to pointer fields are refused
    /// by the caller ([`SkbCtx::is_pointer_field`]).
    pub fn uapi_store(
        &self,
        memory: &mut Memory,
        offset: usize,
        size: u32,
        value: u64,
    ) -> Option<Result<(), MemError>> {
        Some(match self.conv(offset)? {
            Conv::Skb(off, 0) => memory.store(self.skb_field(off), size, value),
            Conv::Skb(off, width) => memory.store(self.skb_field(off), width.min(size), value),
            Conv::PktType => {
                let a = self.skb_field(self.layout.pkt_type_byte);
                memory.load(a, 1).and_then(|b| memory.store(a, 1, (b & !7) | (value & 7)))
            }
            _ => return None,
        })
    }

    /// Whether a store at `offset` hits a pointer field (the kernel rejects those).
    pub fn is_pointer_field(offset: usize, size: u32) -> bool {
        [DATA, DATA_END, DATA_META].iter().any(|&f| offset < f + 4 && f < offset + size as usize)
    }

    /// The packet bytes, linear and paged (`data .. end`).
    pub fn packet<'m>(&self, memory: &'m Memory) -> Result<&'m [u8], MemError> {
        memory.read_bytes(Memory::addr(self.packet, self.data as u64), (self.end - self.data) as u32)
    }

    /// The context pointer (R1) of this skb.
    pub fn ctx_addr(&self) -> u64 {
        Memory::addr(self.ctx, 0)
    }

    /// The `struct sk_buff` (what `bpf_cast_to_kern_ctx` returns).
    pub fn skb_addr(&self) -> u64 {
        Memory::addr(self.skb, 0)
    }

    /// `skb->len` now.
    pub fn len(&self, memory: &Memory) -> Result<u32, MemError> {
        self.get(memory, 0).map(|v| v as u32)
    }

    /// The `__sk_buff` field at `offset` as a program's 4-byte load sees it.
    pub fn get(&self, memory: &Memory, offset: usize) -> Result<u64, MemError> {
        match self.uapi_load(memory, offset, 4) {
            Some(v) => v,
            None => memory.load(Memory::addr(self.ctx, offset as u64), 4),
        }
    }

    /// Stores the `__sk_buff` field at `offset` as a program's 4-byte store would (fields the
    /// model does not convert go to the plain `__sk_buff` bytes).
    pub fn set(&self, memory: &mut Memory, offset: usize, value: u64) -> Result<(), MemError> {
        match self.uapi_store(memory, offset, 4, value) {
            Some(r) => r,
            None => memory.store(Memory::addr(self.ctx, offset as u64), 4, value),
        }
    }

    /// Inserts `bytes` at packet-region offset `at` (inside the linear data): the packet, the
    /// linear end and `skb_shared_info` move up, and `skb->len`, `tail` and `end` follow.
    pub fn insert(&mut self, memory: &mut Memory, at: usize, bytes: &[u8]) -> Result<(), MemError> {
        let n = bytes.len();
        let region = memory.region_mut(self.packet).ok_or(MemError::Unmapped { addr: 0, size: 0 })?;
        region.bytes.splice(at..at, bytes.iter().copied());
        self.data_end += n;
        self.end += n;
        let l = self.layout;
        let skb = |off: u32| Memory::addr(self.skb, u64::from(off));
        for field in [l.len, l.tail, l.end] {
            let v = memory.load(skb(field), 4)?;
            memory.store(skb(field), 4, v + n as u64)?;
        }
        Ok(())
    }

    /// The metadata bytes (`data_meta .. data`).
    pub fn meta<'m>(&self, memory: &'m Memory) -> Result<&'m [u8], MemError> {
        memory.read_bytes(Memory::addr(self.packet, (self.data - self.meta_len) as u64), self.meta_len as u32)
    }
}
