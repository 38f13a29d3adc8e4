//! Memory as a set of typed regions with bounds, addressed through a synthetic 64-bit space.
//!
//! Region `id` occupies `REGION_BASE | id << 32 .. + len`: programs see plain 64-bit pointers they
//! can add to, subtract and compare, exactly as in the kernel, and every access is resolved back to
//! (region, offset) and checked. Struct layouts for kernel objects ([`Layout`]) live here too.
//! What a program may *do* with memory (instruction semantics) lives in the parent module.

use thiserror::Error;

/// Tag in the high 16 bits of every data pointer.
pub const REGION_BASE: u64 = 0xffff_0000_0000_0000;
/// How many regions can be mapped at once (the id is 16 bits of the address).
pub const MAX_REGIONS: usize = 1 << 16;

/// Identifies one region of a [`Memory`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RegionId(pub u16);

/// What a region models.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RegionKind {
    /// The 512-byte stack of call frame `depth` (0 = main program).
    Stack {
        /// Frame depth.
        depth: usize,
    },
    /// The program context as the program sees it (`xdp_md`, `__sk_buff`, raw memory).
    Context,
    /// Packet buffer including headroom; `data_meta`/`data`/`data_end` point into it.
    Packet,
    /// A map value.
    MapValue {
        /// Map index in the caller's map list.
        map: usize,
    },
    /// A kernel object laid out by a [`Layout`].
    Kernel {
        /// The layout's type name.
        type_name: String,
    },
    /// Caller-provided memory without further meaning (e.g. the conformance `-- mem` buffer).
    Plain,
}

/// One mapped region.
#[derive(Clone, Debug)]
pub struct Region {
    /// What it models.
    pub kind: RegionKind,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether stores are allowed.
    pub writable: bool,
}

/// Why a memory access failed (the interpreter adds the instruction slot).
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum MemError {
    /// The address is not inside any mapped region.
    #[error("access of {size} bytes at {addr:#x}: address is not mapped")]
    Unmapped {
        /// The address.
        addr: u64,
        /// Access size in bytes.
        size: u32,
    },
    /// The access starts inside a region but leaves it.
    #[error("access of {size} bytes at offset {offset} of {kind:?} region ({len} bytes) is out of bounds")]
    OutOfBounds {
        /// The region's kind.
        kind: RegionKind,
        /// Offset into the region (may be negative).
        offset: i64,
        /// Access size in bytes.
        size: u32,
        /// Region length.
        len: usize,
    },
    /// A store to a read-only region.
    #[error("store of {size} bytes at offset {offset} of read-only {kind:?} region")]
    ReadOnly {
        /// The region's kind.
        kind: RegionKind,
        /// Offset into the region.
        offset: usize,
        /// Access size in bytes.
        size: u32,
    },
}

/// The address space: regions indexed by [`RegionId`].
#[derive(Clone, Debug, Default)]
pub struct Memory {
    regions: Vec<Region>,
    /// Unmapped ids, reused by [`Memory::map`].
    free: Vec<RegionId>,
    /// Ids mapped since [`Memory::start_tracking`], while tracking.
    tracked: Option<Vec<RegionId>>,
}

impl Memory {
    /// An empty address space.
    pub fn new() -> Self {
        Memory::default()
    }

    /// Maps a region and returns its id, reusing an unmapped id if there is one. At most
    /// [`MAX_REGIONS`] regions are mapped at once: callers bound what they map (the loader caps
    /// map sizes, contexts are rebuilt in place).
    pub fn map(&mut self, kind: RegionKind, bytes: Vec<u8>, writable: bool) -> RegionId {
        let region = Region { kind, bytes, writable };
        let id = match self.free.pop() {
            Some(id) => {
                self.regions[usize::from(id.0)] = region;
                id
            }
            None => {
                let id = RegionId(
                    u16::try_from(self.regions.len()).expect("callers map fewer than MAX_REGIONS regions"),
                );
                self.regions.push(region);
                id
            }
        };
        if let Some(t) = &mut self.tracked {
            t.push(id);
        }
        id
    }

    /// Starts recording the ids [`Memory::map`] hands out (a context's regions).
    pub fn start_tracking(&mut self) {
        self.tracked = Some(Vec::new());
    }

    /// Stops recording and returns the ids mapped since [`Memory::start_tracking`].
    pub fn stop_tracking(&mut self) -> Vec<RegionId> {
        self.tracked.take().unwrap_or_default()
    }

