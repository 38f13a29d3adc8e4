//! Emitters as data: for a (driver, kfunc, lowering) the instruction sequence that replaces the
//! kfunc's call, built on [`Patch`] (labels, jump to the end), with one annotation per emitted
//! instruction saying what it computes in the driver's terms.
//!
//! Conventions of every sequence (the RFC's, kernel-notes §B.5): the context is in R1 and the
//! mainline ABI's pointer arguments in R2 / R3; the result goes to R0; control leaves by falling
//! off the end. In the `kernel` and `stub` lowerings only R0 and R2-R5 are written and R1,
//! R6-R10 and the stack are never touched, with one exception: a call into a kernel routine
//! under the RFC's `xdp_kfunc_call_preserving_r1` contract ([`contract`]), `call routine;
//! r1 = r0`, which clobbers R1-R5 and gives R1 back. Such calls are listed in
//! [`Sequence::calls`]; the object rewrite attaches an `R_BPF_64_32` relocation naming the
//! routine to each. The `loadable` lowering calls two casting kfuncs, so it writes R0-R5 and
//! spills the pointer arguments to fresh stack slots. [`crate::discipline`] checks each rule on
//! every sequence.
//!
//! Every struct offset comes from a [`Layouts`] (the interpreter's: hand-written 6.18 defaults or
//! read from BTF). The drivers live in [`veth`], [`ice`] (everything inline), [`mlx4`] and
//! [`bnxt`] (timestamps through [`contract`]) and [`fallback`] (the default driver and the
//! `stub` lowering); the RFC's `export_to_skb` frame in [`export`]; the `loadable` lowering in
//! [`loadable`].

pub mod bnxt;
pub mod contract;
pub mod export;
pub mod fallback;
pub mod ice;
pub mod loadable;
pub mod mlx4;
pub mod veth;

pub use loadable::{stack_depth, KernelIds, MAX_BPF_STACK};

use std::fmt;

use bpf_patch::op::{Cond, Op, Operand, Reg, Size, Width};
use bpf_patch::patch::{Label, Patch, Target};
use bpf_patch::{Insn, Slot};
use bpf_verifier_model::interp::{DriverKind, Layout, Layouts};

use crate::discipline::{self, Usage};
use crate::error::UnrollError;
use crate::kfunc::Kfunc;

/// `ENODATA`.
pub const ENODATA: i32 = 61;
/// `EOPNOTSUPP`.
pub const EOPNOTSUPP: i32 = 95;

/// The driver whose kfunc implementations are inlined.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Driver {
    /// A driver without metadata support: mainline `-EOPNOTSUPP`, RFC `0`.
    Default,
    /// veth (`drivers/net/veth.c`), wrapper `struct veth_xdp_buff`.
    Veth,
    /// Intel ice, mainline wrapper `struct ice_xdp_buff { xdp, eop_desc, pkt_ctx }`: everything
    /// inline (lock-free).
    Ice,
    /// Mellanox mlx4, mainline wrapper `struct mlx4_en_xdp_buff` plus the contract's `r0` slot:
    /// hash inline, timestamp through a kernel routine (seqlock), no VLAN op.
    Mlx4,
    /// Broadcom bnxt, the RFC's wrapper `struct bnxt_xdp_buff { xdp, rxcmp1, bp, r0 }`:
    /// timestamp through a kernel routine (spinlock), no hash or VLAN op.
    Bnxt,
}

impl Driver {
    /// The drivers of this crate.
    pub const ALL: [Driver; 5] = [Driver::Default, Driver::Veth, Driver::Ice, Driver::Mlx4, Driver::Bnxt];

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Driver::Default => "default",
            Driver::Veth => "veth",
            Driver::Ice => "ice",
            Driver::Mlx4 => "mlx4",
            Driver::Bnxt => "bnxt",
        }
    }

    /// The driver called `name` ([`Driver::name`]).
    pub fn from_name(name: &str) -> Option<Driver> {
        Driver::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The interpreter's driver of the same name (none for the default driver).
    pub const fn kind(self) -> Option<DriverKind> {
        match self {
            Driver::Default => None,
            Driver::Veth => Some(DriverKind::Veth),
            Driver::Ice => Some(DriverKind::Ice),
            Driver::Mlx4 => Some(DriverKind::Mlx4),
            Driver::Bnxt => Some(DriverKind::Bnxt),
        }
    }

    /// The name of the driver's wrapper struct around `struct xdp_buff`.
    pub const fn wrapper(self) -> Option<&'static str> {
        match self {
            Driver::Default => None,
            Driver::Veth => Some("veth_xdp_buff"),
            Driver::Ice => Some("ice_xdp_buff"),
            Driver::Mlx4 => Some("mlx4_en_xdp_buff"),
            Driver::Bnxt => Some("bnxt_xdp_buff"),
        }
    }

    /// Whether the driver has an RX timestamp op (mainline `xmo_rx_timestamp`): what the RFC's
    /// `rx_timestamp_supported` answers. bnxt has none in mainline (kernel-notes §B.4.4).
    pub const fn has_timestamp(self) -> bool {
        matches!(self, Driver::Veth | Driver::Ice | Driver::Mlx4)
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a sequence reaches the driver's data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Lowering {
    /// The in-kernel form the RFC emitted after verification: direct loads through R1 (the
    /// driver's wrapper). For inspection and prototyping; today's verifier rejects it by design
    /// ("invalid bpf_context access").
    Kernel,
    /// The default result whatever the driver, so the object loads without device binding and
    /// under `BPF_PROG_TEST_RUN`. The verifier treats the mainline kfuncs' pointer arguments as
    /// written, so the stub zeroes what they point to: programs that read them unconditionally
    /// still verify. The replaced kfuncs' extern symbols become weak, so the output also loads
    /// on kernels that lack them (the RFC's kfuncs exist on no mainline kernel).
    Stub,
    /// Accepted by today's verifier: `bpf_cast_to_kern_ctx` and `bpf_rdonly_cast` to the
    /// driver's wrapper, then loads ([`loadable`]); needs the target kernel's BTF ids.
    Loadable,
}

