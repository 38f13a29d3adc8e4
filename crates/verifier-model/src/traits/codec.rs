//! The trait codec: the header, and get / set / delete on an area of bytes that runs from the
//! trait start to the hard end (v1: `data_meta`, v2: `data`; kernel-notes §E.1-§E.3).
//!
//! Every operation reads the header from the area's first 16 bytes (little-endian `u64`s,
//! `high` then `low`, as the kernel's `struct __trait_hdr` is on a little-endian machine) and
//! checks that the bytes it touches (for a move or an insert: all values) lie in the area
//! ([`TraitError::Corrupt`] otherwise).
//! Lookups cost two popcounts; inserting or deleting moves the values of the higher keys with
//! one `copy_within`, as the RFC's `memmove` (later its inline move) does. Bytes past the used
//! size are never read as values and are left as they were (a delete does not clear them).

use super::{key_bit, Format, TraitError};

/// `struct __trait_hdr`: bit `k` of `high` and of `low` form key `k`'s size code
/// `(high_bit, low_bit)`.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct TraitHdr {
    /// High bits of the size codes.
    pub high: u64,
    /// Low bits of the size codes.
    pub low: u64,
}

impl TraitHdr {
    /// `sizeof(struct __trait_hdr)`.
    pub const SIZE: usize = 16;

    /// Reads the header from the first 16 bytes of `area` (`None` when it is shorter).
    pub fn read(area: &[u8]) -> Option<TraitHdr> {
        let high = area.get(0..8)?.try_into().ok()?;
        let low = area.get(8..16)?.try_into().ok()?;
        Some(TraitHdr { high: u64::from_le_bytes(high), low: u64::from_le_bytes(low) })
    }

    /// The 16 bytes of the header.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.high.to_le_bytes());
        b[8..].copy_from_slice(&self.low.to_le_bytes());
        b
    }

    /// Key `key`'s two-bit size code (`key` < 64).
    pub fn code(self, key: u8) -> u8 {
        (((self.high >> key) & 1) << 1 | ((self.low >> key) & 1)) as u8
    }

    /// Whether key `key` (< 64) is set.
    pub fn contains(self, key: u8) -> bool {
        (self.high | self.low) >> key & 1 != 0
    }

    /// The set keys, ascending.
    pub fn keys(self) -> impl Iterator<Item = u8> {
        let set = self.high | self.low;
        (0..64u8).filter(move |k| set >> k & 1 != 0)
    }

    /// The header restricted to the keys whose bit is set in `mask`.
    pub fn masked(self, mask: u64) -> TraitHdr {
        TraitHdr { high: self.high & mask, low: self.low & mask }
    }

    /// Total length of the values the header describes (§E.2's popcount formula).
    pub fn values_len(self, format: Format) -> usize {
        let (h, both) = (self.high.count_ones(), (self.high & self.low).count_ones());
        let n = match format {
            Format::V1 => 2 * self.low.count_ones() + 4 * h + 2 * both,
            Format::V2 => 4 * h + 4 * both,
        };
        n as usize
    }

    /// Where key `key`'s value starts in the area: 16 + the length of the values of the keys
    /// below it (`mask = ~(~0 << key)`).
    pub fn value_offset(self, format: Format, key: u8) -> usize {
        let below = !(u64::MAX << key);
        Self::SIZE + self.masked(below).values_len(format)
    }

    /// The size of key `key`'s value, `None` when it is not set.
    pub fn value_len(self, format: Format, key: u8) -> Option<usize> {
        format.size_of_code(self.code(key))
    }

    /// The header with key `key`'s size code replaced by `code` (0 clears it).
    pub fn with_code(self, key: u8, code: u8) -> TraitHdr {
        let bit = 1u64 << key;
        TraitHdr {
            high: (self.high & !bit) | (u64::from(code >> 1 & 1) << key),
            low: (self.low & !bit) | (u64::from(code & 1) << key),
        }
    }
}

/// Reads the header (`Corrupt` when the area is shorter).
fn header(area: &[u8]) -> Result<TraitHdr, TraitError> {
    TraitHdr::read(area).ok_or(TraitError::Corrupt { size: TraitHdr::SIZE, room: area.len() })
}

/// `off .. off + len` if it lies in the area.
fn span(area: &[u8], off: usize, len: usize) -> Result<std::ops::Range<usize>, TraitError> {
    if off + len > area.len() {
        return Err(TraitError::Corrupt { size: off + len, room: area.len() });
    }
    Ok(off..off + len)
}

/// Reads the header and checks the values it describes fit in `area`; returns it with the
/// used size (`traits_size`).
fn open(area: &[u8], format: Format) -> Result<(TraitHdr, usize), TraitError> {
    let room = area.len();
    let h = header(area)?;
    let size = TraitHdr::SIZE + h.values_len(format);
    if size > room {
        return Err(TraitError::Corrupt { size, room });
    }
    Ok((h, size))
}

