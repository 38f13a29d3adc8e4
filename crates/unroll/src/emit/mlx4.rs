//! mlx4 (`drivers/net/ethernet/mellanox/mlx4`, kernel-notes §B.4.3), `kernel` lowering: R1 is
//! the mainline `struct mlx4_en_xdp_buff { xdp, cqe, mdev, ring, dev }` plus the contract's
//! `r0` slot.
//!
//! - timestamp: a seqlock around a timecounter conversion, so the kernel routine
//!   `mlx4_xdp_rx_timestamp(_out)` is called under the `xdp_kfunc_call_preserving_r1` contract
//!   ([`super::contract`]).
//! - hash, inline as `mlx4_en_xdp_rx_hash`: `dev->features & NETIF_F_RXHASH` else -ENODATA;
//!   `*hash = be32_to_cpu(cqe->immed_rss_invalid)`; the type from `cqe->status` (TCP → L4_TCP,
//!   then UDP → L4_UDP replacing it, IPV4 / IPV4F → | L3_IPV4, IPV6 → | L3_IPV6 and with
//!   `ipv6_ext_mask` | L3_DYNHDR: the driver's own composition, without the `L4` bit); 0.
//! - VLAN tag: no op, -EOPNOTSUPP.
//!
//! RFC ABI: `rx_timestamp_supported` 1; `rx_timestamp` the RFC's contract; `export_to_skb` the
//! timestamp through the `_out` routine, then the hash.

use bpf_patch::filter::{alu64_imm, endian, ldx_mem, mov64_imm, stx_mem};
use bpf_patch::op::{AluOp, Cond, Reg, Size, Swap};
use bpf_patch::patch::Target;
use bpf_verifier_model::interp::drivers::NETIF_F_RXHASH;
use bpf_verifier_model::interp::xdp_meta::XDP_META_F_HASH;
use bpf_verifier_model::interp::Layouts;

use super::{contract, export, Asm, FieldRef, ENODATA, EOPNOTSUPP};
use crate::error::UnrollError;
use crate::kfunc::Kfunc;

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;

/// `MLX4_CQE_STATUS_*` (host order).
const STATUS_IPV4: i32 = 1 << 6;
const STATUS_IPV4F: i32 = 1 << 7;
const STATUS_IPV6: i32 = 1 << 8;
const STATUS_TCP: i32 = 1 << 10;
const STATUS_UDP: i32 = 1 << 11;
/// `XDP_RSS_*` bits.
const L3_IPV4: i32 = 1;
const L3_IPV6: i32 = 2;
const L3_DYNHDR: i32 = 4;
const L4_TCP: i32 = 16;
const L4_UDP: i32 = 32;

/// The `kernel` lowering of `asm`'s kfunc for mlx4.
pub(crate) fn kernel(asm: &mut Asm, l: &Layouts) -> Result<(), UnrollError> {
    match asm.kfunc() {
        Kfunc::RxTimestamp => contract::rx_timestamp(asm, l)?,
        Kfunc::RxHash => {
            let o = Offsets::resolve(asm, l)?;
            let end = Target::End;
            feature_check(asm, &o, end, true);
            load_hash(asm, &o);
            asm.op(stx_mem(Size::W, R2, R5, 0), "*hash = r5");
            hash_type(asm, &o);
            asm.op(stx_mem(Size::W, R3, R0, 0), "*rss_type = r0");
            asm.op(mov64_imm(R0, 0), "return 0");
        }
        Kfunc::RxVlanTag => {
            asm.op(mov64_imm(R0, -EOPNOTSUPP), "-EOPNOTSUPP: mlx4 has no VLAN op");
        }
        Kfunc::RfcRxTimestampSupported => {
            asm.op(mov64_imm(R0, 1), "1: mlx4 has RX timestamps");
        }
        Kfunc::RfcRxTimestamp => contract::rfc_rx_timestamp(asm, l)?,
        Kfunc::RfcExportToSkb => {
            let o = Offsets::resolve(asm, l)?;
            export::export_to_skb(asm, l, |asm, b, done| {
                contract::export_timestamp(asm, l, b)?;
                feature_check(asm, &o, Target::Label(done), false);
                load_hash(asm, &o);
                asm.op(stx_mem(b.rx_hash.size, R2, R5, b.rx_hash.off), "meta->rx_hash = r5");
                hash_type(asm, &o);
                let t = b.rx_hash_type;
                asm.op(stx_mem(t.size, R2, R0, t.off), "meta->rx_hash_type = r0");
                asm.op(alu64_imm(AluOp::Or, R3, XDP_META_F_HASH as i32), "flags |= XDP_META_F_HASH");
                Ok(())
            })?;
        }
    }
    Ok(())
}

struct Offsets {
    cqe: FieldRef,
    dev: FieldRef,
    features: FieldRef,
    rss: FieldRef,
    status: FieldRef,
    ipv6_ext: FieldRef,
}

