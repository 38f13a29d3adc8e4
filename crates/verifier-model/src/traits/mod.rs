//! Packet traits: the per-packet key/value store of Arthur Fabre's RFC (kernel-notes §E), as a
//! library codec over a byte buffer, plus the argument rules of its XDP kfuncs for the verifier.
//!
//! The store lives in the XDP headroom, `| xdp_frame | traits | headroom | XDP metadata | data |`
//! (§E.1): a 16-byte header ([`TraitHdr`], `struct __trait_hdr { u64 high; u64 low; }`) whose bit
//! `k` of each word holds half of key `k`'s two-bit size code, followed by the values of the set
//! keys packed (unaligned) in ascending key order (§E.2). Two formats ([`Format`]): the v1 sizes
//! 2 / 4 / 8 and the v2 sizes 0 (a flag) / 4 / 8.
//!
//! What lives here: the codec ([`codec`]: [`init`], [`set`], [`get`], [`del`], [`is_set`],
//! [`size`], [`decode`]) with the RFC's return codes as [`TraitError`] variants (each says which
//! `-errno` it stands for, [`TraitError::errno`]), and the kfuncs' argument rules ([`args`]) for
//! a verifier to check calls with. What does not: the interpreter's kfuncs, which find the area
//! inside an XDP frame and apply the overlap rules of §E.1, are in [`crate::interp::traits`].
//!
//! ```
//! use bpf_verifier_model::traits::{self, Format, TraitError};
//!
//! let mut area = [0u8; 24]; // trait start .. hard end
//! traits::init(&mut area).expect("16 bytes fit");
//! traits::set(&mut area, Format::V1, 7, &[1, 2], 0).expect("room for 2 bytes");
//! let mut out = [0u8; 8];
//! assert_eq!(traits::get(&area, Format::V1, 7, &mut out), Ok(2));
//! assert_eq!(&out[..2], &[1, 2]);
//! // 16 + 2 + 8 > 24: -ENOSPC.
//! let full = traits::set(&mut area, Format::V1, 9, &[0; 8], 0);
//! assert_eq!(full.map_err(|e| e.errno()), Err(-28));
//! assert_eq!(traits::get(&area, Format::V1, 9, &mut out), Err(TraitError::NotSet { key: 9 }));
//! ```

pub mod args;
pub mod codec;
#[cfg(test)]
mod tests;

use thiserror::Error;

pub use args::{trait_kfunc, trait_kfunc_args, ArgRule, BufferAccess, TraitKfunc, TRAIT_KFUNCS};
pub use codec::{check_set, decode, del, get, init, is_set, set, size, TraitHdr};

/// `EINVAL`.
pub const EINVAL: i64 = 22;
/// `EBUSY`.
pub const EBUSY: i64 = 16;
/// `ENOSPC`.
pub const ENOSPC: i64 = 28;
/// `ENOENT`.
pub const ENOENT: i64 = 2;
/// `ENOMEM`.
pub const ENOMEM: i64 = 12;
/// `EFAULT` (not an RFC return code: see [`TraitError::Corrupt`]).
pub const EFAULT: i64 = 14;
/// Keys are 0 ..= `MAX_KEY`.
pub const MAX_KEY: u64 = 63;

/// Which version of the RFC's size encoding an area uses (§E.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Format {
    /// v1 (seed 001, March 2025): codes `01` / `10` / `11` are 2 / 4 / 8 bytes.
    V1,
    /// v2 (April 2025): codes `01` / `10` / `11` are 0 (a flag) / 4 / 8 bytes.
    V2,
}

impl Format {
    /// Both formats.
    pub const ALL: [Format; 2] = [Format::V1, Format::V2];

    /// The value size of a non-zero two-bit size code (`None` for `00`, unset).
    pub fn size_of_code(self, code: u8) -> Option<usize> {
        match (self, code & 3) {
            (_, 0) => None,
            (Format::V1, 1) => Some(2),
            (Format::V2, 1) => Some(0),
            (_, 2) => Some(4),
            _ => Some(8),
        }
    }

