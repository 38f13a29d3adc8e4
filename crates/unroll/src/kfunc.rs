//! The kfunc catalogue: the XDP RX-metadata kfuncs of the two ABIs (kernel-notes §B.1, §B.2), by
//! the symbol names objects call them by. The ABI is the caller's choice: the RFC and mainline both
//! spell one of them `bpf_xdp_metadata_rx_timestamp`, with different signatures.

use std::fmt;

/// Which kfunc ABI an object was written against.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Abi {
    /// Mainline (6.3+): `int` results 0 / -ENODATA / -EOPNOTSUPP, values through pointer
    /// arguments in R2 / R3.
    Mainline,
    /// The 2022 RFC: value-returning kfuncs taking only the context.
    Rfc,
}

impl Abi {
    /// Both ABIs.
    pub const ALL: [Abi; 2] = [Abi::Mainline, Abi::Rfc];

    /// Lower-case name (`mainline`, `rfc`).
    pub const fn name(self) -> &'static str {
        match self {
            Abi::Mainline => "mainline",
            Abi::Rfc => "rfc",
        }
    }

    /// The kfuncs of this ABI.
    pub fn kfuncs(self) -> &'static [Kfunc] {
        match self {
            Abi::Mainline => &[Kfunc::RxTimestamp, Kfunc::RxHash, Kfunc::RxVlanTag],
            Abi::Rfc => &[Kfunc::RfcRxTimestampSupported, Kfunc::RfcRxTimestamp, Kfunc::RfcExportToSkb],
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata kfunc of one ABI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kfunc {
    /// Mainline `int bpf_xdp_metadata_rx_timestamp(ctx, u64 *timestamp)`.
    RxTimestamp,
    /// Mainline `int bpf_xdp_metadata_rx_hash(ctx, u32 *hash, enum xdp_rss_hash_type *rss_type)`.
    RxHash,
    /// Mainline `int bpf_xdp_metadata_rx_vlan_tag(ctx, __be16 *vlan_proto, u16 *vlan_tci)`.
    RxVlanTag,
    /// RFC `int bpf_xdp_metadata_rx_timestamp_supported(ctx)`: 1 if the driver has timestamps.
    RfcRxTimestampSupported,
    /// RFC `u64 bpf_xdp_metadata_rx_timestamp(ctx)`: the timestamp, 0 when there is none.
    RfcRxTimestamp,
    /// RFC `int bpf_xdp_metadata_export_to_skb(ctx)`: writes the hints in front of `data_meta`
    /// (0 on success, -1 when there is no room or the program already has metadata).
    RfcExportToSkb,
}

impl Kfunc {
    /// The symbol name objects call it by.
    pub const fn name(self) -> &'static str {
        match self {
            Kfunc::RxTimestamp | Kfunc::RfcRxTimestamp => "bpf_xdp_metadata_rx_timestamp",
            Kfunc::RxHash => "bpf_xdp_metadata_rx_hash",
            Kfunc::RxVlanTag => "bpf_xdp_metadata_rx_vlan_tag",
            Kfunc::RfcRxTimestampSupported => "bpf_xdp_metadata_rx_timestamp_supported",
            Kfunc::RfcExportToSkb => "bpf_xdp_metadata_export_to_skb",
        }
    }

    /// The ABI it belongs to.
    pub const fn abi(self) -> Abi {
        match self {
            Kfunc::RxTimestamp | Kfunc::RxHash | Kfunc::RxVlanTag => Abi::Mainline,
            _ => Abi::Rfc,
        }
    }

    /// The kfunc `symbol` names under `abi`, if it is a metadata kfunc of that ABI.
    pub fn resolve(symbol: &str, abi: Abi) -> Option<Kfunc> {
        abi.kfuncs().iter().copied().find(|k| k.name() == symbol)
    }

    /// A short key for file and report names (`rx_timestamp`, `rfc_export_to_skb`, ...).
    pub const fn key(self) -> &'static str {
        match self {
            Kfunc::RxTimestamp => "rx_timestamp",
            Kfunc::RxHash => "rx_hash",
            Kfunc::RxVlanTag => "rx_vlan_tag",
            Kfunc::RfcRxTimestampSupported => "rfc_rx_timestamp_supported",
            Kfunc::RfcRxTimestamp => "rfc_rx_timestamp",
            Kfunc::RfcExportToSkb => "rfc_export_to_skb",
        }
    }

    /// Mainline kfuncs whose pointer arguments (R2, R3) the verifier treats as written, with
    /// the size of what each points to.
    pub const fn out_params(self) -> &'static [(bpf_patch::op::Reg, bpf_patch::op::Size)] {
        use bpf_patch::op::{Reg, Size};
        match self {
            Kfunc::RxTimestamp => &[(Reg::R2, Size::DW)],
            Kfunc::RxHash => &[(Reg::R2, Size::W), (Reg::R3, Size::W)],
            Kfunc::RxVlanTag => &[(Reg::R2, Size::H), (Reg::R3, Size::H)],
            _ => &[],
        }
    }
}

impl fmt::Display for Kfunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_only_under_their_abi() {
        let cases = [
            ("bpf_xdp_metadata_rx_timestamp", Abi::Mainline, Some(Kfunc::RxTimestamp)),
            ("bpf_xdp_metadata_rx_timestamp", Abi::Rfc, Some(Kfunc::RfcRxTimestamp)),
            ("bpf_xdp_metadata_rx_hash", Abi::Mainline, Some(Kfunc::RxHash)),
            ("bpf_xdp_metadata_rx_hash", Abi::Rfc, None),
            ("bpf_xdp_metadata_rx_vlan_tag", Abi::Mainline, Some(Kfunc::RxVlanTag)),
            ("bpf_xdp_metadata_rx_timestamp_supported", Abi::Rfc, Some(Kfunc::RfcRxTimestampSupported)),
            ("bpf_xdp_metadata_rx_timestamp_supported", Abi::Mainline, None),
            ("bpf_xdp_metadata_export_to_skb", Abi::Rfc, Some(Kfunc::RfcExportToSkb)),
            ("bpf_dynptr_from_xdp", Abi::Mainline, None),
        ];
        for (name, abi, want) in cases {
            assert_eq!(Kfunc::resolve(name, abi), want, "{name} under {abi}");
        }
        for abi in Abi::ALL {
            assert!(abi.kfuncs().iter().all(|k| k.abi() == abi));
        }
    }
}
