//! Context access rules per program type, as the kernel's `*_is_valid_access` callbacks
//! decide them (`net/core/filter.c`, `kernel/trace/bpf_trace.c`): which offsets and sizes of
//! `struct xdp_md` / `struct __sk_buff` / `struct pt_regs` / a tracepoint record / raw
//! tracepoint arguments / `struct bpf_perf_event_data` a program may read or write, and what
//! type a load gives (a packet pointer for `data`, ...). A refused access is the kernel's
//! `invalid bpf_context access off=%d size=%d`. Sizes of kernel structures are x86-64's.

use crate::load::ProgType;

/// What a context load yields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CtxField {
    /// A scalar.
    Scalar,
    /// `PTR_TO_PACKET` (`data`).
    Packet,
    /// `PTR_TO_PACKET_META` (`data_meta`).
    PacketMeta,
    /// `PTR_TO_PACKET_END` (`data_end`).
    PacketEnd,
    /// `PTR_TO_SOCK_COMMON_OR_NULL` (`__sk_buff.sk`).
    SockCommonOrNull,
    /// `PTR_TO_SOCKET_OR_NULL` (`bpf_sock_ops.sk`).
    SocketOrNull,
}

/// Read or write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// `sizeof(struct xdp_md)`.
pub const XDP_MD_SIZE: i64 = 24;
/// `sizeof(struct __sk_buff)`.
pub const SK_BUFF_SIZE: i64 = 192;

/// `sizeof(struct pt_regs)` (x86-64): the kprobe context.
pub const PT_REGS_SIZE: i64 = 168;
/// `PERF_MAX_TRACE_SIZE`: the end of a tracepoint context.
pub const PERF_MAX_TRACE_SIZE: i64 = 8192;
/// `sizeof(u64) * MAX_BPF_FUNC_ARGS`: the raw tracepoint context.
pub const RAW_TP_ARGS_SIZE: i64 = 8 * 12;
/// `sizeof(struct bpf_perf_event_data)` (x86-64): `pt_regs`, `sample_period`, `addr`.
pub const PERF_EVENT_DATA_SIZE: i64 = PT_REGS_SIZE + 16;
/// `sizeof(struct bpf_sock_ops)`.
pub const SOCK_OPS_SIZE: i64 = 224;
/// `sizeof(struct bpf_sock)`.
pub const BPF_SOCK_SIZE: i64 = 80;

/// Whether the model has `ty`'s context rules ([`check`] refuses everything otherwise).
pub fn modelled(ty: ProgType) -> bool {
    ty != ProgType::Other
}

/// Whether a ctx access of `size` bytes at `off` is allowed for `ty`, and what it yields.
/// `None` means the kernel refuses it.
pub fn check(ty: ProgType, off: i64, size: u32, access: Access) -> Option<CtxField> {
    match ty {
        ProgType::Xdp => xdp(off, size, access),
        ProgType::SchedCls | ProgType::SchedAct => sk_buff(off, size, access, Rules::Tc),
        ProgType::SocketFilter => sk_buff(off, size, access, Rules::SocketFilter),
        ProgType::CgroupSkb => sk_buff(off, size, access, Rules::CgroupSkb),
        ProgType::Kprobe => kprobe(off, size, access),
        ProgType::Tracepoint => tracepoint(off, size, access),
        ProgType::RawTracepoint => raw_tracepoint(off, size, access),
        ProgType::PerfEvent => perf_event(off, size, access),
        ProgType::SockOps => sock_ops(off, size, access),
        ProgType::CgroupSock => cgroup_sock(off, size, access),
        ProgType::Other => None,
    }
}

/// Reads only, aligned to their size (`off % size == 0`).
fn aligned_read(off: i64, size: u32, access: Access) -> bool {
    access == Access::Read && size > 0 && off % i64::from(size) == 0
}

/// `kprobe_prog_is_valid_access`: aligned reads inside `struct pt_regs`.
fn kprobe(off: i64, size: u32, access: Access) -> Option<CtxField> {
    let inside = (0..PT_REGS_SIZE).contains(&off) && off + i64::from(size) <= PT_REGS_SIZE;
    (inside && aligned_read(off, size, access)).then_some(CtxField::Scalar)
}

/// `tp_prog_is_valid_access`: aligned reads from byte 8 (the first 8 bytes hide a
/// `struct pt_regs *`) up to `PERF_MAX_TRACE_SIZE`.
fn tracepoint(off: i64, size: u32, access: Access) -> Option<CtxField> {
    ((8..PERF_MAX_TRACE_SIZE).contains(&off) && aligned_read(off, size, access)).then_some(CtxField::Scalar)
}

