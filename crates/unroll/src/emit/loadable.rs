//! The `loadable` lowering (kernel-notes §G R2, §I.1): what today's verifier accepts.
//! `bpf_cast_to_kern_ctx(ctx)` gives the `xdp_buff`, `bpf_rdonly_cast(.., <wrapper BTF id>)` an
//! untrusted (fault-tolerant) pointer to the driver's wrapper, and the fields are loaded through
//! it; `skb_shinfo(skb)` is cast the same way to `struct skb_shared_info`. Those casts are kfunc
//! calls, so R1-R5 are clobbered: the mainline ABI's pointer arguments (R2, R3) are spilled to
//! fresh 8-byte stack slots below the function's stack depth and reloaded before the stores.
//! The calls carry the target kernel's BTF ids (`call` with `src_reg = BPF_PSEUDO_KFUNC_CALL`,
//! `imm` = id, no relocation), so the output loads only on that kernel build.
//!
//! Drivers: veth, and the default driver (its one instruction is already loadable). RFC
//! `export_to_skb` for veth would have to move `data_meta`, which a read-only pointer cannot:
//! it is refused ([`UnrollError::Unsupported`]). ice, mlx4 and bnxt need their wrapper in the
//! target's BTF: without it ([`KernelIds`] records which the BTF has) the error names the
//! missing struct ([`UnrollError::MissingWrapper`]; 6.18's vmlinux has none of them, their
//! drivers are modules and bnxt's wrapper is the RFC's); with it the lowering is not written
//! yet (no such kernel to check it on) and is refused.

use bpf_patch::filter::{alu64_reg, call_kfunc, ldx_mem, mov64_imm, mov64_reg, st_mem, stx_mem};
use bpf_patch::op::{AluOp, Cond, Op, Operand, Reg, Size};
use bpf_patch::patch::Target;
use bpf_patch::Insn;
use bpf_verifier_model::interp::xdp_meta::XDP_RSS_TYPE_L4_ANY;
use bpf_verifier_model::interp::Layouts;
use btf_rs::{Btf, Type};

use super::{Asm, Driver, FieldRef, ENODATA};
use crate::error::UnrollError;
use crate::kfunc::Kfunc;

/// The kernel's stack frame size (`MAX_BPF_STACK`).
pub const MAX_BPF_STACK: u32 = 512;

/// The target kernel's BTF ids the loadable sequences need.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KernelIds {
    /// FUNC `bpf_cast_to_kern_ctx`.
    pub cast_to_kern_ctx: i32,
    /// FUNC `bpf_rdonly_cast`.
    pub rdonly_cast: i32,
    /// STRUCT `veth_xdp_buff`.
    pub veth_xdp_buff: i32,
    /// STRUCT `skb_shared_info`.
    pub skb_shared_info: i32,
    /// STRUCT `ice_xdp_buff`, if the BTF has it.
    pub ice_xdp_buff: Option<i32>,
    /// STRUCT `mlx4_en_xdp_buff`, if the BTF has it.
    pub mlx4_en_xdp_buff: Option<i32>,
    /// STRUCT `bnxt_xdp_buff`, if the BTF has it.
    pub bnxt_xdp_buff: Option<i32>,
}

fn id_of(btf: &Btf, name: &str, want_func: bool) -> Result<i32, UnrollError> {
    let missing = || UnrollError::MissingBtf { name: name.to_owned() };
    let ids = btf.resolve_ids_by_name(name).map_err(|_| missing())?;
    ids.into_iter()
        .find(|&id| {
            matches!(
                (btf.resolve_type_by_id(id), want_func),
                (Ok(Type::Func(_)), true) | (Ok(Type::Struct(_)), false)
            )
        })
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(missing)
}

impl KernelIds {
    /// The ids in the BTF file at `path` (e.g. `/sys/kernel/btf/vmlinux`).
    pub fn from_file(path: &std::path::Path) -> Result<KernelIds, UnrollError> {
        let btf = Btf::from_file(path)
            .map_err(|e| UnrollError::BtfRead { path: path.display().to_string(), reason: e.to_string() })?;
        KernelIds::from_btf(&btf)
    }

    /// The ids in `btf` (the target's vmlinux BTF); a missing name is an error naming it.
    pub fn from_btf(btf: &Btf) -> Result<KernelIds, UnrollError> {
        Ok(KernelIds {
            cast_to_kern_ctx: id_of(btf, "bpf_cast_to_kern_ctx", true)?,
            rdonly_cast: id_of(btf, "bpf_rdonly_cast", true)?,
            veth_xdp_buff: id_of(btf, "veth_xdp_buff", false)?,
            skb_shared_info: id_of(btf, "skb_shared_info", false)?,
            ice_xdp_buff: id_of(btf, "ice_xdp_buff", false).ok(),
            mlx4_en_xdp_buff: id_of(btf, "mlx4_en_xdp_buff", false).ok(),
            bnxt_xdp_buff: id_of(btf, "bnxt_xdp_buff", false).ok(),
        })
    }