    /// Unmaps a region: its addresses fault from now on until the id is reused.
    pub fn unmap(&mut self, id: RegionId) {
        if self.free.contains(&id) {
            return;
        }
        if let Some(r) = self.regions.get_mut(usize::from(id.0)) {
            *r = Region { kind: RegionKind::Plain, bytes: Vec::new(), writable: false };
            self.free.push(id);
        }
    }

    /// Regions mapped now.
    pub fn mapped(&self) -> usize {
        self.regions.len() - self.free.len()
    }

    /// The address of byte `offset` of region `id`.
    pub fn addr(id: RegionId, offset: u64) -> u64 {
        REGION_BASE | (u64::from(id.0) << 32) | (offset & 0xffff_ffff)
    }

    /// A region by id.
    pub fn region(&self, id: RegionId) -> Option<&Region> {
        self.regions.get(usize::from(id.0))
    }

    /// A region by id, mutably.
    pub fn region_mut(&mut self, id: RegionId) -> Option<&mut Region> {
        self.regions.get_mut(usize::from(id.0))
    }

    /// Resolves `addr .. addr + size` to (region, offset), checking bounds. Accesses just before
    /// a region (negative offsets wrap into the previous id) are reported against the region
    /// the high bits name, as out of bounds.
    pub fn resolve(&self, addr: u64, size: u32) -> Result<(RegionId, usize), MemError> {
        if addr & 0xffff_0000_0000_0000 != REGION_BASE {
            return Err(MemError::Unmapped { addr, size });
        }
        let raw = addr & !REGION_BASE;
        let id = (raw >> 32) as u16;
        let off = raw & 0xffff_ffff;
        let region = self.regions.get(usize::from(id)).ok_or(MemError::Unmapped { addr, size })?;
        let len = region.bytes.len();
        let end = off + u64::from(size);
        if end > len as u64 {
            // An offset in the top half is most likely a negative offset from the next region.
            let next = self.regions.get(usize::from(id) + 1);
            if let (true, Some(next)) = (off >= 0x8000_0000, next) {
                return Err(MemError::OutOfBounds {
                    kind: next.kind.clone(),
                    offset: off as i64 - (1i64 << 32),
                    size,
                    len: next.bytes.len(),
                });
            }
            return Err(MemError::OutOfBounds { kind: region.kind.clone(), offset: off as i64, size, len });
        }
        Ok((RegionId(id), off as usize))
    }

    /// Maps a kernel object laid out by `layout` with the given fields set (the rest zero) and
    /// returns its address.
    pub fn map_struct(&mut self, layout: &Layout, values: &[(&str, u64)]) -> Result<u64, LayoutError> {
        let bytes = layout.instantiate(values)?;
        let id = self.map(RegionKind::Kernel { type_name: layout.name.clone() }, bytes, true);
        Ok(Memory::addr(id, 0))
    }