impl Offsets {
    fn resolve(asm: &Asm, l: &Layouts) -> Result<Offsets, UnrollError> {
        let (w, c) = (&l.mlx4_en_xdp_buff, &l.mlx4_cqe);
        let o = Offsets {
            cqe: asm.field(w, "cqe")?,
            dev: asm.field(w, "dev")?,
            features: asm.field(&l.net_device, "features")?,
            rss: asm.field(c, "immed_rss_invalid")?,
            status: asm.field(c, "status")?,
            ipv6_ext: asm.field(c, "ipv6_ext_mask")?,
        };
        let sizes = [
            (&o.features, Size::DW, "net_device", "features"),
            (&o.rss, Size::W, "mlx4_cqe", "immed_rss_invalid"),
            (&o.status, Size::H, "mlx4_cqe", "status"),
        ];
        for (f, want, layout, field) in sizes {
            if f.size != want || f.mask.is_some() {
                return Err(UnrollError::UnusableField {
                    driver: "mlx4",
                    kfunc: asm.kfunc().name(),
                    layout: layout.into(),
                    field: field.into(),
                    reason: format!("is not a plain {want:?} field"),
                });
            }
        }
        Ok(o)
    }
}

/// `if (!(dev->features & NETIF_F_RXHASH))`: -ENODATA to `none` (the end: `set_nodata`), or
/// straight to `none` (the export's `done`).
fn feature_check(asm: &mut Asm, o: &Offsets, none: Target, set_nodata: bool) {
    let bit = NETIF_F_RXHASH.trailing_zeros() as i32;
    asm.op(ldx_mem(Size::DW, R4, R1, o.dev.off), "r4 = ((struct mlx4_en_xdp_buff *)ctx)->dev");
    asm.op(ldx_mem(Size::DW, R4, R4, o.features.off), "r4 = dev->features");
    asm.op(alu64_imm(AluOp::Rsh, R4, bit), format!("r4 >>= {bit}"));
    asm.op(alu64_imm(AluOp::And, R4, 1), "r4 = dev->features & NETIF_F_RXHASH");
    if set_nodata {
        asm.op(mov64_imm(R0, -ENODATA), "r0 = -ENODATA");
    }
    asm.jump(Cond::Eq, R4, 0, none, "if (!(dev->features & NETIF_F_RXHASH))");
}

/// R5 = the hash; R4 = the CQE.
fn load_hash(asm: &mut Asm, o: &Offsets) {
    asm.op(ldx_mem(Size::DW, R4, R1, o.cqe.off), "r4 = ((struct mlx4_en_xdp_buff *)ctx)->cqe");
    asm.op(ldx_mem(Size::W, R5, R4, o.rss.off), "r5 = cqe->immed_rss_invalid");
    asm.op(endian(Swap::ToBe, R5, 32), "r5 = be32_to_cpu(cqe->immed_rss_invalid)");
}

/// `if (r5 & mask)` around `body`.
fn when_set(asm: &mut Asm, mask: i32, what: &str, body: impl FnOnce(&mut Asm)) {
    let then = asm.label();
    let skip = asm.label();
    asm.jump(Cond::Set, R5, mask, Target::Label(then), format!("if (status & {what})"));
    asm.ja(Target::Label(skip), "else skip");
    asm.bind(then);
    body(asm);
    asm.bind(skip);
}

/// R0 = the `xdp_rss_hash_type` from `cqe->status`, with the CQE in R4 (its last use);
/// R5 = the status.
fn hash_type(asm: &mut Asm, o: &Offsets) {
    asm.op(ldx_mem(Size::H, R5, R4, o.status.off), "r5 = cqe->status");
    asm.op(endian(Swap::ToBe, R5, 16), "r5 = be16_to_cpu(cqe->status)");
    asm.op(mov64_imm(R0, 0), "r0 = xht = XDP_RSS_TYPE_NONE");
    when_set(asm, STATUS_TCP, "MLX4_CQE_STATUS_TCP", |asm| {
        asm.op(mov64_imm(R0, L4_TCP), "xht = XDP_RSS_L4_TCP");
    });
    when_set(asm, STATUS_UDP, "MLX4_CQE_STATUS_UDP", |asm| {
        asm.op(mov64_imm(R0, L4_UDP), "xht = XDP_RSS_L4_UDP");
    });
    when_set(asm, STATUS_IPV4 | STATUS_IPV4F, "(MLX4_CQE_STATUS_IPV4 | MLX4_CQE_STATUS_IPV4F)", |asm| {
        asm.op(alu64_imm(AluOp::Or, R0, L3_IPV4), "xht |= XDP_RSS_L3_IPV4");
    });
    when_set(asm, STATUS_IPV6, "MLX4_CQE_STATUS_IPV6", |asm| {
        let no_ext = asm.label();
        asm.op(alu64_imm(AluOp::Or, R0, L3_IPV6), "xht |= XDP_RSS_L3_IPV6");
        asm.op(ldx_mem(Size::B, R4, R4, o.ipv6_ext.off), "r4 = cqe->ipv6_ext_mask");
        asm.jump(Cond::Eq, R4, 0, Target::Label(no_ext), "if (cqe->ipv6_ext_mask)");
        asm.op(alu64_imm(AluOp::Or, R0, L3_DYNHDR), "xht |= XDP_RSS_L3_DYNHDR");
        asm.bind(no_ext);
    });
}
