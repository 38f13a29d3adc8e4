//! A tiny raw BTF writer for tests: ints, pointers and structs (with bitfield members), as a
//! standalone (vmlinux-like) or split (module-like) BTF, so `--btf` / `--base-btf` can be
//! exercised with layouts chosen by the test.

/// Builds one BTF blob.
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    str_base: u32,
    next_id: u32,
}

/// A struct member: name, type id, bit offset, bitfield size (0: not a bitfield).
pub type Member<'a> = (&'a str, u32, u32, u32);

impl BtfBuilder {
    /// A standalone BTF.
    pub fn new() -> BtfBuilder {
        BtfBuilder { types: Vec::new(), strings: vec![0], str_base: 0, next_id: 1 }
    }

    /// A split BTF on `base` (ids and string offsets continue from it).
    pub fn split(base: &BtfBuilder) -> BtfBuilder {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            str_base: base.str_base + base.strings.len() as u32,
            next_id: base.next_id,
        }
    }

    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    /// An unsigned integer of `size` bytes.
    pub fn int(&mut self, name: &str, size: u32) -> u32 {
        let n = self.name(name);
        self.push(&[n, 1 << 24, size, size * 8])
    }

    /// A pointer to type `to`.
    pub fn ptr(&mut self, to: u32) -> u32 {
        self.push(&[0, 2 << 24, to])
    }

    /// A struct of `size` bytes.
    pub fn strukt(&mut self, name: &str, size: u32, members: &[Member<'_>]) -> u32 {
        let n = self.name(name);
        let bitfields = members.iter().any(|m| m.3 > 0);
        let info = (4 << 24) | members.len() as u32 | (u32::from(bitfields) << 31);
        let mut words = vec![n, info, size];
        for &(m, ty, bit, bits) in members {
            let mn = self.name(m);
            words.extend([mn, ty, if bitfields { (bits << 24) | bit } else { bit }]);
        }
        self.push(&words)
    }

    /// The raw BTF bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let t = self.types.len() as u32;
        let s = self.strings.len() as u32;
        for w in [0x0001_eb9f_u32, 24, 0, t, t, s] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