/// `bpf_tracing_ctx_access`: aligned reads of the twelve `u64` arguments.
fn raw_tracepoint(off: i64, size: u32, access: Access) -> Option<CtxField> {
    ((0..RAW_TP_ARGS_SIZE).contains(&off) && aligned_read(off, size, access)).then_some(CtxField::Scalar)
}

/// `pe_prog_is_valid_access`: aligned reads; `sample_period` and `addr` also narrowly, the
/// registers only as whole `long`s.
fn perf_event(off: i64, size: u32, access: Access) -> Option<CtxField> {
    if !(0..PERF_EVENT_DATA_SIZE).contains(&off) || !aligned_read(off, size, access) {
        return None;
    }
    // bpf_ctx_narrow_access_ok(off, size, 8) holds for every power-of-two size up to 8.
    (off >= PT_REGS_SIZE || size == 8).then_some(CtxField::Scalar)
}

/// `xdp_is_valid_access`: reads only, 4 bytes, aligned; `egress_ifindex` only for devmap
/// programs (not modelled: refused).
fn xdp(off: i64, size: u32, access: Access) -> Option<CtxField> {
    if access == Access::Write || !(0..XDP_MD_SIZE).contains(&off) || off % i64::from(size) != 0 || size != 4
    {
        return None;
    }
    Some(match off {
        0 => CtxField::Packet,
        4 => CtxField::PacketEnd,
        8 => CtxField::PacketMeta,
        20 => return None,
        _ => CtxField::Scalar,
    })
}

/// `sock_ops_is_valid_access`: aligned 4-byte reads, 8-byte ones of the 64-bit fields and
/// pointers (`sk`, `skb_data`, `skb_data_end`), narrow reads of `skb_tcp_flags`; writes only
/// of `reply` and `sk_txhash`, 4 bytes.
fn sock_ops(off: i64, size: u32, access: Access) -> Option<CtxField> {
    const REPLY: i64 = 4;
    const SK_TXHASH: i64 = 164;
    const BYTES_RECEIVED: i64 = 168;
    const SK: i64 = 184;
    const SKB_DATA: i64 = 192;
    const SKB_DATA_END: i64 = 200;
    const SKB_TCP_FLAGS: i64 = 212;
    const SKB_HWTSTAMP: i64 = 216;
    if !(0..SOCK_OPS_SIZE).contains(&off) || size == 0 || off % i64::from(size) != 0 {
        return None;
    }
    if access == Access::Write {
        return (matches!(off, REPLY | SK_TXHASH) && size == 4).then_some(CtxField::Scalar);
    }
    let in_field = |start: i64, len: i64| (start..start + len).contains(&off);
    let (want, field) = if in_field(BYTES_RECEIVED, 16) || in_field(SKB_HWTSTAMP, 8) {
        (8, CtxField::Scalar)
    } else if in_field(SK, 8) {
        (8, CtxField::SocketOrNull)
    } else if in_field(SKB_DATA, 8) {
        (8, CtxField::Packet)
    } else if in_field(SKB_DATA_END, 8) {
        (8, CtxField::PacketEnd)
    } else if off == SKB_TCP_FLAGS {
        return (size <= 4).then_some(CtxField::Scalar);
    } else {
        (4, CtxField::Scalar)
    };
    (size == want).then_some(field)
}

/// `sock_filter_is_valid_access` for `BPF_CGROUP_INET_SOCK_CREATE` (the default attach type):
/// `bound_dev_if`, `mark` and `priority` read and written as 4 bytes, the source address and
/// port not at all, the rest read as `bpf_sock_is_valid_access` allows (narrowly for the
/// addresses, `family`, `type`, `protocol`, `dst_port`, `state`, `rx_queue_mapping`).
fn cgroup_sock(off: i64, size: u32, access: Access) -> Option<CtxField> {
    const MARK: i64 = 16;
    const PRIORITY: i64 = 20;
    const SRC_IP4: i64 = 24;
    const SRC_PORT: i64 = 44;
    const DST_PORT: i64 = 48;
    const DST_IP4: i64 = 52;
    const STATE: i64 = 72;
    if !(0..BPF_SOCK_SIZE).contains(&off) || size == 0 || off % i64::from(size) != 0 {
        return None;
    }
    let writable = matches!(off, 0 | MARK | PRIORITY);
    if (SRC_IP4..=SRC_PORT).contains(&off) || (access == Access::Write && !writable) {
        return None;
    }
    let narrow = matches!(off, 4 | 8 | 12 | STATE | 76) || (DST_IP4..STATE).contains(&off);
    let ok = if narrow {
        size <= 4
    } else if (DST_PORT..DST_PORT + 2).contains(&off) {
        // A whole 4-byte read, or narrow reads of the 2-byte port.
        size == 4 || size <= 2
    } else {
        size == 4
    };
    ok.then_some(CtxField::Scalar)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    Tc,
    SocketFilter,
    CgroupSkb,
}