impl Lowering {
    /// The lowerings of this crate.
    pub const ALL: [Lowering; 3] = [Lowering::Kernel, Lowering::Stub, Lowering::Loadable];

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Lowering::Kernel => "kernel",
            Lowering::Stub => "stub",
            Lowering::Loadable => "loadable",
        }
    }
}

impl fmt::Display for Lowering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An emitted sequence: its slots, one annotation per instruction, and what it uses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sequence {
    /// The instructions (no `ld_imm64`, so one slot each).
    pub insns: Vec<Insn>,
    /// What each instruction computes, in the driver's terms.
    pub annotations: Vec<String>,
    /// Registers written and read, stack bytes used.
    pub usage: Usage,
    /// The kernel routines called (`call` with `imm = -1`, as clang leaves a relocated call),
    /// by slot in the sequence: each needs an `R_BPF_64_32` relocation against the name.
    pub calls: Vec<(Slot, &'static str)>,
    /// `loadable`: the fresh stack slots declared for spills, `[r10 + lo, r10 + hi)`.
    pub scratch: Option<(i16, i16)>,
    /// `loadable`: the BTF ids of the kfuncs the sequence may call (the two casts).
    pub kfunc_ids: Vec<i32>,
}

impl Sequence {
    /// The sequence in llvm-objdump-19 syntax, each line followed by `; annotation`.
    pub fn annotated_listing(&self) -> String {
        let text = bpf_patch::text::listing(&self.insns).expect("emitted sequences decode");
        let width = text.lines().map(str::len).max().unwrap_or(0);
        let mut out = String::new();
        for (line, note) in text.lines().zip(&self.annotations) {
            out.push_str(&format!("{line:<width$}  ; {note}\n"));
        }
        out
    }
}

/// The sequence replacing a call of `kfunc` for `driver` in the `kernel` or `stub` lowering,
/// offsets from `layouts`. The `loadable` lowering needs more: [`emit_loadable`].
pub fn emit(
    driver: Driver,
    kfunc: Kfunc,
    lowering: Lowering,
    layouts: &Layouts,
) -> Result<Sequence, UnrollError> {
    let mut asm = Asm::new(driver, kfunc);
    match (lowering, driver) {
        (Lowering::Stub, _) => fallback::stub(&mut asm),
        (Lowering::Kernel, Driver::Default) => fallback::default(&mut asm),
        (Lowering::Kernel, Driver::Veth) => veth::kernel(&mut asm, layouts)?,
        (Lowering::Kernel, Driver::Ice) => ice::kernel(&mut asm, layouts)?,
        (Lowering::Kernel, Driver::Mlx4) => mlx4::kernel(&mut asm, layouts)?,
        (Lowering::Kernel, Driver::Bnxt) => bnxt::kernel(&mut asm, layouts)?,
        (Lowering::Loadable, _) => return Err(UnrollError::NeedsKernelBtf),
    }
    Ok(asm.finish(0))
}

/// The `loadable` sequence for a call in `program`, a function using `stack_depth` bytes of
/// stack (see [`stack_depth`]), with the target kernel's `ids`.
pub fn emit_loadable(
    driver: Driver,
    kfunc: Kfunc,
    layouts: &Layouts,
    ids: &KernelIds,
    stack_depth: u32,
    program: &str,
) -> Result<Sequence, UnrollError> {
    let mut asm = Asm::new(driver, kfunc);
    let spilled = if driver == Driver::Veth { kfunc.out_params().len() as u32 } else { 0 };
    let mut scratch = None;
    match driver {
        Driver::Default => fallback::default(&mut asm),
        Driver::Veth => {
            let spill = loadable::Spill::new(stack_depth, spilled, program)?;
            scratch = (spilled > 0).then(|| spill.range(spilled));
            loadable::veth(&mut asm, layouts, ids, spill)?;
        }
        Driver::Ice | Driver::Mlx4 | Driver::Bnxt => return Err(loadable::unsupported(driver, kfunc, ids)),
    }
    let mut seq = asm.finish(8 * spilled);
    seq.scratch = scratch;
    if driver == Driver::Veth {
        seq.kfunc_ids = vec![ids.cast_to_kern_ctx, ids.rdonly_cast];
    }
    Ok(seq)
}

/// A field ready to load: its offset and access size, and for a bitfield its bit mask in the
/// loaded value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldRef {
    pub(crate) off: i16,
    pub(crate) size: Size,
    pub(crate) mask: Option<i32>,
}

