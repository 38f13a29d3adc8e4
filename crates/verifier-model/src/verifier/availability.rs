//! Which helpers each program type may call, as the kernel's per-type `get_func_proto`
//! decides for a privileged loader (`kernel/trace/bpf_trace.c`, `net/core/filter.c`,
//! `kernel/bpf/helpers.c` `bpf_base_func_proto`), and the helpers' names (`func_id_name`,
//! `include/uapi/linux/bpf.h`) for the kernel's messages. The sets are the running kernel's
//! (6.18, x86-64; `crates/cli/tests/verifier_helpers.rs` checks them against it); they are
//! data, not derived from the prototype table, which describes fewer helpers. The explorer
//! applies them with [`super::helpers::Version::Current`] only.

use crate::load::ProgType;

/// `__BPF_FUNC_MAX_ID`: helper ids are below it.
pub const FUNC_MAX_ID: i32 = 212;

/// `enum bpf_func_id` names without `BPF_FUNC_`, by id.
pub const NAMES: [&str; FUNC_MAX_ID as usize] = [
    "unspec",
    "map_lookup_elem",
    "map_update_elem",
    "map_delete_elem",
    "probe_read",
    "ktime_get_ns",
    "trace_printk",
    "get_prandom_u32",
    "get_smp_processor_id",
    "skb_store_bytes",
    "l3_csum_replace",
    "l4_csum_replace",
    "tail_call",
    "clone_redirect",
    "get_current_pid_tgid",
    "get_current_uid_gid",
    "get_current_comm",
    "get_cgroup_classid",
    "skb_vlan_push",
    "skb_vlan_pop",
    "skb_get_tunnel_key",
    "skb_set_tunnel_key",
    "perf_event_read",
    "redirect",
    "get_route_realm",
    "perf_event_output",
    "skb_load_bytes",
    "get_stackid",
    "csum_diff",
    "skb_get_tunnel_opt",
    "skb_set_tunnel_opt",
    "skb_change_proto",
    "skb_change_type",
    "skb_under_cgroup",
    "get_hash_recalc",
    "get_current_task",
    "probe_write_user",
    "current_task_under_cgroup",
    "skb_change_tail",
    "skb_pull_data",
    "csum_update",
    "set_hash_invalid",
    "get_numa_node_id",
    "skb_change_head",
    "xdp_adjust_head",
    "probe_read_str",
    "get_socket_cookie",
    "get_socket_uid",
    "set_hash",
    "setsockopt",
    "skb_adjust_room",
    "redirect_map",
    "sk_redirect_map",
    "sock_map_update",
    "xdp_adjust_meta",
    "perf_event_read_value",
    "perf_prog_read_value",
    "getsockopt",
    "override_return",
    "sock_ops_cb_flags_set",
    "msg_redirect_map",
    "msg_apply_bytes",
    "msg_cork_bytes",
    "msg_pull_data",
    "bind",
    "xdp_adjust_tail",
    "skb_get_xfrm_state",
    "get_stack",
    "skb_load_bytes_relative",
    "fib_lookup",
    "sock_hash_update",
    "msg_redirect_hash",
    "sk_redirect_hash",
    "lwt_push_encap",
    "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh",
    "lwt_seg6_action",
    "rc_repeat",
    "rc_keydown",
    "skb_cgroup_id",
    "get_current_cgroup_id",
    "get_local_storage",
    "sk_select_reuseport",
    "skb_ancestor_cgroup_id",
    "sk_lookup_tcp",
    "sk_lookup_udp",
    "sk_release",
    "map_push_elem",
    "map_pop_elem",
    "map_peek_elem",
    "msg_push_data",
    "msg_pop_data",
    "rc_pointer_rel",
    "spin_lock",
    "spin_unlock",
    "sk_fullsock",
    "tcp_sock",
    "skb_ecn_set_ce",
    "get_listener_sock",
    "skc_lookup_tcp",
    "tcp_check_syncookie",
    "sysctl_get_name",
    "sysctl_get_current_value",
    "sysctl_get_new_value",
    "sysctl_set_new_value",
    "strtol",
    "strtoul",
    "sk_storage_get",
    "sk_storage_delete",
    "send_signal",
    "tcp_gen_syncookie",
    "skb_output",
    "probe_read_user",
    "probe_read_kernel",
    "probe_read_user_str",
    "probe_read_kernel_str",
    "tcp_send_ack",
    "send_signal_thread",
    "jiffies64",
    "read_branch_records",
    "get_ns_current_pid_tgid",
    "xdp_output",
    "get_netns_cookie",
    "get_current_ancestor_cgroup_id",
    "sk_assign",
    "ktime_get_boot_ns",
    "seq_printf",
    "seq_write",
    "sk_cgroup_id",
    "sk_ancestor_cgroup_id",
    "ringbuf_output",
    "ringbuf_reserve",
    "ringbuf_submit",
    "ringbuf_discard",
    "ringbuf_query",
    "csum_level",
    "skc_to_tcp6_sock",
    "skc_to_tcp_sock",
    "skc_to_tcp_timewait_sock",
    "skc_to_tcp_request_sock",
    "skc_to_udp6_sock",
    "get_task_stack",
    "load_hdr_opt",
    "store_hdr_opt",
    "reserve_hdr_opt",
    "inode_storage_get",
    "inode_storage_delete",
    "d_path",
    "copy_from_user",
    "snprintf_btf",
    "seq_printf_btf",
    "skb_cgroup_classid",
    "redirect_neigh",
    "per_cpu_ptr",
    "this_cpu_ptr",
    "redirect_peer",
    "task_storage_get",
    "task_storage_delete",
    "get_current_task_btf",
    "bprm_opts_set",
    "ktime_get_coarse_ns",
    "ima_inode_hash",
    "sock_from_file",
    "check_mtu",
    "for_each_map_elem",
    "snprintf",
    "sys_bpf",
    "btf_find_by_name_kind",
    "sys_close",
    "timer_init",
    "timer_set_callback",
    "timer_start",
    "timer_cancel",
    "get_func_ip",
    "get_attach_cookie",
    "task_pt_regs",
    "get_branch_snapshot",
    "trace_vprintk",
    "skc_to_unix_sock",
    "kallsyms_lookup_name",
    "find_vma",
    "loop",
    "strncmp",
    "get_func_arg",
    "get_func_ret",
    "get_func_arg_cnt",
    "get_retval",
    "set_retval",
    "xdp_get_buff_len",
    "xdp_load_bytes",
    "xdp_store_bytes",
    "copy_from_user_task",
    "skb_set_tstamp",
    "ima_file_hash",
    "kptr_xchg",
    "map_lookup_percpu_elem",
    "skc_to_mptcp_sock",
    "dynptr_from_mem",
    "ringbuf_reserve_dynptr",
    "ringbuf_submit_dynptr",
    "ringbuf_discard_dynptr",
    "dynptr_read",
    "dynptr_write",
    "dynptr_data",
    "tcp_raw_gen_syncookie_ipv4",
    "tcp_raw_gen_syncookie_ipv6",
    "tcp_raw_check_syncookie_ipv4",
    "tcp_raw_check_syncookie_ipv6",
    "ktime_get_tai_ns",
    "user_ringbuf_drain",
    "cgrp_storage_get",
    "cgrp_storage_delete",
];

