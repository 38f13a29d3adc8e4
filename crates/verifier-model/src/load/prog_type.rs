//! Program types: the kernel's `enum bpf_prog_type` numbers, the section names libbpf (and the
//! older samples' `bpf_load.c`) give them, and the names a user types (`--prog-type`).

use std::fmt;

/// The context a program type runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgType {
    /// `BPF_PROG_TYPE_XDP` (`xdp*` sections): `struct xdp_md`.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS` (`tc*`, `classifier`): `struct __sk_buff`.
    SchedCls,
    /// `BPF_PROG_TYPE_SCHED_ACT` (`action`): `struct __sk_buff`, as `SCHED_CLS`.
    SchedAct,
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (`socket*`): `struct __sk_buff`.
    SocketFilter,
    /// `BPF_PROG_TYPE_CGROUP_SKB` (`cgroup_skb/*`): `struct __sk_buff` from the network header.
    CgroupSkb,
    /// `BPF_PROG_TYPE_KPROBE` (`kprobe/`, `kretprobe/`, `uprobe/`, `ksyscall/`, `usdt/`, ...):
    /// `struct pt_regs`, read only.
    Kprobe,
    /// `BPF_PROG_TYPE_TRACEPOINT` (`tracepoint/`, `tp/`): the tracepoint's record, read only.
    Tracepoint,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (`raw_tracepoint/`, `raw_tp/`): `u64 args[12]`, read only.
    RawTracepoint,
    /// `BPF_PROG_TYPE_PERF_EVENT` (`perf_event`): `struct bpf_perf_event_data`, read only.
    PerfEvent,
    /// `BPF_PROG_TYPE_CGROUP_SOCK` attached at socket creation or release (`cgroup/sock`,
    /// `cgroup/sock_create`, `cgroup/sock_release`): `struct bpf_sock`.
    CgroupSock,
    /// `BPF_PROG_TYPE_SOCK_OPS` (`sockops`): `struct bpf_sock_ops`.
    SockOps,
    /// Anything else (fentry, LSM, struct_ops, sleepable programs, ...): not modelled.
    Other,
}

/// Every modelled type with its user-facing name and kernel number.
const TYPES: [(ProgType, &str, u32); 11] = [
    (ProgType::SocketFilter, "socket_filter", 1),
    (ProgType::Kprobe, "kprobe", 2),
    (ProgType::SchedCls, "sched_cls", 3),
    (ProgType::SchedAct, "sched_act", 4),
    (ProgType::Tracepoint, "tracepoint", 5),
    (ProgType::Xdp, "xdp", 6),
    (ProgType::PerfEvent, "perf_event", 7),
    (ProgType::CgroupSkb, "cgroup_skb", 8),
    (ProgType::CgroupSock, "cgroup_sock", 9),
    (ProgType::SockOps, "sock_ops", 13),
    (ProgType::RawTracepoint, "raw_tracepoint", 17),
];

/// Other spellings [`ProgType::from_name`] accepts.
const ALIASES: [(&str, ProgType); 8] = [
    ("tc", ProgType::SchedCls),
    ("classifier", ProgType::SchedCls),
    ("action", ProgType::SchedAct),
    ("socket", ProgType::SocketFilter),
    ("tp", ProgType::Tracepoint),
    ("raw_tp", ProgType::RawTracepoint),
    ("sockops", ProgType::SockOps),
    ("uprobe", ProgType::Kprobe),
];

impl ProgType {
    /// The kernel's `enum bpf_prog_type` number (`None` for [`ProgType::Other`]).
    pub fn number(self) -> Option<u32> {
        TYPES.iter().find(|t| t.0 == self).map(|t| t.2)
    }

    /// The name [`ProgType::from_name`] reads back (`sched_cls`, `kprobe`, ...; `other`).
    pub fn name(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("other", |t| t.1)
    }

    /// Parses a type name as a user writes it: the kernel's `BPF_PROG_TYPE_*` suffix in lower
    /// case (`xdp`, `sched_cls`, `sched_act`, `socket_filter`, `cgroup_skb`, `kprobe`,
    /// `tracepoint`, `raw_tracepoint`, `perf_event`, `cgroup_sock`, `sock_ops`) or a usual
    /// alias (`tc`, `socket`, `tp`, `raw_tp`, `sockops`, `uprobe`, ...).
    pub fn from_name(name: &str) -> Option<ProgType> {
        let name = name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("bpf_prog_type_").unwrap_or(&name);
        TYPES
            .iter()
            .find(|t| t.1 == name)
            .map(|t| t.0)
            .or_else(|| ALIASES.iter().find(|a| a.0 == name).map(|a| a.1))
    }

    /// Every modelled type (not [`ProgType::Other`]).
    pub fn all() -> impl Iterator<Item = ProgType> {
        TYPES.iter().map(|t| t.0)
    }

    /// The types that run on a packet (XDP, TC, socket filter, cgroup skb), which the
    /// interpreter can run ([`super::run_packet`]).
    pub fn is_packet(self) -> bool {
        matches!(
            self,
            ProgType::Xdp
                | ProgType::SchedCls
                | ProgType::SchedAct
                | ProgType::SocketFilter
                | ProgType::CgroupSkb
        )
    }

    /// `SCHED_CLS` or `SCHED_ACT`: the traffic control types, which share their rules.
    pub fn is_tc(self) -> bool {
        matches!(self, ProgType::SchedCls | ProgType::SchedAct)
    }

