//! The trusted-region mode (issue 7, "Unrolled code"): code that `bpfpatch unroll --lowering
//! kernel` put in place of a kfunc call reads the driver's wrapper through the context, as the
//! 2022 RFC's kernel did after verification. Today's verifier rejects those loads ("invalid
//! bpf_context access"); in this mode they are typed as the RFC's kernel would have trusted
//! them, so that the rest of the program is still checked.
//!
//! What lives here: the description of the regions and of the memory they may read
//! ([`TrustedRegions`]: the regions, the wrapper's [`Layout`], the structs its pointer fields
//! point to, the routines callable under the `xdp_kfunc_call_preserving_r1` contract), the same
//! regions placed in one linked program ([`ProgramRegions`]), and the field lookup a load
//! through a typed pointer makes ([`field_at`]). The rules the explorer applies inside a region
//! are in `explore::trusted`.
//!
//! Inside a region only:
//! - a load through the context at a field of the wrapper gives a scalar, or for a pointer field
//!   a trusted kernel pointer ([`PtrKind::Trusted`] typed by the pointee's layout, or
//!   [`PtrKind::TrustedMem`] for untyped memory), NULL-able when [`PointerField::nullable`]
//!   says so; a load through a NULL-able one before its NULL check is rejected as the kernel
//!   does (`R3 invalid mem access 'trusted_ptr_or_null_'`);
//! - loads through a typed pointer at a field of its layout give scalars or further pointers;
//!   a typed pointer plus a variable gives untyped trusted memory, whose loads give scalars;
//! - stores go to the context's fields and to untyped trusted memory (the RFC's
//!   `export_to_skb` moves `data_meta` and fills the block there); a typed pointer is read only;
//!   a pointer into program memory stored into kernel memory is handed to the kernel, which may
//!   write 8 bytes there (the `_out` routines' out pointer); a trusted pointer stored anywhere
//!   else escapes and is an error;
//! - a call must be a contract routine (R1 the context): it returns the context in R0 and
//!   clobbers R1-R5; any other call, and `exit`, is an error;
//! - leaving the region anywhere but at its end is an error; at its end R2-R5 become
//!   unreadable (as after a call), R0 must be a scalar and no register may hold a trusted
//!   pointer (the error names it).
//!
//! Outside regions nothing changes: the context stays the uapi context.

use std::ops::Range;

use bpf_patch::Slot;

use crate::interp::Layout;

#[cfg(doc)]
use super::state::PtrKind;

/// One unrolled region: `len` slots from slot `start` of function `function` (slots counted
/// from the function's first instruction, as `unroll --json` reports them).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrustedRegion {
    /// The function symbol.
    pub function: String,
    /// First slot, from the function's first instruction.
    pub start: Slot,
    /// Slots in the region.
    pub len: u32,
}

/// What a pointer field points to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Pointee {
    /// The struct with this layout name (one of [`TrustedRegions::layouts`]).
    Struct(String),
    /// Untyped kernel memory (`xdp->data_meta`, `skb->head`): loads give scalars, stores are
    /// allowed.
    Memory,
}

/// A pointer field of a struct the regions read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PointerField {
    /// The struct holding it (a layout name: the wrapper or one of the layouts).
    pub layout: String,
    /// The field's name in that layout (`skb`, `xdp.data_meta`, `head`).
    pub field: String,
    /// What it points to.
    pub pointee: Pointee,
    /// It may be NULL when the program runs (veth's `skb` for frames that did not come from an
    /// skb): loads through it need a NULL check first.
    pub nullable: bool,
}

/// Everything the trusted-region mode needs, for one object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrustedRegions {
    /// The regions.
    pub regions: Vec<TrustedRegion>,
    /// The driver's wrapper: what the context is inside a region.
    pub wrapper: Layout,
    /// The structs pointer fields point to.
    pub layouts: Vec<Layout>,
    /// The pointer fields of the wrapper and of the layouts; any other field is a scalar.
    pub pointers: Vec<PointerField>,
    /// Kernel routines a region may call under the `xdp_kfunc_call_preserving_r1` contract.
    pub routines: Vec<String>,
}

/// The regions of [`TrustedRegions`] placed in one linked program.
#[derive(Clone, Debug)]
pub struct ProgramRegions<'a> {
    /// The description.
    pub spec: &'a TrustedRegions,
    /// The regions' slots in the linked program, ascending.
    pub ranges: Vec<Range<usize>>,
}

impl<'a> ProgramRegions<'a> {
    /// The regions of `spec` in a linked program whose slot `i` comes from slot `origin(i).1`
    /// (from its first instruction) of the function named `origin(i).0`.
    pub fn place(spec: &'a TrustedRegions, slots: usize, origin: impl Fn(usize) -> (String, u32)) -> Self {
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < slots {
            let (f, rel) = origin(i);
            let hit = spec.regions.iter().find(|r| r.function == f && r.start.0 == rel);
            match hit {
                Some(r) if r.len > 0 => {
                    let end = (i + r.len as usize).min(slots);
                    ranges.push(i..end);
                    i = end;
                }
                _ => i += 1,
            }
        }
        ProgramRegions { spec, ranges }
    }