/// The kernel's `func_id_name`: `bpf_<name>`, or `unknown` outside the enum.
pub fn func_id_name(id: i32) -> String {
    usize::try_from(id)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| "unknown".into(), |n| format!("bpf_{n}"))
}

/// Helpers of `BPF_PROG_TYPE_SOCKET_FILTER` (`sk_filter_func_proto`).
pub const SOCKET_FILTER: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138,
    139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178,
    180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_KPROBE` (`kprobe_prog_func_proto`).
pub const KPROBE: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153,
    154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195,
    197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_SCHED_CLS` and `_ACT` (`tc_cls_act_func_proto`).
pub const SCHED_CLS: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30,
    31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80, 83, 84, 85, 86,
    87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112, 113, 114, 115, 117, 118,
    120, 122, 123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 148, 149, 151, 152,
    153, 154, 155, 156, 157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182,
    191, 192, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_TRACEPOINT` (`tp_prog_func_proto`).
pub const TRACEPOINT: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153,
    154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195,
    197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_XDP` (`xdp_func_proto`).
pub const XDP: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 23, 25, 28, 35, 37, 42, 44, 51, 54, 55, 65, 69, 80, 84, 85,
    86, 87, 88, 89, 93, 94, 99, 100, 105, 106, 109, 110, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130,
    131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 163, 164, 165,
    169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 188, 189, 190, 191, 194, 195, 196, 197, 198, 199,
    200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_PERF_EVENT` (`pe_prog_func_proto`).
pub const PERF_EVENT: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 56, 67, 80, 87, 88, 89, 93,
    94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 119, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148,
    149, 153, 154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191,
    194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_CGROUP_SKB` (`cg_skb_func_proto`).