/// `__sk_buff` offsets.
mod off {
    pub const MARK: i64 = 8;
    pub const QUEUE_MAPPING: i64 = 12;
    pub const PRIORITY: i64 = 32;
    pub const TC_INDEX: i64 = 44;
    pub const CB0: i64 = 48;
    pub const CB_END: i64 = 68;
    pub const TC_CLASSID: i64 = 72;
    pub const DATA: i64 = 76;
    pub const DATA_END: i64 = 80;
    pub const FAMILY: i64 = 88;
    pub const REMOTE_IP4: i64 = 92;
    pub const REMOTE_PORT: i64 = 132;
    pub const LOCAL_PORT_END: i64 = 140;
    pub const DATA_META: i64 = 140;
    pub const FLOW_KEYS: i64 = 144;
    pub const TSTAMP: i64 = 152;
    pub const WIRE_LEN: i64 = 160;
    pub const SK: i64 = 168;
    pub const TSTAMP_TYPE: i64 = 180;
    pub const HWTSTAMP: i64 = 184;
}

/// Whether `[off, off + size)` lies in the 4-byte field at `start`.
fn within(off: i64, size: u32, start: i64, len: i64) -> bool {
    off >= start && off + i64::from(size) <= start + len
}

/// `tc_cls_act_is_valid_access` / `sk_filter_is_valid_access` over `bpf_skb_is_valid_access`.
fn sk_buff(off: i64, size: u32, access: Access, rules: Rules) -> Option<CtxField> {
    if !(0..SK_BUFF_SIZE).contains(&off) || off % i64::from(size) != 0 {
        return None;
    }
    let in_field = |start: i64, len: i64| off >= start && off < start + len;
    let cb = in_field(off::CB0, off::CB_END - off::CB0);
    if access == Access::Write {
        let writable = match rules {
            Rules::Tc => {
                cb || [off::MARK, off::TC_INDEX, off::PRIORITY, off::TC_CLASSID, off::QUEUE_MAPPING]
                    .iter()
                    .any(|&f| in_field(f, 4))
                    || in_field(off::TSTAMP, 8)
            }
            Rules::SocketFilter => cb,
            Rules::CgroupSkb => {
                cb || in_field(off::MARK, 4) || in_field(off::PRIORITY, 4) || in_field(off::TSTAMP, 8)
            }
        };
        if !writable {
            return None;
        }
    }
    let mut yields = CtxField::Scalar;
    match rules {
        Rules::Tc => {
            if in_field(off::FAMILY, off::LOCAL_PORT_END - off::FAMILY) {
                return None;
            }
            if off == off::TSTAMP_TYPE {
                return (size == 1).then_some(CtxField::Scalar);
            }
            if in_field(off::DATA, 4) {
                yields = CtxField::Packet;
            } else if in_field(off::DATA_META, 4) {
                yields = CtxField::PacketMeta;
            } else if in_field(off::DATA_END, 4) {
                yields = CtxField::PacketEnd;
            }
        }
        Rules::SocketFilter => {
            let denied = in_field(off::TC_CLASSID, 4)
                || in_field(off::DATA, 4)
                || in_field(off::DATA_META, 4)
                || in_field(off::DATA_END, 4)
                || in_field(off::FAMILY, off::LOCAL_PORT_END - off::FAMILY)
                || in_field(off::TSTAMP, 8)
                || in_field(off::HWTSTAMP, 8)
                || in_field(off::TSTAMP_TYPE, 4)
                || in_field(off::WIRE_LEN, 4);
            if denied {
                return None;
            }
        }
        Rules::CgroupSkb => {
            let denied =
                in_field(off::TC_CLASSID, 4) || in_field(off::DATA_META, 4) || in_field(off::WIRE_LEN, 4);
            if denied {
                return None;
            }
            if in_field(off::DATA, 4) {
                yields = CtxField::Packet;
            } else if in_field(off::DATA_END, 4) {
                yields = CtxField::PacketEnd;
            }
        }
    }
    // bpf_skb_is_valid_access.
    if cb {
        return within(off, size, off::CB0, off::CB_END - off::CB0).then_some(yields);
    }
    if in_field(off::DATA, 4) || in_field(off::DATA_META, 4) || in_field(off::DATA_END, 4) {
        return (size == 4).then_some(yields);
    }
    if in_field(off::REMOTE_IP4, off::REMOTE_PORT - off::REMOTE_IP4) {
        // remote_ip4 .. local_ip6[3]: whole 4-byte loads only.
        return (size == 4).then_some(yields);
    }
    if in_field(off::FLOW_KEYS, 8) {
        return None;
    }
    if in_field(off::HWTSTAMP, 8) {
        return (access == Access::Read && size == 8).then_some(yields);
    }
    if in_field(off::TSTAMP, 8) {
        return (size == 8).then_some(yields);
    }
    if in_field(off::SK, 8) {
        return (off == off::SK && access == Access::Read && size == 8).then_some(CtxField::SockCommonOrNull);
    }
    if in_field(off::TSTAMP_TYPE, off::HWTSTAMP - off::TSTAMP_TYPE) {
        // tstamp_type (only through BTF) and the padding after it.
        return None;
    }
    match access {
        Access::Write => (size == 4).then_some(yields),
        // Narrow reads of the low bytes of a 4-byte field (bpf_ctx_narrow_access_ok).
        Access::Read => (size <= 4 && off % 4 + i64::from(size) <= 4).then_some(yields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_rules_for_common_fields() {
        use Access::{Read, Write};
        use ProgType::{Kprobe, PerfEvent, RawTracepoint, SchedCls, SocketFilter, Tracepoint, Xdp};
        let s = Some(CtxField::Scalar);
        let cases: [(ProgType, i64, u32, Access, Option<CtxField>); 36] = [
            (Xdp, 0, 4, Read, Some(CtxField::Packet)),
            (Xdp, 4, 4, Read, Some(CtxField::PacketEnd)),
            (Xdp, 8, 4, Read, Some(CtxField::PacketMeta)),
            (Xdp, 12, 4, Read, Some(CtxField::Scalar)),
            (Xdp, 0, 8, Read, None),
            (Xdp, 12, 2, Read, None),
            (Xdp, 12, 4, Write, None),
            (Xdp, 24, 4, Read, None),
            (Xdp, 20, 4, Read, None),
            (SchedCls, 76, 4, Read, Some(CtxField::Packet)),
            (SchedCls, 76, 8, Read, None),
            (SchedCls, 80, 4, Write, None),
            (SchedCls, 8, 4, Write, Some(CtxField::Scalar)),
            (SchedCls, 0, 4, Write, None),
            (SchedCls, 0, 1, Read, Some(CtxField::Scalar)),
            (SchedCls, 2, 2, Read, Some(CtxField::Scalar)),
            (SchedCls, 48, 8, Read, Some(CtxField::Scalar)),
            (SchedCls, 64, 8, Read, None),
            (SchedCls, 184, 8, Read, Some(CtxField::Scalar)),
            (SocketFilter, 76, 4, Read, None),
            (SocketFilter, 8, 4, Write, None),
            (SocketFilter, 52, 4, Write, Some(CtxField::Scalar)),
            (Kprobe, 0, 8, Read, s),
            (Kprobe, 160, 8, Read, s),
            (Kprobe, 164, 4, Read, s),
            (Kprobe, 168, 1, Read, None),
            (Kprobe, 4, 8, Read, None),
            (Kprobe, 0, 8, Write, None),
            (Tracepoint, 0, 8, Read, None),
            (Tracepoint, 8, 8, Read, s),
            (Tracepoint, 8190, 2, Read, s),
            (Tracepoint, 8192, 1, Read, None),
            (RawTracepoint, 88, 8, Read, s),
            (RawTracepoint, 96, 8, Read, None),
            (PerfEvent, 170, 2, Read, s),
            (PerfEvent, 160, 4, Read, None),
        ];
        for (ty, off, size, access, want) in cases {
            assert_eq!(check(ty, off, size, access), want, "{ty:?} off={off} size={size} {access:?}");
        }
    }
}