    /// The BTF id of `driver`'s wrapper struct, if the target has it.
    pub fn wrapper(&self, driver: Driver) -> Option<i32> {
        match driver {
            Driver::Default => None,
            Driver::Veth => Some(self.veth_xdp_buff),
            Driver::Ice => self.ice_xdp_buff,
            Driver::Mlx4 => self.mlx4_en_xdp_buff,
            Driver::Bnxt => self.bnxt_xdp_buff,
        }
    }
}

/// Why ice, mlx4 and bnxt have no `loadable` sequence for `kfunc` with the target's `ids`.
pub(crate) fn unsupported(driver: Driver, kfunc: Kfunc, ids: &KernelIds) -> UnrollError {
    let wrapper = driver.wrapper().expect("only drivers with a wrapper get here");
    match ids.wrapper(driver) {
        None => UnrollError::MissingWrapper { driver: driver.name(), kfunc: kfunc.name(), wrapper },
        Some(_) => UnrollError::Unsupported {
            driver: driver.name(),
            kfunc: kfunc.name(),
            lowering: "loadable",
            reason: format!("not written yet: no kernel with struct {wrapper} to check it on"),
        },
    }
}

/// Bytes of stack a function uses, from its `r10`-relative accesses: direct loads and stores
/// through `r10`, and through registers set to `r10 + constant` (what clang emits to pass a
/// stack address), followed in straight-line order. Rounded up to 8.
pub fn stack_depth(insns: &[Insn]) -> u32 {
    let Ok(ops) = bpf_patch::op::decode_all(insns) else { return MAX_BPF_STACK };
    let mut fp_off: [Option<i64>; 11] = [None; 11];
    fp_off[10] = Some(0);
    let mut deepest: i64 = 0;
    let mut note = |base: Option<i64>, off: i16| {
        if let Some(b) = base {
            deepest = deepest.min(b + i64::from(off));
        }
    };
    for (_, op) in ops {
        match op {
            Op::Load { src, off, .. } => note(fp_off[src.num() as usize], off),
            Op::Store { dst, off, .. } | Op::StoreImm { dst, off, .. } | Op::Atomic { dst, off, .. } => {
                note(fp_off[dst.num() as usize], off);
            }
            _ => {}
        }
        let written = op.regs_written();
        let derived = match op {
            Op::Alu { op: AluOp::Mov, dst, src: Operand::Reg(s), .. } => {
                Some((dst, fp_off[s.num() as usize]))
            }
            Op::Alu { op: AluOp::Add, dst, src: Operand::Imm(k), .. } => {
                Some((dst, fp_off[dst.num() as usize].map(|b| b + i64::from(k))))
            }
            Op::Alu { op: AluOp::Sub, dst, src: Operand::Imm(k), .. } => {
                Some((dst, fp_off[dst.num() as usize].map(|b| b - i64::from(k))))
            }
            _ => None,
        };
        for (r, off) in fp_off.iter_mut().enumerate().take(10) {
            if written & (1 << r) != 0 {
                *off = None;
            }
        }
        if let Some((dst, Some(b))) = derived {
            if dst != Reg::R10 {
                fp_off[dst.num() as usize] = Some(b);
                note(Some(b), 0);
            }
        }
    }
    u32::try_from(-deepest).unwrap_or(MAX_BPF_STACK).next_multiple_of(8)
}

/// Where the spilled pointer arguments go: `r10 - (base + 8 * (i + 1))`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spill {
    base: u32,
}

impl Spill {
    /// Slots below a function using `depth` bytes, for `count` registers; past 512 bytes an
    /// error.
    pub(crate) fn new(depth: u32, count: u32, program: &str) -> Result<Spill, UnrollError> {
        let base = depth.next_multiple_of(8);
        if base + 8 * count > MAX_BPF_STACK {
            return Err(UnrollError::StackFull { program: program.to_owned(), depth, needed: 8 * count });
        }
        Ok(Spill { base })
    }

    /// The `count` slots as `[r10 + lo, r10 + hi)`.
    pub(crate) fn range(self, count: u32) -> (i16, i16) {
        let hi = -i16::try_from(self.base).expect("at most 512");
        (hi - i16::try_from(8 * count).expect("at most 512"), hi)
    }

