//! The raw 8-byte instruction slot ([`Insn`]), the two index spaces ([`Slot`] and [`InsnIdx`]),
//! and byte-level decoding and encoding of slot streams.
//!
//! This module knows nothing about what an instruction means; see [`crate::op`] for the typed
//! view and [`crate::filter`] for constructors.

use std::fmt;

use crate::opcode::{BPF_INSN_SZ, LD_IMM64};

/// One 8-byte BPF instruction slot, exactly as the kernel's `struct bpf_insn`.
///
/// `ld_imm64` occupies two slots; the second has `code == 0` and carries the upper 32 bits of the
/// immediate in `imm`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble (little-endian layout).
    regs: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds a slot from its fields. Register numbers are taken modulo 16 (4-bit fields).
    pub const fn new(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Self {
        Insn { code, regs: (dst_reg & 0x0f) | ((src_reg & 0x0f) << 4), off, imm }
    }

    /// The destination register field (0-15; values above 10 are invalid registers).
    pub const fn dst_reg(&self) -> u8 {
        self.regs & 0x0f
    }

    /// The source register field (0-15).
    pub const fn src_reg(&self) -> u8 {
        self.regs >> 4
    }

    /// Sets the destination register field.
    pub fn set_dst_reg(&mut self, reg: u8) {
        self.regs = (self.regs & 0xf0) | (reg & 0x0f);
    }

    /// Sets the source register field.
    pub fn set_src_reg(&mut self, reg: u8) {
        self.regs = (self.regs & 0x0f) | ((reg & 0x0f) << 4);
    }

    /// True for the first slot of `ld_imm64` (`BPF_LD | BPF_IMM | BPF_DW`).
    pub const fn is_ld_imm64(&self) -> bool {
        self.code == LD_IMM64
    }

    /// Encodes the slot as 8 bytes in the given byte order.
    pub fn to_bytes(self, endian: Endian) -> [u8; BPF_INSN_SZ] {
        let mut out = [0u8; BPF_INSN_SZ];
        out[0] = self.code;
        match endian {
            Endian::Little => {
                out[1] = self.regs;
                out[2..4].copy_from_slice(&self.off.to_le_bytes());
                out[4..8].copy_from_slice(&self.imm.to_le_bytes());
            }
            Endian::Big => {
                out[1] = (self.dst_reg() << 4) | self.src_reg();
                out[2..4].copy_from_slice(&self.off.to_be_bytes());
                out[4..8].copy_from_slice(&self.imm.to_be_bytes());
            }
        }
        out
    }

    /// Decodes one slot from 8 bytes in the given byte order.
    pub fn from_bytes(bytes: [u8; BPF_INSN_SZ], endian: Endian) -> Self {
        match endian {
            Endian::Little => Insn {
                code: bytes[0],
                regs: bytes[1],
                off: i16::from_le_bytes([bytes[2], bytes[3]]),
                imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            },
            Endian::Big => Insn::new(
                bytes[0],
                bytes[1] >> 4,
                bytes[1] & 0x0f,
                i16::from_be_bytes([bytes[2], bytes[3]]),
                i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            ),
        }
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Insn {{ code: {:#04x}, dst: {}, src: {}, off: {}, imm: {} }}",
            self.code,
            self.dst_reg(),
            self.src_reg(),
            self.off,
            self.imm
        )
    }
}

/// Byte order of an instruction stream. The kernel runs the host's order; BPF ELF objects say
/// theirs in `e_ident[EI_DATA]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Endian {
    /// Little-endian (`EM_BPF` objects for x86, arm64, ...).
    #[default]
    Little,
    /// Big-endian (s390x, `-target bpfeb`).
    Big,
}

/// Position of an 8-byte slot in an instruction stream (what jump offsets, `insn_off / 8` and
/// `r_offset / 8` count). `ld_imm64` spans two consecutive slots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Slot(pub u32);

impl Slot {
    /// The slot as a `usize` for indexing slices.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Byte offset of the slot (`8 * slot`), as used by ELF `r_offset` and `.BTF.ext` `insn_off`.
    pub const fn byte_offset(self) -> u64 {
        self.0 as u64 * BPF_INSN_SZ as u64
    }

    /// The slot at a byte offset, if the offset is a multiple of 8 and fits.
    pub fn from_byte_offset(bytes: u64) -> Option<Slot> {
        if bytes % BPF_INSN_SZ as u64 != 0 {
            return None;
        }
        u32::try_from(bytes / BPF_INSN_SZ as u64).ok().map(Slot)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Position of a logical instruction (an `ld_imm64` counts once) in a decoded program.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct InsnIdx(pub u32);

impl InsnIdx {
    /// The index as a `usize` for indexing slices.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for InsnIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A byte buffer whose length is not a multiple of 8 cannot hold instructions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction stream of {len} bytes is not a multiple of 8 bytes ({trailing} trailing bytes at byte offset {at})")]
pub struct TrailingBytes {
    /// Length of the buffer in bytes.
    pub len: usize,
    /// Number of bytes after the last whole slot.
    pub trailing: usize,
    /// Byte offset of the first trailing byte.
    pub at: usize,
}

/// Splits a byte buffer into slots. Fails if the length is not a multiple of 8.
pub fn slots_from_bytes(bytes: &[u8], endian: Endian) -> Result<Vec<Insn>, TrailingBytes> {
    let trailing = bytes.len() % BPF_INSN_SZ;
    if trailing != 0 {
        return Err(TrailingBytes { len: bytes.len(), trailing, at: bytes.len() - trailing });
    }
    Ok(bytes
        .chunks_exact(BPF_INSN_SZ)
        .map(|c| {
            let mut a = [0u8; BPF_INSN_SZ];
            a.copy_from_slice(c);
            Insn::from_bytes(a, endian)
        })
        .collect())
}

/// Serialises slots into bytes.
pub fn slots_to_bytes(insns: &[Insn], endian: Endian) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * BPF_INSN_SZ);
    for insn in insns {
        out.extend_from_slice(&insn.to_bytes(endian));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_in_both_byte_orders() {
        // r1 = *(u32 *)(r10 - 0x4)  =  61 a1 fc ff 00 00 00 00
        let le = [0x61, 0xa1, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00];
        let insn = Insn::from_bytes(le, Endian::Little);
        assert_eq!((insn.code, insn.dst_reg(), insn.src_reg(), insn.off, insn.imm), (0x61, 1, 10, -4, 0));
        assert_eq!(insn.to_bytes(Endian::Little), le);
        let be = insn.to_bytes(Endian::Big);
        assert_eq!(be, [0x61, 0x1a, 0xff, 0xfc, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(Insn::from_bytes(be, Endian::Big), insn);
    }

    #[test]
    fn trailing_bytes_are_reported_with_their_offset() {
        let err = slots_from_bytes(&[0u8; 13], Endian::Little).expect_err("13 bytes is not whole slots");
        assert_eq!(err, TrailingBytes { len: 13, trailing: 5, at: 8 });
    }

    #[test]
    fn slot_byte_offsets_must_be_aligned() {
        assert_eq!(Slot::from_byte_offset(16), Some(Slot(2)));
        assert_eq!(Slot::from_byte_offset(12), None);
        assert_eq!(Slot(3).byte_offset(), 24);
    }
}
