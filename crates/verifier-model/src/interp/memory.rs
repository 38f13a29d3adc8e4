//! The interpreter's memory: typed regions with bounds in a synthetic 64-bit address space.
//!
//! Every region (a stack frame, the context, the packet, a caller-provided buffer) is mapped at
//! its own base address, far apart from the others, so a pointer is a plain `u64` and pointer
//! arithmetic behaves as on the machine. An access that leaves its region, touches no region, or
//! writes a read-only one is a [`MemError`], never a panic. Helpers see the same [`Memory`].

use std::fmt;

/// Base address of the stack of frame 0; frame `d` lives at `STACK_BASE + d * STACK_STRIDE`.
pub const STACK_BASE: u64 = 0x1000_0000;
/// Distance between the stacks of consecutive frames.
pub const STACK_STRIDE: u64 = 0x1_0000;
/// Bytes of stack per frame (`MAX_BPF_STACK`).
pub const STACK_SIZE: usize = 512;
/// At most this many frames (the kernel's `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;
/// Base address of the first region mapped with [`Memory::map`]; later ones follow at
/// [`REGION_STRIDE`] intervals.
pub const REGION_BASE: u64 = 0x1_0000_0000;
/// Distance between regions mapped with [`Memory::map`].
pub const REGION_STRIDE: u64 = 0x1_0000_0000;

/// What a region models.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum RegionKind {
    /// The 512-byte stack of the frame at this call depth (0 = the entry function).
    Stack {
        /// Call depth of the frame.
        depth: u8,
    },
    /// The program context (`xdp_md`, `__sk_buff`, ...).
    Context,
    /// Packet data.
    Packet,
    /// A buffer the caller mapped (conformance `-- mem`, map values, ...).
    Buffer,
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Stack { depth } => write!(f, "stack of frame {depth}"),
            RegionKind::Context => f.write_str("context"),
            RegionKind::Packet => f.write_str("packet"),
            RegionKind::Buffer => f.write_str("buffer"),
        }
    }
}

/// Why a memory access failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum MemError {
    /// The access starts inside a region but does not fit in it.
    #[error("{size}-byte access at {addr:#x} leaves the {kind} [{base:#x}, +{len})")]
    OutOfBounds {
        /// First byte accessed.
        addr: u64,
        /// Bytes accessed.
        size: u64,
        /// The region the access started in.
        kind: RegionKind,
        /// Its base address.
        base: u64,
        /// Its length in bytes.
        len: u64,
    },
    /// No live region contains the address.
    #[error("{size}-byte access at {addr:#x} touches no mapped memory")]
    Unmapped {
        /// First byte accessed.
        addr: u64,
        /// Bytes accessed.
        size: u64,
    },
    /// A write to a read-only region.
    #[error("write of {size} bytes at {addr:#x} into the read-only {kind}")]
    ReadOnly {
        /// First byte written.
        addr: u64,
        /// Bytes written.
        size: u64,
        /// The region.
        kind: RegionKind,
    },
}

/// One mapped region.
#[derive(Clone, Debug)]
pub struct Region {
    /// What it models.
    pub kind: RegionKind,
    /// Its base address.
    pub base: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether programs may write it.
    pub writable: bool,
    /// Dead regions (stacks of returned frames) are unmapped for accesses.
    pub live: bool,
}

impl Region {
    fn contains(&self, addr: u64) -> bool {
        self.live && addr >= self.base && addr - self.base < self.bytes.len() as u64
    }
}

/// The address space: per-frame stacks plus the regions the caller mapped.
#[derive(Clone, Debug)]
pub struct Memory {
    stacks: Vec<Region>,
    regions: Vec<Region>,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    /// An address space with [`MAX_FRAMES`] stacks (all dead until a frame enters) and no other
    /// region.
    pub fn new() -> Self {
        let stacks = (0..MAX_FRAMES)
            .map(|d| Region {
                kind: RegionKind::Stack { depth: u8::try_from(d).expect("MAX_FRAMES fits in u8") },
                base: STACK_BASE + d as u64 * STACK_STRIDE,
                bytes: vec![0; STACK_SIZE],
                writable: true,
                live: false,
            })
            .collect();
        Memory { stacks, regions: Vec::new() }
    }

    /// Maps `bytes` as a new region and returns its base address.
    pub fn map(&mut self, kind: RegionKind, bytes: Vec<u8>, writable: bool) -> u64 {
        let base = REGION_BASE + self.regions.len() as u64 * REGION_STRIDE;
        self.regions.push(Region { kind, base, bytes, writable, live: true });
        base
    }

    /// The region mapped at exactly `base`, if any (to read a buffer back after a run).
    pub fn region(&self, base: u64) -> Option<&Region> {
        self.stacks.iter().chain(&self.regions).find(|r| r.base == base)
    }