    /// The size code of a value of `len` bytes, `None` when the format has no such size.
    pub fn code_of_size(self, len: u64) -> Option<u8> {
        match (self, len) {
            (Format::V1, 2) | (Format::V2, 0) => Some(1),
            (_, 4) => Some(2),
            (_, 8) => Some(3),
            _ => None,
        }
    }

    /// The value sizes the format can store, smallest first.
    pub fn sizes(self) -> [usize; 3] {
        match self {
            Format::V1 => [2, 4, 8],
            Format::V2 => [0, 4, 8],
        }
    }
}

/// Why a trait operation failed; [`TraitError::errno`] gives the RFC's return code.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum TraitError {
    /// `-EINVAL`: the key is not in 0..=63.
    #[error("trait key {key} is out of range (keys are 0..=63)")]
    KeyOutOfRange {
        /// The key.
        key: u64,
    },
    /// `-EINVAL` (set): the value size is not one the format can store.
    #[error("trait key {key}: a value of {len} bytes cannot be stored in format {format:?}")]
    BadSize {
        /// The key.
        key: u8,
        /// The requested size.
        len: u64,
        /// The area's format.
        format: Format,
    },
    /// `-EBUSY` (set): the key is already set with a value of another size.
    #[error("trait key {key} is set with {stored} bytes, not {len}")]
    SizeMismatch {
        /// The key.
        key: u8,
        /// The size stored.
        stored: usize,
        /// The size requested.
        len: usize,
    },
    /// `-ENOSPC` (set): header, values and the new value would pass the hard end.
    #[error("trait key {key}: no room for {len} more bytes ({used} of {room} used)")]
    NoSpace {
        /// The key.
        key: u8,
        /// The new value's size.
        len: usize,
        /// Bytes in use (header and values).
        used: usize,
        /// Bytes between the trait start and the hard end.
        room: usize,
    },
    /// `-ENOSPC` (get): the caller's buffer is smaller than the stored value.
    #[error("trait key {key} holds {stored} bytes, the buffer has {len}")]
    BufferTooSmall {
        /// The key.
        key: u8,
        /// The size stored.
        stored: usize,
        /// The buffer's size.
        len: u64,
    },
    /// `-ENOENT` (get, del): the key is not set.
    #[error("trait key {key} is not set")]
    NotSet {
        /// The key.
        key: u8,
    },
    /// `-ENOMEM` (init, `traits_init`): fewer than 16 bytes before the hard end.
    #[error("the trait header needs 16 bytes, {room} are available")]
    NoHeaderRoom {
        /// Bytes between the trait start and the hard end.
        room: usize,
    },
    /// `-EFAULT`, not an RFC code: the area is shorter than its header says it uses (or than a
    /// header). The kernel cannot get there (the overlap rules keep the area intact); a byte
    /// buffer from elsewhere can.
    #[error("the trait header describes {size} bytes, the area has {room}")]
    Corrupt {
        /// Bytes the header describes (16 + values).
        size: usize,
        /// Bytes in the area.
        room: usize,
    },
}

impl TraitError {
    /// The negative errno the RFC's function returns for this failure.
    pub fn errno(&self) -> i64 {
        -match self {
            TraitError::KeyOutOfRange { .. } | TraitError::BadSize { .. } => EINVAL,
            TraitError::SizeMismatch { .. } => EBUSY,
            TraitError::NoSpace { .. } | TraitError::BufferTooSmall { .. } => ENOSPC,
            TraitError::NotSet { .. } => ENOENT,
            TraitError::NoHeaderRoom { .. } => ENOMEM,
            TraitError::Corrupt { .. } => EFAULT,
        }
    }
}

/// A key as a header bit index, or [`TraitError::KeyOutOfRange`].
pub(crate) fn key_bit(key: u64) -> Result<u8, TraitError> {
    if key > MAX_KEY {
        return Err(TraitError::KeyOutOfRange { key });
    }
    Ok(key as u8)
}
