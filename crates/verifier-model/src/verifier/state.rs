//! The abstract machine state of the explorer, shaped like the kernel's
//! `bpf_verifier_state`: per call frame eleven registers and a 512-byte stack tracked per
//! 8-byte slot (a spilled register, or per-byte invalid / misc / zero), plus the inclusion
//! test used for pruning (`states_equal` in spirit: a new state that an explored, fully
//! verified state includes needs no further exploration).

use std::fmt;

use super::dynptr::{DynptrSlot, DynptrType};
use super::iter::IterSlot;
use super::scalar::Scalar;

/// What a pointer points into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PtrKind {
    /// `PTR_TO_CTX`.
    Ctx,
    /// `PTR_TO_STACK` of call frame `frame`.
    Stack {
        /// The frame.
        frame: u8,
    },
    /// `PTR_TO_PACKET`.
    Packet,
    /// `PTR_TO_PACKET_META`.
    PacketMeta,
    /// `PTR_TO_PACKET_END`.
    PacketEnd,
    /// `CONST_PTR_TO_MAP` of map `map`.
    Map {
        /// Map index.
        map: u32,
    },
    /// `PTR_TO_MAP_KEY` of map `map` (a `bpf_for_each_map_elem` callback's key).
    MapKey {
        /// Map index.
        map: u32,
    },
    /// `PTR_TO_MAP_VALUE` of map `map`.
    MapValue {
        /// Map index.
        map: u32,
    },
    /// `PTR_TO_MEM` of `size` bytes.
    Mem {
        /// Size in bytes.
        size: u32,
        /// `MEM_RDONLY`.
        rdonly: bool,
        /// `MEM_RINGBUF`: a ringbuf record (`bpf_ringbuf_reserve`).
        ringbuf: bool,
    },
    /// `PTR_TO_BTF_ID`: a kernel struct (its BTF id in the kernel's BTF), read only.
    BtfId {
        /// The struct's BTF id.
        type_id: u32,
        /// `PTR_TRUSTED` (never NULL; `bpf_cast_to_kern_ctx`'s result). Others may be NULL at
        /// run time although their type does not say so.
        trusted: bool,
    },
    /// `PTR_TO_FUNC`: the address of the subprogram starting at slot `subprog` (a callback).
    Func {
        /// First slot of the subprogram.
        subprog: u32,
    },
    /// Inside an unrolled region ([`super::trusted`]): a trusted kernel pointer to the struct
    /// with layout `layout` (an index into [`super::trusted::TrustedRegions::layouts`]), read
    /// only.
    Trusted {
        /// The pointee's layout.
        layout: u16,
    },
    /// Inside an unrolled region: untyped trusted kernel memory (a typed pointer plus a
    /// variable, `xdp->data_meta`, `skb->head`): loads give scalars, stores are allowed.
    TrustedMem,
}

impl PtrKind {
    /// The kernel's name of the type (`reg_type_str`).
    pub fn name(self) -> &'static str {
        match self {
            PtrKind::Ctx => "ctx",
            PtrKind::Stack { .. } => "fp",
            PtrKind::Packet => "pkt",
            PtrKind::PacketMeta => "pkt_meta",
            PtrKind::PacketEnd => "pkt_end",
            PtrKind::Map { .. } => "map_ptr",
            PtrKind::MapKey { .. } => "map_key",
            PtrKind::MapValue { .. } => "map_value",
            PtrKind::Mem { ringbuf: true, .. } => "ringbuf_mem",
            PtrKind::Mem { rdonly: true, .. } => "rdonly_mem",
            PtrKind::Mem { .. } => "mem",
            PtrKind::Func { .. } => "func",
            PtrKind::BtfId { trusted: true, .. } => "trusted_ptr_",
            PtrKind::BtfId { .. } => "untrusted_ptr_",
            PtrKind::Trusted { .. } => "trusted_ptr_",
            PtrKind::TrustedMem => "trusted_mem",
        }
    }
}

/// A pointer register.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ptr {
    /// What it points into.
    pub kind: PtrKind,
    /// Fixed offset.
    pub off: i32,
    /// Variable offset (constant 0 when there is none).
    pub var: Scalar,
    /// Identity shared by copies (null checks and packet ranges propagate through it).
    pub id: u32,
    /// May be NULL (`*_OR_NULL`) until checked.
    pub maybe_null: bool,
    /// Packet pointers: bytes from `off` known to be inside the packet.
    pub range: u32,
    /// The acquired reference it belongs to (`ref_obj_id`; 0: none), released by the helper
    /// that consumes it.
    pub ref_obj_id: u32,
    /// A dynptr slice: the id of the dynptr it was made from (`dynptr_id`; 0: none).
    pub dynptr_id: u32,
    /// A `bpf_dynptr_slice[_rdwr]` result: the dynptr type flag its type carries
    /// (`PTR_TO_MEM | DYNPTR_TYPE_*`); `bpf_dynptr_data` slices are untyped.
    pub slice_of: Option<DynptrType>,
}