    /// All regions mapped with [`Memory::map`], in mapping order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Makes the stack of frame `depth` live and zeroed; returns its frame pointer (one past its
    /// top, the value of R10). `None` when `depth >= MAX_FRAMES`.
    pub fn enter_frame(&mut self, depth: usize) -> Option<u64> {
        let stack = self.stacks.get_mut(depth)?;
        stack.live = true;
        stack.bytes.fill(0);
        Some(stack.base + STACK_SIZE as u64)
    }

    /// Unmaps the stack of frame `depth` (the frame returned).
    pub fn leave_frame(&mut self, depth: usize) {
        if let Some(stack) = self.stacks.get_mut(depth) {
            stack.live = false;
        }
    }

    fn find(&self, addr: u64, size: u64) -> Result<usize, MemError> {
        let all = self.stacks.iter().chain(&self.regions);
        for (i, r) in all.enumerate() {
            if r.contains(addr) {
                let end = addr.checked_add(size);
                let fits = end.is_some_and(|e| e - r.base <= r.bytes.len() as u64);
                if !fits {
                    return Err(MemError::OutOfBounds {
                        addr,
                        size,
                        kind: r.kind,
                        base: r.base,
                        len: r.bytes.len() as u64,
                    });
                }
                return Ok(i);
            }
        }
        Err(MemError::Unmapped { addr, size })
    }

    fn at(&self, i: usize) -> &Region {
        if i < self.stacks.len() {
            &self.stacks[i]
        } else {
            &self.regions[i - self.stacks.len()]
        }
    }

    fn at_mut(&mut self, i: usize) -> &mut Region {
        if i < self.stacks.len() {
            &mut self.stacks[i]
        } else {
            let n = self.stacks.len();
            &mut self.regions[i - n]
        }
    }

    /// Reads `out.len()` bytes at `addr`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), MemError> {
        let r = self.at(self.find(addr, out.len() as u64)?);
        let off = (addr - r.base) as usize;
        out.copy_from_slice(&r.bytes[off..off + out.len()]);
        Ok(())
    }

    /// Writes `data` at `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let i = self.find(addr, data.len() as u64)?;
        let r = self.at_mut(i);
        if !r.writable {
            return Err(MemError::ReadOnly { addr, size: data.len() as u64, kind: r.kind });
        }
        let off = (addr - r.base) as usize;
        r.bytes[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Reads a little-endian unsigned value of `size` bytes (1, 2, 4 or 8), zero-extended.
    pub fn load(&self, addr: u64, size: u32) -> Result<u64, MemError> {
        let mut buf = [0u8; 8];
        let n = (size as usize).min(8);
        self.read(addr, &mut buf[..n])?;
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `size` bytes (1, 2, 4 or 8) of `value`, little-endian.
    pub fn store(&mut self, addr: u64, size: u32, value: u64) -> Result<(), MemError> {
        let n = (size as usize).min(8);
        self.write(addr, &value.to_le_bytes()[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_are_bounded_per_region() {
        let mut m = Memory::new();
        let base = m.map(RegionKind::Buffer, vec![1, 2, 3, 4], true);
        let ro = m.map(RegionKind::Context, vec![9; 8], false);
        assert_eq!(m.load(base, 4), Ok(0x0403_0201));
        assert_eq!(m.load(base + 2, 2), Ok(0x0403));
        assert!(matches!(m.load(base + 2, 4), Err(MemError::OutOfBounds { len: 4, .. })));
        assert!(matches!(m.load(base + 4, 1), Err(MemError::Unmapped { .. })));
        assert!(matches!(m.load(u64::MAX, 8), Err(MemError::Unmapped { .. })));
        assert!(matches!(m.store(ro, 1, 0), Err(MemError::ReadOnly { .. })));
        assert_eq!(m.store(base, 2, 0xaabb), Ok(()));
        assert_eq!(m.region(base).map(|r| r.bytes.clone()), Some(vec![0xbb, 0xaa, 3, 4]));
    }

    #[test]
    fn stacks_are_mapped_only_while_their_frame_lives() {
        let mut m = Memory::new();
        assert!(m.load(STACK_BASE, 8).is_err());
        let fp = m.enter_frame(0).expect("frame 0 exists");
        assert_eq!(m.store(fp - 8, 8, 7), Ok(()));
        assert_eq!(m.load(fp - 8, 8), Ok(7));
        assert!(matches!(m.load(fp - 4, 8), Err(MemError::OutOfBounds { .. })));
        m.leave_frame(0);
        assert!(matches!(m.load(fp - 8, 8), Err(MemError::Unmapped { .. })));
        assert_eq!(m.enter_frame(MAX_FRAMES), None);
    }
}