    /// Reads `size` (1, 2, 4, 8) bytes little-endian.
    pub fn load(&self, addr: u64, size: u32) -> Result<u64, MemError> {
        let (id, off) = self.resolve(addr, size)?;
        let bytes = &self.regions[usize::from(id.0)].bytes[off..off + size as usize];
        let mut buf = [0u8; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    }

    /// Reads `size` (0..=8, any) bytes little-endian.
    pub fn load_bytes_le(&self, addr: u64, size: u32) -> Result<u64, MemError> {
        let bytes = self.read_bytes(addr, size)?;
        let mut buf = [0u8; 8];
        buf[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `size` bytes of `value` little-endian.
    pub fn store(&mut self, addr: u64, size: u32, value: u64) -> Result<(), MemError> {
        let (id, off) = self.resolve(addr, size)?;
        let region = &mut self.regions[usize::from(id.0)];
        if !region.writable {
            return Err(MemError::ReadOnly { kind: region.kind.clone(), offset: off, size });
        }
        region.bytes[off..off + size as usize].copy_from_slice(&value.to_le_bytes()[..size as usize]);
        Ok(())
    }

    /// Reads `len` bytes starting at `addr`.
    pub fn read_bytes(&self, addr: u64, len: u32) -> Result<&[u8], MemError> {
        let (id, off) = self.resolve(addr, len)?;
        Ok(&self.regions[usize::from(id.0)].bytes[off..off + len as usize])
    }

    /// Writes `data` starting at `addr`.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let size = u32::try_from(data.len()).map_err(|_| MemError::Unmapped { addr, size: u32::MAX })?;
        let (id, off) = self.resolve(addr, size)?;
        let region = &mut self.regions[usize::from(id.0)];
        if !region.writable {
            return Err(MemError::ReadOnly { kind: region.kind.clone(), offset: off, size });
        }
        region.bytes[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// One named field of a [`Layout`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Byte offset in the struct.
    pub offset: u32,
    /// Size in bytes (for a bitfield: the bytes its bits span, from `offset`).
    pub size: u32,
    /// For a bitfield: (first bit counted from bit 0 of the byte at `offset`, number of bits);
    /// `None` for a whole-byte field.
    pub bits: Option<(u32, u32)>,
}

/// The byte layout of a kernel struct: named fields with offsets and sizes. Written by hand in
/// tests or filled from BTF by a builder (one `push` per member).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Layout {
    /// Struct name (`sk_buff`, ...).
    pub name: String,
    /// Total size in bytes.
    pub size: u32,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

impl Layout {
    /// An empty layout of `size` bytes.
    pub fn new(name: &str, size: u32) -> Self {
        Layout { name: name.to_owned(), size, fields: Vec::new() }
    }

    /// Adds a field (builder style).
    pub fn field(mut self, name: &str, offset: u32, size: u32) -> Self {
        self.fields.push(Field { name: name.to_owned(), offset, size, bits: None });
        self
    }

    /// Adds a bitfield of `bit_size` bits starting at bit `bit_offset` of the struct (builder
    /// style); its `offset` is the byte holding the first bit.
    pub fn bitfield(mut self, name: &str, bit_offset: u32, bit_size: u32) -> Self {
        let offset = bit_offset / 8;
        let first = bit_offset % 8;
        let size = (first + bit_size).div_ceil(8);
        self.fields.push(Field { name: name.to_owned(), offset, size, bits: Some((first, bit_size)) });
        self
    }

    /// A field by name.
    pub fn find(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Zeroed bytes with the given fields set (little-endian); unknown names or values wider
    /// than their field are reported.
    pub fn instantiate(&self, values: &[(&str, u64)]) -> Result<Vec<u8>, LayoutError> {
        let mut bytes = vec![0u8; self.size as usize];
        for &(name, value) in values {
            let f = self
                .find(name)
                .ok_or_else(|| LayoutError::UnknownField { layout: self.name.clone(), field: name.into() })?;
            let (start, end) = (f.offset as usize, (f.offset + f.size) as usize);
            if f.size > 8 || end > bytes.len() {
                return Err(LayoutError::BadField { layout: self.name.clone(), field: name.into() });
            }
            let mut buf = [0u8; 8];
            buf[..f.size as usize].copy_from_slice(&bytes[start..end]);
            let value = merge_bits(u64::from_le_bytes(buf), value, f.bits);
            bytes[start..end].copy_from_slice(&value.to_le_bytes()[..f.size as usize]);
        }
        Ok(bytes)
    }

    /// Writes `values` into the instance of this layout at `addr` (for structs that live
    /// inside a larger region, like the `xdp_buff` at the start of a driver's wrapper).
    pub fn write_into(
        &self,
        memory: &mut Memory,
        addr: u64,
        values: &[(&str, u64)],
    ) -> Result<(), LayoutError> {
        for &(name, value) in values {
            let f = self.scalar(name)?;
            let bad = || LayoutError::BadField { layout: self.name.clone(), field: name.into() };
            let at = addr + u64::from(f.offset);
            let old = memory.load_bytes_le(at, f.size).map_err(|_| bad())?;
            let new = merge_bits(old, value, f.bits);
            memory.write_bytes(at, &new.to_le_bytes()[..f.size as usize]).map_err(|_| bad())?;
        }
        Ok(())
    }

    /// A field that can hold a scalar (at most 8 bytes, inside the struct).
    fn scalar(&self, name: &str) -> Result<&Field, LayoutError> {
        let f = self
            .find(name)
            .ok_or_else(|| LayoutError::UnknownField { layout: self.name.clone(), field: name.into() })?;
        if f.size > 8 || f.offset + f.size > self.size {
            return Err(LayoutError::BadField { layout: self.name.clone(), field: name.into() });
        }
        Ok(f)
    }

    /// The byte offset of field `name`.
    pub fn offset_of(&self, name: &str) -> Result<u32, LayoutError> {
        self.find(name)
            .map(|f| f.offset)
            .ok_or_else(|| LayoutError::UnknownField { layout: self.name.clone(), field: name.into() })
    }

    /// Reads field `name` of the instance at `addr` (bitfields are extracted).
    pub fn read(&self, memory: &Memory, addr: u64, name: &str) -> Result<u64, LayoutError> {
        let f = self.scalar(name)?;
        let bad = || LayoutError::BadField { layout: self.name.clone(), field: name.into() };
        let v = memory.load_bytes_le(addr + u64::from(f.offset), f.size).map_err(|_| bad())?;
        Ok(match f.bits {
            None => v,
            Some((first, width)) if width < 64 => (v >> first) & ((1u64 << width) - 1),
            Some((first, _)) => v >> first,
        })
    }
}

/// `value` placed into `old` at the bitfield `bits` (all of `value` for a plain field).
fn merge_bits(old: u64, value: u64, bits: Option<(u32, u32)>) -> u64 {
    match bits {
        None => value,
        Some((first, width)) => {
            let mask = if width >= 64 { u64::MAX } else { ((1u64 << width) - 1) << first };
            (old & !mask) | ((value << first) & mask)
        }
    }
}

/// Errors building memory from a [`Layout`].
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum LayoutError {
    /// The layout has no such field.
    #[error("struct {layout} has no field {field}")]
    UnknownField {
        /// Layout name.
        layout: String,
        /// Requested field.
        field: String,
    },
    /// The field is wider than 8 bytes or outside the struct.
    #[error("field {field} of struct {layout} cannot hold a scalar")]
    BadField {
        /// Layout name.
        layout: String,
        /// The field.
        field: String,
    },
    /// The BTF has no struct or union of that name.
    #[error("BTF has no struct or union named {name}")]
    MissingType {
        /// The requested type name.
        name: String,
    },
    /// The BTF could not be read or a type in it could not be resolved.
    #[error("BTF type {name}: {reason}")]
    Btf {
        /// The type being laid out.
        name: String,
        /// What failed.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_are_bounds_checked_per_region() {
        let mut mem = Memory::new();
        let a = mem.map(RegionKind::Plain, vec![1, 2, 3, 4], true);
        let b = mem.map(RegionKind::Context, vec![0; 8], false);
        let pa = Memory::addr(a, 0);
        assert_eq!(mem.load(pa, 4), Ok(0x0403_0201));
        assert_eq!(mem.load(pa + 2, 2), Ok(0x0403));
        assert!(matches!(mem.load(pa + 2, 4), Err(MemError::OutOfBounds { offset: 2, size: 4, len: 4, .. })));
        mem.store(pa + 1, 2, 0xaabb).expect("in bounds");
        assert_eq!(mem.region(a).map(|r| r.bytes.clone()), Some(vec![1, 0xbb, 0xaa, 4]));
        assert!(matches!(mem.store(Memory::addr(b, 0), 1, 0), Err(MemError::ReadOnly { .. })));
        assert!(matches!(mem.load(0x1000, 1), Err(MemError::Unmapped { .. })));
        assert!(matches!(mem.load(Memory::addr(RegionId(9), 0), 1), Err(MemError::Unmapped { .. })));
        // One byte below region b is reported as a negative offset of b.
        assert!(matches!(
            mem.load(Memory::addr(b, 0).wrapping_sub(1), 1),
            Err(MemError::OutOfBounds { kind: RegionKind::Context, offset: -1, .. })
        ));
    }

    #[test]
    fn layouts_instantiate_named_fields() {
        let l = Layout::new("xdp_buff", 56).field("data", 0, 8).field("frame_sz", 48, 4);
        let bytes = l.instantiate(&[("frame_sz", 4096), ("data", 0x1122)]).expect("fields exist");
        assert_eq!(&bytes[48..52], &4096u32.to_le_bytes());
        assert_eq!(&bytes[0..2], &[0x22, 0x11]);
        assert!(matches!(l.instantiate(&[("nope", 1)]), Err(LayoutError::UnknownField { .. })));
        let mut mem = Memory::new();
        let p = mem.map_struct(&l, &[("frame_sz", 7)]).expect("fields exist");
        assert_eq!(mem.load(p + 48, 4), Ok(7));
        assert!(matches!(mem.load(p + 56, 1), Err(MemError::OutOfBounds { .. })));
    }
}
