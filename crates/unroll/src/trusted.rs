//! What the verifier's trusted-region mode needs to check the `kernel` lowering's regions
//! ([`bpf_verifier_model::verifier::trusted`]): the driver's wrapper as the context, the
//! structs its pointer fields point to, and the routines the regions may call.
//!
//! The pointer fields, per struct (any other field is a scalar):
//! - every wrapper: `xdp.data`, `xdp.data_end`, `xdp.data_meta`, `xdp.data_hard_start`
//!   (untyped packet memory, never NULL), `xdp.rxq` (`xdp_rxq_info`);
//! - veth: `skb` (`sk_buff`), NULL for frames that did not come from an skb (veth's own kfuncs
//!   check it); `sk_buff.head` and `.data` (untyped), `.dev` (`net_device`, may be NULL);
//! - ice: `eop_desc` (`ice_32b_rx_flex_desc`), `pkt_ctx` (`ice_pkt_ctx`);
//! - mlx4: `cqe` (`mlx4_cqe`), `mdev` (`mlx4_en_dev`), `ring` (`mlx4_en_rx_ring`), `dev`
//!   (`net_device`);
//! - bnxt: `rxcmp1`, `bp` (untyped: the sequences call the routine instead of reading them).
//!
//! Nullability follows the drivers: they set ice's and mlx4's fields before running the
//! program and their kfuncs dereference them unchecked, so the sequences may too; veth's `skb`
//! may be NULL and must be checked.

use bpf_verifier_model::interp::xdp_meta::PRESERVING_R1_ROUTINES;
use bpf_verifier_model::interp::Layouts;
use bpf_verifier_model::verifier::trusted::{Pointee, PointerField, TrustedRegion, TrustedRegions};

use crate::emit::Driver;
use crate::regions::Region;

/// `(struct, field, pointee struct or None for untyped memory, nullable)`.
type Row = (&'static str, &'static str, Option<&'static str>, bool);

const XDP_BUFF: [(&str, Option<&str>); 5] = [
    ("xdp.data", None),
    ("xdp.data_end", None),
    ("xdp.data_meta", None),
    ("xdp.data_hard_start", None),
    ("xdp.rxq", Some("xdp_rxq_info")),
];

const ROWS: [Row; 14] = [
    ("veth_xdp_buff", "skb", Some("sk_buff"), true),
    ("sk_buff", "head", None, false),
    ("sk_buff", "data", None, false),
    ("sk_buff", "dev", Some("net_device"), true),
    ("ice_xdp_buff", "eop_desc", Some("ice_32b_rx_flex_desc"), false),
    ("ice_xdp_buff", "pkt_ctx", Some("ice_pkt_ctx"), false),
    ("mlx4_en_xdp_buff", "cqe", Some("mlx4_cqe"), false),
    ("mlx4_en_xdp_buff", "mdev", Some("mlx4_en_dev"), false),
    ("mlx4_en_xdp_buff", "ring", Some("mlx4_en_rx_ring"), false),
    ("mlx4_en_xdp_buff", "dev", Some("net_device"), false),
    ("bnxt_xdp_buff", "rxcmp1", None, false),
    ("bnxt_xdp_buff", "bp", None, false),
    ("xdp_rxq_info", "dev", Some("net_device"), false),
    ("xdp_buff", "rxq", Some("xdp_rxq_info"), false),
];

/// The trusted-region description of `regions` (the `kernel` rewrite for `driver`, with the
/// layouts it was made with).
pub fn trusted_regions(driver: Driver, layouts: &Layouts, regions: &[Region]) -> TrustedRegions {
    let wrapper_name = driver.wrapper().unwrap_or("xdp_buff");
    let all = layouts.all();
    let wrapper = all
        .iter()
        .find(|l| l.name == wrapper_name)
        .map_or_else(|| layouts.xdp_buff.clone(), |l| (*l).clone());
    let mut pointers: Vec<PointerField> = ROWS
        .iter()
        .map(|&(layout, field, to, nullable)| PointerField {
            layout: layout.into(),
            field: field.into(),
            pointee: to.map_or(Pointee::Memory, |s| Pointee::Struct(s.into())),
            nullable,
        })
        .collect();
    for w in Driver::ALL.iter().filter_map(|d| d.wrapper()).chain(["xdp_buff"]) {
        for (field, to) in XDP_BUFF {
            let field = if w == "xdp_buff" { field.trim_start_matches("xdp.") } else { field };
            if pointers.iter().any(|p| p.layout == w && p.field == field) {
                continue;
            }
            pointers.push(PointerField {
                layout: w.into(),
                field: field.into(),
                pointee: to.map_or(Pointee::Memory, |s| Pointee::Struct(s.into())),
                nullable: false,
            });
        }
    }
    let routines = PRESERVING_R1_ROUTINES
        .iter()
        .filter(|(_, d, _)| driver.kind() == Some(*d))
        .map(|(n, _, _)| (*n).to_owned())
        .collect();
    TrustedRegions {
        regions: regions
            .iter()
            .map(|r| TrustedRegion { function: r.program.clone(), start: r.insn, len: r.len })
            .collect(),
        wrapper,
        layouts: all.iter().map(|l| (*l).clone()).collect(),
        pointers,
        routines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pointee_has_a_layout_and_every_pointer_field_exists() {
        let layouts = Layouts::v6_18();
        for d in Driver::ALL {
            let t = trusted_regions(d, &layouts, &[]);
            for p in &t.pointers {
                if let Pointee::Struct(s) = &p.pointee {
                    assert!(t.layouts.iter().any(|l| &l.name == s), "{d:?}: {s}");
                }
                let holder = t.layouts.iter().find(|l| l.name == p.layout).expect("the holder is a layout");
                let f = holder.find(&p.field).unwrap_or_else(|| panic!("{}.{}", p.layout, p.field));
                assert_eq!(f.size, 8, "{}.{} is a pointer", p.layout, p.field);
            }
            assert_eq!(t.wrapper.name, d.wrapper().unwrap_or("xdp_buff"));
        }
        let mlx4 = trusted_regions(Driver::Mlx4, &layouts, &[]);
        assert_eq!(mlx4.routines, ["mlx4_xdp_rx_timestamp", "mlx4_xdp_rx_timestamp_out"]);
        assert!(trusted_regions(Driver::Ice, &layouts, &[]).routines.is_empty());
    }
}