impl Ptr {
    /// A pointer with no variable part.
    pub fn new(kind: PtrKind, off: i32) -> Ptr {
        Ptr {
            kind,
            off,
            var: Scalar::constant(0),
            id: 0,
            maybe_null: false,
            range: 0,
            ref_obj_id: 0,
            dynptr_id: 0,
            slice_of: None,
        }
    }

    /// The kernel's name including `_or_null`.
    pub fn type_name(&self) -> String {
        if self.maybe_null && matches!(self.kind, PtrKind::Map { .. }) {
            // A lookup in a map of maps: the kernel's PTR_TO_MAP_VALUE_OR_NULL, which becomes
            // CONST_PTR_TO_MAP when checked.
            "map_value_or_null".into()
        } else if self.maybe_null && matches!(self.kind, PtrKind::Trusted { .. }) {
            // reg_type_str: a PTR_TO_BTF_ID's postfix is `or_null_`.
            "trusted_ptr_or_null_".into()
        } else if self.maybe_null {
            format!("{}_or_null", self.kind.name())
        } else {
            self.kind.name().to_owned()
        }
    }
}

/// A register.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Reg {
    /// Never written (`NOT_INIT`).
    NotInit,
    /// A scalar.
    Scalar(Scalar),
    /// A pointer.
    Ptr(Ptr),
}

impl Reg {
    /// The kernel's type name (`scalar`, `ctx`, `map_value_or_null`, ...).
    pub fn type_name(&self) -> String {
        match self {
            Reg::NotInit => "?".into(),
            Reg::Scalar(_) => "scalar".into(),
            Reg::Ptr(p) => p.type_name(),
        }
    }

    /// Whether every value `other` can hold, `self` can (pruning).
    pub fn includes(&self, other: &Reg) -> bool {
        match (self, other) {
            (Reg::NotInit, _) => true,
            (Reg::Scalar(a), Reg::Scalar(b)) => a.includes(b),
            (Reg::Ptr(a), Reg::Ptr(b)) => {
                a.kind == b.kind
                    && a.off == b.off
                    && a.var.includes(&b.var)
                    && a.maybe_null == b.maybe_null
                    && (a.range <= b.range)
                    && (a.id == 0) == (b.id == 0)
                    && (a.ref_obj_id == 0) == (b.ref_obj_id == 0)
                    // Exact: which dynptr a slice dies with matters (the kernel maps ids).
                    && a.dynptr_id == b.dynptr_id
                    && a.slice_of == b.slice_of
            }
            _ => false,
        }
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reg::NotInit => f.write_str("?"),
            Reg::Scalar(s) => write!(f, "{s}"),
            Reg::Ptr(p) => {
                write!(f, "{}(", p.type_name())?;
                let mut parts = Vec::new();
                if p.id != 0 {
                    parts.push(format!("id={}", p.id));
                }
                if p.ref_obj_id != 0 {
                    parts.push(format!("ref_obj_id={}", p.ref_obj_id));
                }
                if p.off != 0 {
                    parts.push(format!("off={}", p.off));
                }
                if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
                    parts.push(format!("r={}", p.range));
                }
                if p.var.as_const() != Some(0) {
                    parts.push(format!("var={}", p.var));
                }
                write!(f, "{})", parts.join(","))
            }
        }
    }
}

/// What a stack byte holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Byte {
    /// Never written (`STACK_INVALID`).
    Invalid,
    /// Some scalar data (`STACK_MISC`).
    Misc,
    /// Known zero (`STACK_ZERO`).
    Zero,
    /// Part of a dynptr or an iterator (`STACK_DYNPTR`, `STACK_ITER`): neither readable nor
    /// data.
    Dynptr,
}

/// One 8-byte stack slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StackSlot {
    /// A register spilled with a full 8-byte store at the slot's start (`STACK_SPILL`).
    Spill(Reg),
    /// Per-byte contents.
    Bytes([Byte; 8]),
    /// Half of a dynptr ([`super::dynptr`]).
    Dynptr(DynptrSlot),
    /// An iterator ([`super::iter`]).
    Iter(IterSlot),
}

impl StackSlot {
    /// The slot's bytes as data (a spilled scalar counts as misc, a constant zero as zero).
    pub fn bytes(&self) -> [Byte; 8] {
        match self {
            StackSlot::Bytes(b) => *b,
            StackSlot::Spill(Reg::Scalar(s)) if s.as_const() == Some(0) => [Byte::Zero; 8],
            StackSlot::Spill(_) => [Byte::Misc; 8],
            StackSlot::Dynptr(_) | StackSlot::Iter(_) => [Byte::Dynptr; 8],
        }
    }