    /// The region holding slot `pc`.
    pub fn region_of(&self, pc: usize) -> Option<Range<usize>> {
        self.ranges.iter().find(|r| r.contains(&pc)).cloned()
    }

    /// The layout with index `i` of [`TrustedRegions::layouts`].
    pub fn layout(&self, i: u16) -> Option<&'a Layout> {
        self.spec.layouts.get(usize::from(i))
    }

    /// The index of the layout named `name`.
    pub fn layout_index(&self, name: &str) -> Option<u16> {
        self.spec.layouts.iter().position(|l| l.name == name).and_then(|i| u16::try_from(i).ok())
    }

    /// The pointer field `field` of `layout`, if it is one.
    pub fn pointer(&self, layout: &str, field: &str) -> Option<&'a PointerField> {
        self.spec.pointers.iter().find(|p| p.layout == layout && p.field == field)
    }
}

/// What a load of `size` bytes at `off` of a struct reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Read<'l> {
    /// Scalar data.
    Scalar,
    /// Exactly the pointer field named here.
    Pointer(&'l str),
}

/// The field a load or store of `size` bytes at `off` of `layout` touches: the smallest field
/// holding all of it (a scalar, or a pointer field of `pointers` when it is exactly that
/// field); an error in the kernel's words (`btf_struct_walk`) when it is past the struct,
/// straddles a field's end, touches part of a pointer, or hits no field.
pub fn field_at<'l>(
    layout: &'l Layout,
    off: i64,
    size: u32,
    is_pointer: impl Fn(&str) -> bool,
) -> Result<Read<'l>, String> {
    let name = &layout.name;
    let end = off + i64::from(size);
    if end > i64::from(layout.size) {
        return Err(format!("access beyond struct {name} at off {off} size {size}"));
    }
    let span = |f: &crate::interp::memory::Field| (i64::from(f.offset), i64::from(f.offset + f.size));
    for f in layout.fields.iter().filter(|f| is_pointer(&f.name)) {
        let (lo, hi) = span(f);
        if lo < end && off < hi && (lo, hi) != (off, end) {
            return Err(format!(
                "cannot access ptr member {} with moff {lo} in struct {name} with off {off} size {size}",
                f.name
            ));
        }
    }
    let holding = layout.fields.iter().filter(|f| {
        let (lo, hi) = span(f);
        lo <= off && end <= hi
    });
    match holding.min_by_key(|f| f.size) {
        Some(f) if is_pointer(&f.name) => Ok(Read::Pointer(&f.name)),
        Some(_) => Ok(Read::Scalar),
        None => match layout.fields.iter().find(|f| {
            let (lo, hi) = span(f);
            lo <= off && off < hi
        }) {
            Some(f) => Err(format!(
                "access beyond the end of member {} (mend:{}) in struct {name} with off {off} size {size}",
                f.name,
                f.offset + f.size
            )),
            None => Err(format!("struct {name} doesn't have field at offset {off}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lookup_follows_the_layout() {
        let l = Layout::new("w", 24)
            .field("xdp", 0, 16)
            .field("xdp.data", 0, 8)
            .field("x", 8, 4)
            .field("skb", 16, 8);
        let ptr = |n: &str| n == "skb" || n == "xdp.data";
        let cases: [(i64, u32, Result<Read<'_>, &str>); 8] = [
            (16, 8, Ok(Read::Pointer("skb"))),
            (0, 8, Ok(Read::Pointer("xdp.data"))),
            (8, 4, Ok(Read::Scalar)),
            (8, 2, Ok(Read::Scalar)),
            (12, 4, Ok(Read::Scalar)),
            (16, 4, Err("cannot access ptr member skb with moff 16 in struct w with off 16 size 4")),
            (20, 8, Err("access beyond struct w at off 20 size 8")),
            (10, 8, Err("cannot access ptr member skb with moff 16 in struct w with off 10 size 8")),
        ];
        for (off, size, want) in cases {
            assert_eq!(field_at(&l, off, size, ptr), want.map_err(str::to_owned), "off {off} size {size}");
        }
        let gap = Layout::new("g", 16).field("a", 0, 4).field("b", 8, 4);
        assert_eq!(field_at(&gap, 4, 4, |_| false), Err("struct g doesn't have field at offset 4".into()));
        assert_eq!(
            field_at(&gap, 2, 4, |_| false),
            Err("access beyond the end of member a (mend:4) in struct g with off 2 size 4".into())
        );
    }

    #[test]
    fn regions_are_placed_by_function_and_slot() {
        let spec = TrustedRegions {
            regions: vec![
                TrustedRegion { function: "main".into(), start: Slot(2), len: 3 },
                TrustedRegion { function: "sub".into(), start: Slot(1), len: 2 },
            ],
            wrapper: Layout::new("w", 8),
            layouts: Vec::new(),
            pointers: Vec::new(),
            routines: Vec::new(),
        };
        // main is slots 0..6, sub is appended at 6..10.
        let origin =
            |i: usize| if i < 6 { ("main".to_owned(), i as u32) } else { ("sub".to_owned(), i as u32 - 6) };
        let placed = ProgramRegions::place(&spec, 10, origin);
        assert_eq!(placed.ranges, [2..5, 7..9]);
        assert_eq!(placed.region_of(4), Some(2..5));
        assert_eq!(placed.region_of(5), None);
    }
}