    fn off(self, i: usize) -> i16 {
        let at = self.base + 8 * (i as u32 + 1);
        -i16::try_from(at).expect("at most 512")
    }
}

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;

fn ld(asm: &mut Asm, dst: Reg, base: Reg, f: FieldRef, note: impl Into<String>) {
    asm.op(ldx_mem(f.size, dst, base, f.off), note);
}

/// `rdonly_cast(r1, id)` → r0.
fn cast(asm: &mut Asm, ids: &KernelIds, id: i32, what: &str) {
    asm.op(mov64_imm(R2, id), format!("r2 = BTF id of struct {what}"));
    asm.op(call_kfunc(0, ids.rdonly_cast), format!("r0 = bpf_rdonly_cast(r1, struct {what})"));
}

/// The `loadable` lowering for veth of `asm`'s kfunc.
pub(crate) fn veth(asm: &mut Asm, l: &Layouts, ids: &KernelIds, spill: Spill) -> Result<(), UnrollError> {
    let k = asm.kfunc();
    if k == Kfunc::RfcExportToSkb {
        return Err(UnrollError::Unsupported {
            driver: "veth",
            kfunc: k.name(),
            lowering: "loadable",
            reason: "it moves data_meta, which a read-only pointer cannot".into(),
        });
    }
    if k == Kfunc::RfcRxTimestampSupported {
        asm.op(mov64_imm(R0, 1), "1: veth has RX timestamps");
        return Ok(());
    }
    let s = &l.sk_buff;
    let skb = asm.field(&l.veth_xdp_buff, "skb")?;
    let (head, end) = (asm.field(s, "head")?, asm.field(s, "end")?);
    let hwts = asm.field(&l.skb_shared_info, "hwtstamps.hwtstamp")?;
    let names = ["r2", "r3"];
    for (i, &(reg, _)) in k.out_params().iter().enumerate() {
        asm.op(
            stx_mem(Size::DW, Reg::R10, reg, spill.off(i)),
            format!("spill {} across the casts", names[i]),
        );
    }
    asm.op(call_kfunc(0, ids.cast_to_kern_ctx), "r0 = bpf_cast_to_kern_ctx(ctx): the struct xdp_buff");
    asm.op(mov64_reg(R1, R0), "r1 = xdp");
    cast(asm, ids, ids.veth_xdp_buff, "veth_xdp_buff");
    ld(asm, R4, R0, skb, "r4 = ((struct veth_xdp_buff *)ctx)->skb");
    let refill = |asm: &mut Asm, i: usize| {
        let reg = if i == 0 { R2 } else { R3 };
        asm.op(ldx_mem(Size::DW, reg, Reg::R10, spill.off(i)), format!("{reg} = the spilled {}", names[i]));
    };
    let shinfo = |asm: &mut Asm| {
        ld(asm, R1, R4, head, "r1 = skb->head");
        ld(asm, R2, R4, end, "r2 = skb->end (offset of the shared info)");
        asm.op(alu64_reg(AluOp::Add, R1, R2), "r1 = skb_shinfo(skb) = skb->head + skb->end");
        cast(asm, ids, ids.skb_shared_info, "skb_shared_info");
    };
    match k {
        Kfunc::RxTimestamp => {
            let has = asm.label();
            asm.jump(Cond::Ne, R4, 0, Target::Label(has), "if (skb)");
            asm.op(mov64_imm(R0, -ENODATA), "return -ENODATA (xdp_frame path: no skb)");
            asm.ja(Target::End, "done");
            asm.bind(has);
            shinfo(asm);
            ld(asm, R3, R0, hwts, "r3 = skb_shinfo(skb)->hwtstamps.hwtstamp");
            refill(asm, 0);
            asm.op(stx_mem(Size::DW, R2, R3, 0), "*timestamp = r3");
            asm.op(mov64_imm(R0, 0), "return 0");
        }
        Kfunc::RfcRxTimestamp => {
            asm.op(mov64_imm(R0, 0), "r0 = 0: no timestamp");
            asm.jump(Cond::Eq, R4, 0, Target::End, "if (!skb) return 0");
            shinfo(asm);
            ld(asm, R0, R0, hwts, "r0 = skb_shinfo(skb)->hwtstamps.hwtstamp");
        }
        Kfunc::RxHash => {
            let (l4f, swf, hash) =
                (asm.field(s, "l4_hash")?, asm.field(s, "sw_hash")?, asm.field(s, "hash")?);
            let (l4, sw) = (l4f.mask.unwrap_or(0), swf.mask.unwrap_or(0));
            let no_data = asm.label();
            let not_l4 = asm.label();
            asm.jump(Cond::Eq, R4, 0, Target::Label(no_data), "if (!skb) -ENODATA");
            ld(asm, R5, R4, l4f, "r5 = the byte holding skb->l4_hash and skb->sw_hash");
            asm.op(bpf_patch::filter::alu64_imm(AluOp::And, R5, l4 | sw), "r5 = skb->l4_hash | skb->sw_hash");
            asm.jump(
                Cond::Eq,
                R5,
                0,
                Target::Label(no_data),
                "neither: flow dissector (deviation: -ENODATA)",
            );
            ld(asm, R0, R4, hash, "r0 = skb->hash");
            refill(asm, 0);
            asm.op(stx_mem(Size::W, R2, R0, 0), "*hash = skb->hash");
            asm.op(mov64_imm(R0, 0), "r0 = XDP_RSS_TYPE_NONE");
            asm.op(bpf_patch::filter::alu64_imm(AluOp::And, R5, l4), "r5 = skb->l4_hash");
            asm.jump(Cond::Eq, R5, 0, Target::Label(not_l4), "if (skb->l4_hash)");
            asm.op(mov64_imm(R0, XDP_RSS_TYPE_L4_ANY as i32), "r0 = XDP_RSS_TYPE_L4_ANY");
            asm.bind(not_l4);
            refill(asm, 1);
            asm.op(stx_mem(Size::W, R3, R0, 0), "*rss_type = r0");
            asm.op(mov64_imm(R0, 0), "return 0");
            asm.ja(Target::End, "done");
            asm.bind(no_data);
            asm.op(
                mov64_imm(R0, -ENODATA),
                "return -ENODATA (no skb, or no hash without the flow dissector)",
            );
        }
        Kfunc::RxVlanTag => {
            let (all, proto, tci) =
                (asm.field(s, "vlan_all")?, asm.field(s, "vlan_proto")?, asm.field(s, "vlan_tci")?);
            let no_skb = asm.label();
            let tagged = asm.label();
            asm.jump(Cond::Eq, R4, 0, Target::Label(no_skb), "if (!skb) -ENODATA");
            ld(asm, R5, R4, all, "r5 = skb->vlan_all");
            asm.jump(Cond::Ne, R5, 0, Target::Label(tagged), "if (skb_vlan_tag_present(skb))");
            refill(asm, 1);
            asm.op(st_mem(Size::H, R3, 0, 0), "*vlan_tci = 0 (__vlan_hwaccel_get_tag)");
            asm.op(mov64_imm(R0, -ENODATA), "return -ENODATA (no hardware-accelerated tag)");
            asm.ja(Target::End, "done");
            asm.bind(tagged);
            ld(asm, R5, R4, tci, "r5 = skb->vlan_tci");
            refill(asm, 1);
            asm.op(stx_mem(Size::H, R3, R5, 0), "*vlan_tci = skb_vlan_tag_get(skb)");
            ld(asm, R5, R4, proto, "r5 = skb->vlan_proto (network order)");
            refill(asm, 0);
            asm.op(stx_mem(Size::H, R2, R5, 0), "*vlan_proto = skb->vlan_proto");
            asm.op(mov64_imm(R0, 0), "return 0");
            asm.ja(Target::End, "done");
            asm.bind(no_skb);
            asm.op(mov64_imm(R0, -ENODATA), "return -ENODATA (xdp_frame path: no skb)");
        }
        // Returned above.
        Kfunc::RfcRxTimestampSupported | Kfunc::RfcExportToSkb => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpf_patch::text::assemble;

    #[test]
    fn stack_depth_follows_direct_and_derived_frame_accesses() {
        let cases = [
            ("r0 = 0\nexit", 0),
            ("*(u64 *)(r10 - 0x8) = r1\nexit", 8),
            ("r0 = *(u32 *)(r10 - 0x14)\nexit", 24),
            // clang passing a stack address: the slot counts even if only the callee writes it.
            ("r2 = r10\nr2 += -0x28\ncall 0x1\nexit", 40),
            ("r3 = r10\nr3 += -0x10\n*(u8 *)(r3 - 0x8) = 0x1\nexit", 24),
            // A derived register overwritten no longer points into the frame.
            ("r2 = r10\nr2 = 0x0\n*(u64 *)(r2 - 0x100) = r1\nexit", 0),
        ];
        for (src, want) in cases {
            assert_eq!(stack_depth(&assemble(src).expect("assembles")), want, "{src}");
        }
    }
}
