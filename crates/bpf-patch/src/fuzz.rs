//! Bodies of the fuzz targets in `fuzz/`, as plain functions so that the normal test suite runs
//! them on the committed seeds too. Each must return normally on any input: an `Err` is fine, a
//! panic is the bug being looked for.

use crate::insn::{slots_from_bytes, Endian};
use crate::op::{decode_all, encode_all};

/// Decodes arbitrary bytes as an instruction stream in both byte orders; whatever decodes must
/// re-encode to the same slots.
pub fn decode(data: &[u8]) {
    for endian in [Endian::Little, Endian::Big] {
        let Ok(slots) = slots_from_bytes(data, endian) else { return };
        if let Ok(ops) = decode_all(&slots) {
            let again = encode_all(ops.iter().map(|(_, op)| op));
            assert_eq!(again, slots, "decode/encode is not the identity");
        }
    }
}