/// `traits_init`: zeroes the header. `-ENOMEM` ([`TraitError::NoHeaderRoom`]) when the area is
/// shorter than 16 bytes.
pub fn init(area: &mut [u8]) -> Result<(), TraitError> {
    let room = area.len();
    let hdr = area.get_mut(..TraitHdr::SIZE).ok_or(TraitError::NoHeaderRoom { room })?;
    hdr.fill(0);
    Ok(())
}

/// `traits_size`: header plus values, in bytes.
pub fn size(area: &[u8], format: Format) -> Result<usize, TraitError> {
    open(area, format).map(|(_, size)| size)
}

/// `trait_set(traits, hard_end, key, val, len, flags)` with `val.len()` as `len`. Returns 0 on
/// success; in this order: `-EINVAL` for a key above 63 ([`TraitError::KeyOutOfRange`]) or a
/// size the format cannot store ([`TraitError::BadSize`]); for a key already set, `-EBUSY` when
/// its size differs ([`TraitError::SizeMismatch`]), else the value is overwritten in place; for
/// a new key, `-ENOSPC` when `16 + values + len` passes the hard end
/// ([`TraitError::NoSpace`]), else the values of higher keys move up by `len` and the value is
/// inserted. `flags` is reserved and, as in the RFC's inline code, not checked.
pub fn set(area: &mut [u8], format: Format, key: u64, val: &[u8], flags: u64) -> Result<(), TraitError> {
    let _ = flags;
    let (k, code) = check_set(format, key, val.len() as u64)?;
    let h = header(area)?;
    let len = val.len();
    let off = h.value_offset(format, k);
    match h.value_len(format, k) {
        Some(stored) if stored != len => return Err(TraitError::SizeMismatch { key: k, stored, len }),
        Some(_) => {}
        None => {
            let (_, used) = open(area, format)?;
            if used + len > area.len() {
                return Err(TraitError::NoSpace { key: k, len, used, room: area.len() });
            }
            area.copy_within(off..used, off + len);
            area[..TraitHdr::SIZE].copy_from_slice(&h.with_code(k, code).to_bytes());
        }
    }
    let at = span(area, off, len)?;
    area[at].copy_from_slice(val);
    Ok(())
}

/// The argument checks of [`set`] that need no area: the key as a bit index and the size code
/// of a `len`-byte value. The interpreter runs them before reading the value from memory.
pub fn check_set(format: Format, key: u64, len: u64) -> Result<(u8, u8), TraitError> {
    let k = key_bit(key)?;
    let code = format.code_of_size(len).ok_or(TraitError::BadSize { key: k, len, format })?;
    Ok((k, code))
}

/// `trait_get(traits, key, val, val_len)` with `out.len()` as `val_len`: copies the value into
/// the start of `out` and returns its size (v1: 2, 4 or 8; v2 also 0 for a flag). `-EINVAL` for
/// a key above 63, `-ENOENT` when it is not set ([`TraitError::NotSet`]), `-ENOSPC` when `out` is
/// shorter than the value ([`TraitError::BufferTooSmall`]; nothing is copied).
pub fn get(area: &[u8], format: Format, key: u64, out: &mut [u8]) -> Result<usize, TraitError> {
    let k = key_bit(key)?;
    let h = header(area)?;
    let stored = h.value_len(format, k).ok_or(TraitError::NotSet { key: k })?;
    if stored > out.len() {
        return Err(TraitError::BufferTooSmall { key: k, stored, len: out.len() as u64 });
    }
    let at = span(area, h.value_offset(format, k), stored)?;
    out[..stored].copy_from_slice(&area[at]);
    Ok(stored)
}

/// `trait_del(traits, key)`: the values of higher keys move down over the value and the key's
/// size code is cleared; returns 0. `-EINVAL` for a key above 63, `-ENOENT` when it is not set.
pub fn del(area: &mut [u8], format: Format, key: u64) -> Result<(), TraitError> {
    let k = key_bit(key)?;
    let (h, used) = open(area, format)?;
    let len = h.value_len(format, k).ok_or(TraitError::NotSet { key: k })?;
    let off = h.value_offset(format, k);
    area.copy_within(off + len..used, off);
    area[..TraitHdr::SIZE].copy_from_slice(&h.with_code(k, 0).to_bytes());
    Ok(())
}

/// v2's `trait_is_set`: whether the key is set. The notes did not read its return convention;
/// the kfunc returns 1 / 0 for `Ok(true)` / `Ok(false)` and `-EINVAL` for a key above 63. The
/// header alone decides, so this works on v1 areas too.
pub fn is_set(area: &[u8], key: u64) -> Result<bool, TraitError> {
    let k = key_bit(key)?;
    Ok(header(area)?.contains(k))
}

/// Every set key with its value, ascending.
pub fn decode(area: &[u8], format: Format) -> Result<Vec<(u8, &[u8])>, TraitError> {
    let (h, _) = open(area, format)?;
    let mut off = TraitHdr::SIZE;
    let mut out = Vec::new();
    for k in h.keys() {
        let len = h.value_len(format, k).expect("keys() yields set keys");
        out.push((k, &area[off..off + len]));
        off += len;
    }
    Ok(out)
}
