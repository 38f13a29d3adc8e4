//! `.BTF.ext`: func_info, line_info and CO-RE relocation records, parsed and written back.
//!
//! No crate parses and writes this section, so this is our own codec. Records of any size the
//! header declares are kept whole (fields this version does not know ride along untouched);
//! `insn_off`, the first field of every record, is a byte offset into the code section named by
//! `sec_name_off` (a `.BTF` string). [`BtfExt::write`] reproduces the input byte for byte when
//! nothing changed, and lays the subsections out contiguously when their sizes did.

use crate::insn::Endian;

/// Why `.BTF.ext` (or the `.BTF` string table it refers to) cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfExtError {
    /// Fewer bytes than a header or a record needs.
    #[error(".BTF.ext: {what} at byte {at} is truncated (section has {len} bytes)")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset.
        at: usize,
        /// Section length.
        len: usize,
    },
    /// The magic number is neither byte order of 0xeb9f.
    #[error("{section}: bad magic {magic:#06x} (expected 0xeb9f)")]
    BadMagic {
        /// `.BTF` or `.BTF.ext`.
        section: &'static str,
        /// The magic found.
        magic: u16,
    },
    /// A record size smaller than the fields every record has.
    #[error(".BTF.ext: {what} record size {size} is smaller than {min}")]
    RecordSize {
        /// Which subsection.
        what: &'static str,
        /// Declared size.
        size: u32,
        /// Minimum.
        min: u32,
    },
    /// A section name offset outside the `.BTF` string table.
    #[error(".BTF.ext: section name offset {off} is outside the .BTF string table ({len} bytes)")]
    BadName {
        /// The offset.
        off: u32,
        /// String table size.
        len: usize,
    },
}

/// Which subsection a record belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InfoKind {
    /// `bpf_func_info`: insn_off, type_id.
    Func,
    /// `bpf_line_info`: insn_off, file_name_off, line_off, line_col.
    Line,
    /// `bpf_core_relo`: insn_off, type_id, access_str_off, kind.
    CoreRelo,
}

impl InfoKind {
    fn name(self) -> &'static str {
        match self {
            InfoKind::Func => "func_info",
            InfoKind::Line => "line_info",
            InfoKind::CoreRelo => "core_relo",
        }
    }

    fn min_record(self) -> u32 {
        match self {
            InfoKind::Func => 8,
            InfoKind::Line | InfoKind::CoreRelo => 16,
        }
    }
}

/// The records of one code section in one subsection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoSec {
    /// Offset of the code section's name in the `.BTF` string table.
    pub sec_name_off: u32,
    /// Records, each `record_size` bytes in the file's byte order.
    pub records: Vec<Vec<u8>>,
}

/// One subsection (func_info, line_info or core_relo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoSection {
    /// Bytes per record, as declared.
    pub record_size: u32,
    /// Per code section.
    pub secs: Vec<InfoSec>,
    /// Where it was in the input (offset from the end of the header, length), to write an
    /// unchanged layout back exactly.
    original: Option<(u32, u32)>,
}

impl InfoSection {
    /// An empty subsection with the standard record size of `kind`.
    pub fn empty(kind: InfoKind) -> Self {
        InfoSection { record_size: kind.min_record(), secs: Vec::new(), original: None }
    }

    fn encoded_len(&self) -> u32 {
        if self.secs.is_empty() && self.original.is_some_and(|(_, len)| len == 0) {
            return 0;
        }
        4 + self.secs.iter().map(|s| 8 + s.records.len() as u32 * self.record_size).sum::<u32>()
    }
}

/// A parsed `.BTF.ext` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtfExt {
    /// Byte order of the file.
    pub endian: Endian,
    /// Header `version`.
    pub version: u8,
    /// Header `flags`.
    pub flags: u8,
    /// The header as read (its length is `hdr_len`; bytes past the known fields are kept).
    header: Vec<u8>,
    /// Function records.
    pub func_info: InfoSection,
    /// Line records.
    pub line_info: InfoSection,
    /// CO-RE relocation records (absent from headers shorter than 32 bytes).
    pub core_relo: Option<InfoSection>,
    /// Bytes after the last subsection, kept.
    trailer: Vec<u8>,
}

struct Reader<'a> {
    data: &'a [u8],
    endian: Endian,
}

impl Reader<'_> {
    fn u32(&self, at: usize, what: &'static str) -> Result<u32, BtfExtError> {
        let b = self.data.get(at..at.saturating_add(4)).ok_or(BtfExtError::Truncated {
            what,
            at,
            len: self.data.len(),
        })?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }
}