    fn includes(&self, other: &StackSlot) -> bool {
        match (self, other) {
            (StackSlot::Bytes(a), _) if a.iter().all(|b| *b == Byte::Invalid) => true,
            (StackSlot::Spill(a), StackSlot::Spill(b)) => a.includes(b),
            // The same dynptr (`stacksafe` maps ids; equal ids are the conservative case).
            (StackSlot::Dynptr(a), StackSlot::Dynptr(b)) => a == b,
            (StackSlot::Iter(a), StackSlot::Iter(b)) => a.includes(b),
            (StackSlot::Bytes(a), o) => {
                let b = o.bytes();
                a.iter()
                    .zip(b)
                    .all(|(x, y)| *x == Byte::Invalid || *x == y || (*x == Byte::Misc && y == Byte::Zero))
                    && !matches!(o, StackSlot::Spill(Reg::Ptr(_)) | StackSlot::Dynptr(_) | StackSlot::Iter(_))
            }
            _ => false,
        }
    }
}

/// Slots per frame (512 bytes).
pub const STACK_SLOTS: usize = 64;

/// A slot nothing wrote.
pub const UNWRITTEN: StackSlot = StackSlot::Bytes([Byte::Invalid; 8]);

/// One call frame.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Frame {
    /// R0-R10.
    pub regs: [Reg; 11],
    /// Slot `i` covers `fp - 8 * (i + 1) .. fp - 8 * i`; slots past the end were never
    /// written (kept short so that copying a state costs what the program uses).
    pub stack: Vec<StackSlot>,
    /// The call instruction's index (frames above the first).
    pub callsite: usize,
    /// First slot of the subprogram this frame runs (the kernel's `subprogno`).
    pub subprog: usize,
    /// The frame runs a callback of a helper (`in_callback_fn`): its exit goes back to the
    /// helper call, which may call it again.
    pub callback: bool,
    /// Callbacks of the helper call this frame made so far on this path (`callback_depth`:
    /// `bpf_loop` stops calling its callback once it reaches the iteration count's maximum).
    pub callback_depth: u64,
}

impl Frame {
    /// A frame of the main program with `regs` and an unwritten stack.
    pub fn new(regs: [Reg; 11], callsite: usize) -> Frame {
        Frame { regs, stack: Vec::new(), callsite, subprog: 0, callback: false, callback_depth: 0 }
    }

    /// Slot `i` (never written past the end).
    pub fn slot(&self, i: usize) -> StackSlot {
        self.stack.get(i).copied().unwrap_or(UNWRITTEN)
    }

    /// Slot `i` for writing (`i < STACK_SLOTS`), growing the stack.
    pub fn slot_mut(&mut self, i: usize) -> &mut StackSlot {
        if self.stack.len() <= i {
            self.stack.resize(i + 1, UNWRITTEN);
        }
        &mut self.stack[i]
    }

    /// Deepest stack byte written, in bytes below the frame pointer.
    pub fn depth(&self) -> usize {
        self.stack
            .iter()
            .rposition(|s| !matches!(s, StackSlot::Bytes(b) if b.iter().all(|x| *x == Byte::Invalid)))
            .map_or(0, |i| 8 * (i + 1))
    }
}

/// The state at one instruction.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    /// Call frames, the current one last.
    pub frames: Vec<Frame>,
    /// `may_goto` fall-throughs taken on this path (the kernel's `may_goto_depth`): not part
    /// of inclusion, it tells loop iterations apart.
    pub may_goto_depth: u32,
    /// Acquired references not yet released (`acquired_refs`): `(id, instruction that acquired
    /// it)`.
    pub refs: Vec<(u32, usize)>,
}

impl State {
    /// The current frame.
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("a state always has a frame")
    }

    /// The current frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state always has a frame")
    }

    /// Calls `f` on every register and every spilled register of every frame (what the
    /// kernel's `bpf_for_each_reg_in_vstate` visits).
    pub fn for_each_reg_mut(&mut self, mut f: impl FnMut(&mut Reg)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            for slot in &mut frame.stack {
                if let StackSlot::Spill(r) = slot {
                    f(r);
                }
            }
        }
    }

    /// Whether every concrete state `other` stands for is one `self` stands for.
    pub fn includes(&self, other: &State) -> bool {
        self.frames.len() == other.frames.len()
            && self.refs.len() == other.refs.len()
            && self.refs.iter().zip(&other.refs).all(|(a, b)| a.1 == b.1)
            && self.frames.iter().zip(&other.frames).all(|(a, b)| {
                a.callsite == b.callsite
                    && a.subprog == b.subprog
                    && a.callback == b.callback
                    && a.regs.iter().zip(&b.regs).all(|(x, y)| x.includes(y))
                    && (0..a.stack.len().max(b.stack.len())).all(|i| a.slot(i).includes(&b.slot(i)))
            })
    }
}