/// [`Patch`] plus one annotation per instruction.
pub(crate) struct Asm {
    patch: Patch,
    notes: Vec<String>,
    calls: Vec<(Slot, &'static str)>,
    driver: Driver,
    kfunc: Kfunc,
}

impl Asm {
    fn new(driver: Driver, kfunc: Kfunc) -> Asm {
        Asm { patch: Patch::new(), notes: Vec::new(), calls: Vec::new(), driver, kfunc }
    }

    pub(crate) fn kfunc(&self) -> Kfunc {
        self.kfunc
    }

    pub(crate) fn driver(&self) -> Driver {
        self.driver
    }

    /// `call routine` (a kernel function, named by a relocation), annotated.
    pub(crate) fn call_routine(&mut self, routine: &'static str, note: impl Into<String>) {
        let at = Slot(u32::try_from(self.notes.len()).expect("sequences are short"));
        self.calls.push((at, routine));
        self.op(bpf_patch::filter::call_kfunc(0, -1), note);
    }

    /// Appends `op`, annotated.
    pub(crate) fn op(&mut self, op: Op, note: impl Into<String>) -> &mut Self {
        self.patch.push(op);
        self.notes.push(note.into());
        self
    }

    /// `if dst cond src goto target` (64-bit compare), annotated.
    pub(crate) fn jump(&mut self, cond: Cond, dst: Reg, src: i32, target: Target, note: impl Into<String>) {
        self.patch.jump(Width::W64, cond, dst, Operand::Imm(src), target);
        self.notes.push(note.into());
    }

    /// `if dst cond src goto target` with a register operand (64-bit compare), annotated.
    pub(crate) fn jump_reg(
        &mut self,
        cond: Cond,
        dst: Reg,
        src: Reg,
        target: Target,
        note: impl Into<String>,
    ) {
        self.patch.jump(Width::W64, cond, dst, Operand::Reg(src), target);
        self.notes.push(note.into());
    }

    /// `goto target`, annotated.
    pub(crate) fn ja(&mut self, target: Target, note: impl Into<String>) {
        self.patch.ja(target);
        self.notes.push(note.into());
    }

    pub(crate) fn label(&mut self) -> Label {
        self.patch.new_label()
    }

    pub(crate) fn bind(&mut self, l: Label) {
        self.patch.bind(l).expect("each label is bound once, by the emitter that made it");
    }

    /// `layout.name` as a single load: a plain field of 1, 2, 4 or 8 bytes, or a bitfield
    /// inside one byte.
    pub(crate) fn field(&self, layout: &Layout, name: &str) -> Result<FieldRef, UnrollError> {
        let unusable = |reason: &str| UnrollError::UnusableField {
            driver: self.driver.name(),
            kfunc: self.kfunc.name(),
            layout: layout.name.clone(),
            field: name.to_owned(),
            reason: reason.to_owned(),
        };
        let f = layout.find(name).ok_or_else(|| UnrollError::MissingField {
            driver: self.driver.name(),
            kfunc: self.kfunc.name(),
            source: bpf_verifier_model::interp::LayoutError::UnknownField {
                layout: layout.name.clone(),
                field: name.to_owned(),
            },
        })?;
        let off = i16::try_from(f.offset).map_err(|_| unusable("is beyond a 16-bit load offset"))?;
        let (size, mask) = match (f.bits, f.size) {
            (Some((first, 1)), 1) => (Size::B, Some(1 << first)),
            (Some(_), _) => return Err(unusable("is a bitfield wider than one bit or across bytes")),
            (None, 1) => (Size::B, None),
            (None, 2) => (Size::H, None),
            (None, 4) => (Size::W, None),
            (None, 8) => (Size::DW, None),
            (None, _) => return Err(unusable("is not 1, 2, 4 or 8 bytes")),
        };
        Ok(FieldRef { off, size, mask })
    }

    fn finish(self, stack_bytes: u32) -> Sequence {
        let insns = self.patch.finish().expect("emitters bind every label and stay far below 2^15 slots");
        debug_assert_eq!(insns.len(), self.notes.len(), "one annotation per emitted instruction");
        let usage = Usage { stack_bytes, ..discipline::usage(&insns).expect("emitted sequences decode") };
        Sequence {
            insns,
            annotations: self.notes,
            usage,
            calls: self.calls,
            scratch: None,
            kfunc_ids: Vec::new(),
        }
    }
}