pub const CGROUP_SKB: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 79, 80, 81, 83, 84, 85,
    86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120,
    122, 123, 125, 128, 129, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156,
    157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197,
    198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_CGROUP_SOCK` (`sock_filter_func_proto`).
pub const CGROUP_SOCK: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 55, 80, 81, 87, 88, 89, 93, 94, 105,
    106, 107, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149,
    153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 186, 187, 191,
    194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_SOCK_OPS` (`sock_ops_func_proto`).
pub const SOCK_OPS: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 49, 53, 55, 57, 59, 70, 80, 81, 87, 88,
    89, 93, 94, 96, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 142, 143, 144, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165,
    169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202,
    203, 208, 209, 210, 211,
];

/// Helpers of `BPF_PROG_TYPE_RAW_TRACEPOINT` (`raw_tp_prog_func_proto`).
pub const RAW_TRACEPOINT: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153,
    154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195,
    197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// The helper ids a program of type `ty` may call (`None` for [`ProgType::Other`]).
pub fn helpers_of(ty: ProgType) -> Option<&'static [i32]> {
    Some(match ty {
        ProgType::SocketFilter => SOCKET_FILTER,
        ProgType::Kprobe => KPROBE,
        ProgType::SchedCls | ProgType::SchedAct => SCHED_CLS,
        ProgType::Tracepoint => TRACEPOINT,
        ProgType::Xdp => XDP,
        ProgType::PerfEvent => PERF_EVENT,
        ProgType::CgroupSkb => CGROUP_SKB,
        ProgType::CgroupSock => CGROUP_SOCK,
        ProgType::SockOps => SOCK_OPS,
        ProgType::RawTracepoint => RAW_TRACEPOINT,
        ProgType::Other => return None,
    })
}

/// Whether a program of type `ty` may call helper `id` (`check_helper_call`: `invalid func`
/// outside the enum, `program of this type cannot use helper` when the type's
/// `get_func_proto` has none). Unknown program types allow everything.
pub fn available(ty: ProgType, id: i32) -> bool {
    helpers_of(ty).is_none_or(|set| set.binary_search(&id).is_ok())
}

/// The kernel's message when `ty` may not call `id`, `None` when it may.
pub fn refusal(ty: ProgType, id: i32) -> Option<String> {
    if !(0..FUNC_MAX_ID).contains(&id) {
        return Some(format!("invalid func {}#{id}", func_id_name(id)));
    }
    (!available(ty, id)).then(|| format!("program of this type cannot use helper {}#{id}", func_id_name(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_sorted_ids_below_the_maximum() {
        for set in [
            SOCKET_FILTER,
            KPROBE,
            SCHED_CLS,
            TRACEPOINT,
            XDP,
            PERF_EVENT,
            CGROUP_SKB,
            CGROUP_SOCK,
            SOCK_OPS,
            RAW_TRACEPOINT,
        ] {
            assert!(set.windows(2).all(|w| w[0] < w[1]));
            assert!(set.iter().all(|&id| id > 0 && id < FUNC_MAX_ID));
        }
    }

    #[test]
    fn refusals_use_the_kernels_words() {
        let cases: [(ProgType, i32, Option<&str>); 6] = [
            (ProgType::Kprobe, 30, Some("program of this type cannot use helper bpf_skb_set_tunnel_opt#30")),
            (ProgType::Kprobe, 229, Some("invalid func unknown#229")),
            (ProgType::Kprobe, 4, None),
            (ProgType::Xdp, 4, Some("program of this type cannot use helper bpf_probe_read#4")),
            (ProgType::Xdp, 51, None),
            (ProgType::Tracepoint, 51, Some("program of this type cannot use helper bpf_redirect_map#51")),
        ];
        for (ty, id, want) in cases {
            assert_eq!(refusal(ty, id).as_deref(), want, "{ty:?} {id}");
        }
    }
}