    /// The type a pre-libbpf loader gives section `section` (for objects such as the
    /// ebpf-samples corpus, checked the way PREVAIL checks them): [`ProgType::of_section`]'s
    /// when it names one; any other name without a `/` (`.text`, `tc_mark`,
    /// `drop_non_tun_vip`, `filter`: most are attached with `tc`) is SCHED_CLS, whose context
    /// and helpers include a socket filter's.
    pub fn of_legacy_section(section: &str) -> ProgType {
        match ProgType::of_section(section) {
            ProgType::Other if !section.contains('/') => ProgType::SchedCls,
            t => t,
        }
    }

    /// The type libbpf gives a program in section `section` (`SEC_DEF`s of `libbpf.c`); the
    /// older samples' names (`socket1`, `xdp_redirect`, ...) map as `bpf_load.c` mapped them,
    /// by prefix.
    /// Sleepable (`.s`), multi-attach session and writable raw tracepoint variants, whose
    /// rules differ, are [`ProgType::Other`].
    pub fn of_section(section: &str) -> ProgType {
        let mut parts = section.split('/');
        let head = parts.next().unwrap_or("");
        let mut words = head.split('.');
        let first = words.next().unwrap_or("");
        let suffix: Vec<&str> = words.collect();
        if matches!(suffix.as_slice(), ["s"] | [_, "s"] | ["session"] | ["w"]) {
            return ProgType::Other;
        }
        let rest = parts.next().unwrap_or("");
        match first {
            "xdp" => ProgType::Xdp,
            "tc" | "tcx" | "classifier" | "netkit" => ProgType::SchedCls,
            "action" => ProgType::SchedAct,
            "cgroup_skb" => ProgType::CgroupSkb,
            "cgroup" if rest == "skb" => ProgType::CgroupSkb,
            // post_bind programs have other context rules (their attach type): not modelled.
            "cgroup" if rest.starts_with("sock") && !rest.starts_with("sockopt") => ProgType::CgroupSock,
            "kprobe" | "kretprobe" | "uprobe" | "uretprobe" | "ksyscall" | "kretsyscall" | "usdt" => {
                ProgType::Kprobe
            }
            "tracepoint" | "tp" => ProgType::Tracepoint,
            "raw_tracepoint" | "raw_tp" => ProgType::RawTracepoint,
            "perf_event" => ProgType::PerfEvent,
            "sockops" => ProgType::SockOps,
            f if f.starts_with("socket") => ProgType::SocketFilter,
            f if f.starts_with("xdp") => ProgType::Xdp,
            _ => ProgType::Other,
        }
    }
}

impl fmt::Display for ProgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_sections_default_to_sched_cls() {
        for (section, want) in [
            (".text", ProgType::SchedCls),
            ("tc_mark", ProgType::SchedCls),
            ("xdp_prog", ProgType::Xdp),
            ("socket1", ProgType::SocketFilter),
            ("kprobe/sys_write", ProgType::Kprobe),
            ("fentry/tcp_close", ProgType::Other),
        ] {
            assert_eq!(ProgType::of_legacy_section(section), want, "{section}");
        }
    }

    #[test]
    fn sections_name_the_libbpf_types() {
        let cases = [
            ("xdp", ProgType::Xdp),
            ("xdp.frags", ProgType::Xdp),
            ("xdp_redirect_map", ProgType::Xdp),
            ("tc/ingress", ProgType::SchedCls),
            ("classifier", ProgType::SchedCls),
            ("action", ProgType::SchedAct),
            ("socket", ProgType::SocketFilter),
            ("socket1", ProgType::SocketFilter),
            ("cgroup/skb", ProgType::CgroupSkb),
            ("cgroup_skb/egress", ProgType::CgroupSkb),
            ("kprobe/sys_write", ProgType::Kprobe),
            ("kretprobe/tcp_close", ProgType::Kprobe),
            ("uprobe//bin/bash:readline", ProgType::Kprobe),
            ("uprobe.s/foo", ProgType::Other),
            ("kprobe.multi/tcp_*", ProgType::Kprobe),
            ("kprobe.session/foo", ProgType::Other),
            ("ksyscall/execve", ProgType::Kprobe),
            ("tracepoint/syscalls/sys_enter_open", ProgType::Tracepoint),
            ("tp/sched/sched_switch", ProgType::Tracepoint),
            ("raw_tracepoint/task_rename", ProgType::RawTracepoint),
            ("raw_tp.w/foo", ProgType::Other),
            ("perf_event", ProgType::PerfEvent),
            ("sockops", ProgType::SockOps),
            ("cgroup/sock", ProgType::CgroupSock),
            ("cgroup/sock_create", ProgType::CgroupSock),
            ("cgroup/sockopt", ProgType::Other),
            ("cgroup/sock_release", ProgType::CgroupSock),
            ("cgroup/sock1", ProgType::CgroupSock),
            ("cgroup/post_bind4", ProgType::Other),
            ("fentry/tcp_close", ProgType::Other),
            ("tp_btf/sched_switch", ProgType::Other),
            ("lsm/file_open", ProgType::Other),
        ];
        for (section, want) in cases {
            assert_eq!(ProgType::of_section(section), want, "{section}");
        }
    }

    #[test]
    fn names_round_trip_and_numbers_are_the_kernels() {
        for t in ProgType::all() {
            assert_eq!(ProgType::from_name(t.name()), Some(t));
        }
        assert_eq!(ProgType::from_name("tc"), Some(ProgType::SchedCls));
        assert_eq!(ProgType::from_name("BPF_PROG_TYPE_KPROBE"), Some(ProgType::Kprobe));
        assert_eq!(ProgType::from_name("fentry"), None);
        assert_eq!(ProgType::Other.number(), None);
        assert_eq!(ProgType::RawTracepoint.number(), Some(17));
        assert_eq!(ProgType::SockOps.number(), Some(13));
    }
}