fn magic_endian(data: &[u8], section: &'static str) -> Result<Endian, BtfExtError> {
    let b = data.get(0..2).ok_or(BtfExtError::Truncated { what: "magic", at: 0, len: data.len() })?;
    match [b[0], b[1]] {
        [0x9f, 0xeb] => Ok(Endian::Little),
        [0xeb, 0x9f] => Ok(Endian::Big),
        _ => Err(BtfExtError::BadMagic { section, magic: u16::from_le_bytes([b[0], b[1]]) }),
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32, endian: Endian) {
    out.extend_from_slice(&match endian {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    });
}

impl BtfExt {
    /// Parses a `.BTF.ext` section.
    pub fn parse(data: &[u8]) -> Result<BtfExt, BtfExtError> {
        let endian = magic_endian(data, ".BTF.ext")?;
        let r = Reader { data, endian };
        let hdr_len = r.u32(4, "hdr_len")? as usize;
        let header =
            data.get(..hdr_len).ok_or(BtfExtError::Truncated { what: "header", at: 0, len: data.len() })?;
        if hdr_len < 24 {
            return Err(BtfExtError::Truncated { what: "header", at: hdr_len, len: 24 });
        }
        let sub = |off_at: usize, kind: InfoKind| -> Result<InfoSection, BtfExtError> {
            let off = r.u32(off_at, "subsection offset")?;
            let len = r.u32(off_at + 4, "subsection length")?;
            parse_info(&r, hdr_len, off, len, kind)
        };
        let func_info = sub(8, InfoKind::Func)?;
        let line_info = sub(16, InfoKind::Line)?;
        let core_relo = if hdr_len >= 32 { Some(sub(24, InfoKind::CoreRelo)?) } else { None };
        let end = [Some(&func_info), Some(&line_info), core_relo.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| s.original)
            .map(|(off, len)| hdr_len + off as usize + len as usize)
            .max()
            .unwrap_or(hdr_len);
        Ok(BtfExt {
            endian,
            version: data.get(2).copied().unwrap_or(0),
            flags: data.get(3).copied().unwrap_or(0),
            header: header.to_vec(),
            func_info,
            line_info,
            core_relo,
            trailer: data.get(end..).unwrap_or_default().to_vec(),
        })
    }

    /// The subsections present, with their kind.
    pub fn sections(&self) -> impl Iterator<Item = (InfoKind, &InfoSection)> {
        [
            (InfoKind::Func, Some(&self.func_info)),
            (InfoKind::Line, Some(&self.line_info)),
            (InfoKind::CoreRelo, self.core_relo.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
    }

    /// Mutable access to the subsections present.
    pub fn sections_mut(&mut self) -> impl Iterator<Item = (InfoKind, &mut InfoSection)> {
        [
            (InfoKind::Func, Some(&mut self.func_info)),
            (InfoKind::Line, Some(&mut self.line_info)),
            (InfoKind::CoreRelo, self.core_relo.as_mut()),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
    }

    /// Reads a record's `insn_off` (bytes into its code section).
    pub fn insn_off(&self, record: &[u8]) -> u32 {
        let a = [record[0], record[1], record[2], record[3]];
        match self.endian {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    /// Writes a record's `insn_off`.
    pub fn set_insn_off(&self, record: &mut [u8], off: u32) {
        let b = match self.endian {
            Endian::Little => off.to_le_bytes(),
            Endian::Big => off.to_be_bytes(),
        };
        record[..4].copy_from_slice(&b);
    }

    /// Serialises the section. Unchanged subsections keep their original place; if any changed
    /// size, all are laid out one after the other in header order.
    pub fn write(&self) -> Vec<u8> {
        let subs: Vec<&InfoSection> = self.sections().map(|(_, s)| s).collect();
        let unchanged = subs.iter().all(|s| s.original.is_some_and(|(_, len)| len == s.encoded_len()));
        let hdr_len = self.header.len() as u32;
        let mut placed = Vec::with_capacity(subs.len());
        let mut next = 0u32;
        for s in &subs {
            let len = s.encoded_len();
            let off = match (unchanged, s.original) {
                (true, Some((off, _))) => off,
                _ => next,
            };
            next = off + len;
            placed.push((off, len));
        }
        let mut out = self.header.clone();
        let mut set = |at: usize, v: u32| {
            let b = match self.endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            };
            out[at..at + 4].copy_from_slice(&b);
        };
        for (i, &(off, len)) in placed.iter().enumerate() {
            set(8 + 8 * i, off);
            set(12 + 8 * i, len);
        }
        let body_len = placed.iter().map(|&(off, len)| off + len).max().unwrap_or(0);
        out.resize((hdr_len + body_len) as usize, 0);
        for (s, &(off, len)) in subs.iter().zip(&placed) {
            if len == 0 {
                continue;
            }
            let mut body = Vec::with_capacity(len as usize);
            put_u32(&mut body, s.record_size, self.endian);
            for sec in &s.secs {
                put_u32(&mut body, sec.sec_name_off, self.endian);
                put_u32(&mut body, sec.records.len() as u32, self.endian);
                for r in &sec.records {
                    body.extend_from_slice(r);
                }
            }
            let at = (hdr_len + off) as usize;
            out[at..at + body.len()].copy_from_slice(&body);
        }
        if unchanged {
            out.extend_from_slice(&self.trailer);
        }
        out
    }
}

fn parse_info(
    r: &Reader<'_>,
    hdr_len: usize,
    off: u32,
    len: u32,
    kind: InfoKind,
) -> Result<InfoSection, BtfExtError> {
    let what = kind.name();
    let start = hdr_len.checked_add(off as usize).ok_or(BtfExtError::Truncated {
        what,
        at: usize::MAX,
        len: r.data.len(),
    })?;
    let end = start
        .checked_add(len as usize)
        .filter(|&e| e <= r.data.len())
        .ok_or(BtfExtError::Truncated { what, at: start, len: r.data.len() })?;
    if len == 0 {
        return Ok(InfoSection {
            record_size: kind.min_record(),
            secs: Vec::new(),
            original: Some((off, 0)),
        });
    }
    let record_size = r.u32(start, what)?;
    if record_size < kind.min_record() {
        return Err(BtfExtError::RecordSize { what, size: record_size, min: kind.min_record() });
    }
    let mut at = start + 4;
    let mut secs = Vec::new();
    while at < end {
        let sec_name_off = r.u32(at, what)?;
        let num = r.u32(at + 4, what)? as usize;
        at += 8;
        let bytes = num.checked_mul(record_size as usize).ok_or(BtfExtError::Truncated {
            what,
            at,
            len: r.data.len(),
        })?;
        let body = r
            .data
            .get(at..at.saturating_add(bytes))
            .filter(|_| at + bytes <= end)
            .ok_or(BtfExtError::Truncated { what, at, len: r.data.len() })?;
        let records = body.chunks_exact(record_size as usize).map(<[u8]>::to_vec).collect();
        secs.push(InfoSec { sec_name_off, records });
        at += bytes;
    }
    Ok(InfoSection { record_size, secs, original: Some((off, len)) })
}

/// The string table of a `.BTF` section, for the names `.BTF.ext` refers to.
pub fn btf_strings(btf: &[u8]) -> Result<&[u8], BtfExtError> {
    let endian = magic_endian(btf, ".BTF")?;
    let r = Reader { data: btf, endian };
    let hdr_len = r.u32(4, ".BTF hdr_len")? as usize;
    let str_off = r.u32(16, ".BTF str_off")? as usize;
    let str_len = r.u32(20, ".BTF str_len")? as usize;
    let start = hdr_len.saturating_add(str_off);
    btf.get(start..start.saturating_add(str_len)).ok_or(BtfExtError::Truncated {
        what: ".BTF strings",
        at: start,
        len: btf.len(),
    })
}

/// The NUL-terminated string at `off` of a string table.
pub fn string_at(strings: &[u8], off: u32) -> Result<&str, BtfExtError> {
    let bad = || BtfExtError::BadName { off, len: strings.len() };
    let tail = strings.get(off as usize..).ok_or_else(bad)?;
    let end = tail.iter().position(|&b| b == 0).ok_or_else(bad)?;
    std::str::from_utf8(&tail[..end]).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian .BTF.ext with one func_info, two line_info and one core_relo record for
    /// section name offset 5, written field by field.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        let w = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        v.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
        w(&mut v, 32); // hdr_len
                       // func_info at 0, len 4 + 8 + 8 = 20; line_info at 20, len 4 + 8 + 32 = 44;
                       // core_relo at 64, len 4 + 8 + 16 = 28
        for x in [0, 20, 20, 44, 64, 28] {
            w(&mut v, x);
        }
        for x in [8, 5, 1, 0, 7] {
            w(&mut v, x);
        }
        for x in [16, 5, 2, 0, 1, 2, 3, 16, 1, 2, 4] {
            w(&mut v, x);
        }
        for x in [16, 5, 1, 8, 9, 10, 0] {
            w(&mut v, x);
        }
        v
    }

    #[test]
    fn parse_and_write_are_inverse() {
        let bytes = sample();
        let ext = BtfExt::parse(&bytes).expect("valid");
        assert_eq!(ext.func_info.secs[0].records.len(), 1);
        assert_eq!(ext.line_info.secs[0].records.len(), 2);
        let core = ext.core_relo.as_ref().expect("hdr_len 32 has core_relo");
        assert_eq!(ext.insn_off(&core.secs[0].records[0]), 8);
        assert_eq!(ext.write(), bytes);
    }

    #[test]
    fn removing_a_record_relays_the_subsections() {
        let mut ext = BtfExt::parse(&sample()).expect("valid");
        ext.line_info.secs[0].records.pop();
        let again = BtfExt::parse(&ext.write()).expect("still valid");
        assert_eq!(again.line_info.secs[0].records.len(), 1);
        assert_eq!(
            again.core_relo,
            ext.core_relo.map(|mut c| {
                c.original = again.core_relo.as_ref().and_then(|a| a.original);
                c
            })
        );
    }

    #[test]
    fn damaged_sections_are_errors_not_panics() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let _ = BtfExt::parse(&bytes[..cut]);
        }
        assert!(matches!(BtfExt::parse(&[1, 2, 3, 4]), Err(BtfExtError::BadMagic { .. })));
        let mut small = bytes.clone();
        small[32..36].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(BtfExt::parse(&small), Err(BtfExtError::RecordSize { size: 4, .. })));
    }
}
