//! Helper prototypes as data (`struct bpf_func_proto`), versioned: the v5.0
//! `kernel/bpf/helpers.c` table (kernel-notes §F) and the current table for the helpers our
//! corpora call. The checker reads argument and return types from here; nothing about a helper
//! is hard-coded elsewhere.

/// An argument type (`enum bpf_arg_type`, with the flags that matter folded in).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arg {
    /// `ARG_CONST_MAP_PTR`.
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`: `key_size` readable bytes.
    MapKey,
    /// `ARG_PTR_TO_MAP_VALUE`: `value_size` readable bytes.
    MapValue,
    /// `ARG_PTR_TO_UNINIT_MAP_VALUE` (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE`):
    /// `value_size` bytes the helper writes.
    UninitMapValue,
    /// `ARG_PTR_TO_MEM` (read), its size in the next argument.
    Mem,
    /// `ARG_PTR_TO_UNINIT_MEM` (written), its size in the next argument.
    UninitMem,
    /// `ARG_CONST_SIZE`: a bounded scalar > 0.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`.
    ConstSizeOrZero,
    /// `ARG_PTR_TO_CTX`.
    Ctx,
    /// `ARG_PTR_TO_FUNC`: a callback.
    Func,
    /// `ARG_PTR_TO_STACK_OR_NULL` (callback context).
    StackOrNull,
    /// `ARG_PTR_TO_DYNPTR` (initialised).
    Dynptr,
    /// `ARG_PTR_TO_DYNPTR | MEM_UNINIT` (a constructor's out-parameter).
    UninitDynptr,
    /// `ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE` (`bpf_ringbuf_submit_dynptr`).
    ReleaseDynptr,
    /// `ARG_PTR_TO_ALLOC_MEM` (ringbuf record).
    AllocMem,
    /// `ARG_ANYTHING`: any scalar.
    Anything,
}

/// A return type (`enum bpf_return_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ret {
    /// `RET_INTEGER`: an unknown scalar.
    Integer,
    /// `RET_VOID`.
    Void,
    /// `RET_PTR_TO_MAP_VALUE_OR_NULL`.
    MapValueOrNull,
    /// `RET_PTR_TO_MAP_VALUE`.
    MapValue,
    /// `RET_PTR_TO_RINGBUF_MEM_OR_NULL` of the constant size in argument 2.
    AllocMemOrNull,
    /// `RET_PTR_TO_DYNPTR_MEM_OR_NULL`.
    DynptrMemOrNull,
    /// `RET_PTR_TO_BTF_ID` (e.g. `bpf_get_current_task_btf`) / an untyped kernel pointer.
    KernelPtr,
}

/// One helper's prototype.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Proto {
    /// `enum bpf_func_id`.
    pub id: i32,
    /// Name without the `bpf_` prefix.
    pub name: &'static str,
    /// Only GPL-compatible programs may call it.
    pub gpl_only: bool,
    /// Packet pointers may be passed as memory arguments.
    pub pkt_access: bool,
    /// Return type.
    pub ret: Ret,
    /// Arguments (R1 first).
    pub args: &'static [Arg],
}

/// Which kernel's table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Version {
    /// Linux v5.0 `kernel/bpf/helpers.c` (kernel-notes §F).
    V5_0,
    /// The current kernels (checked against this machine's 6.18 where tests can).
    Current,
}

use Arg::*;

const fn p(
    id: i32,
    name: &'static str,
    gpl_only: bool,
    pkt_access: bool,
    ret: Ret,
    args: &'static [Arg],
) -> Proto {
    Proto { id, name, gpl_only, pkt_access, ret, args }
}

/// v5.0: the map helpers, queue/stack with the `pkt_access` removal for pop/peek, and the
/// helpers.c basics (`ktime_get_ns` still GPL-only).
pub const V5_0: &[Proto] = &[
    p(1, "map_lookup_elem", false, true, Ret::MapValueOrNull, &[ConstMapPtr, MapKey]),
    p(2, "map_update_elem", false, true, Ret::Integer, &[ConstMapPtr, MapKey, MapValue, Anything]),
    p(3, "map_delete_elem", false, true, Ret::Integer, &[ConstMapPtr, MapKey]),
    p(5, "ktime_get_ns", true, false, Ret::Integer, &[]),
    p(7, "get_prandom_u32", false, false, Ret::Integer, &[]),
    p(8, "get_smp_processor_id", false, false, Ret::Integer, &[]),
    p(14, "get_current_pid_tgid", false, false, Ret::Integer, &[]),
    p(15, "get_current_uid_gid", false, false, Ret::Integer, &[]),
    p(16, "get_current_comm", false, false, Ret::Integer, &[UninitMem, ConstSize]),
    p(42, "get_numa_node_id", false, false, Ret::Integer, &[]),
    p(80, "get_current_cgroup_id", false, false, Ret::Integer, &[]),
    p(81, "get_local_storage", false, false, Ret::MapValue, &[ConstMapPtr, Anything]),
    p(87, "map_push_elem", false, true, Ret::Integer, &[ConstMapPtr, MapValue, Anything]),
    p(88, "map_pop_elem", false, false, Ret::Integer, &[ConstMapPtr, UninitMapValue]),
    p(89, "map_peek_elem", false, false, Ret::Integer, &[ConstMapPtr, UninitMapValue]),
];

/// The current table for the helpers our corpora use.
pub const CURRENT: &[Proto] = &[
    p(1, "map_lookup_elem", false, true, Ret::MapValueOrNull, &[ConstMapPtr, MapKey]),
    p(2, "map_update_elem", false, true, Ret::Integer, &[ConstMapPtr, MapKey, MapValue, Anything]),
    p(3, "map_delete_elem", false, true, Ret::Integer, &[ConstMapPtr, MapKey]),
    p(4, "probe_read", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(5, "ktime_get_ns", false, false, Ret::Integer, &[]),
    p(6, "trace_printk", true, false, Ret::Integer, &[Mem, ConstSize]),
    p(7, "get_prandom_u32", false, false, Ret::Integer, &[]),
    p(8, "get_smp_processor_id", false, false, Ret::Integer, &[]),
    p(9, "skb_store_bytes", false, false, Ret::Integer, &[Ctx, Anything, Mem, ConstSize, Anything]),
    p(10, "l3_csum_replace", false, false, Ret::Integer, &[Ctx, Anything, Anything, Anything, Anything]),
    p(11, "l4_csum_replace", false, false, Ret::Integer, &[Ctx, Anything, Anything, Anything, Anything]),
    p(12, "tail_call", false, false, Ret::Void, &[Ctx, ConstMapPtr, Anything]),
    p(13, "clone_redirect", false, false, Ret::Integer, &[Ctx, Anything, Anything]),
    p(14, "get_current_pid_tgid", false, false, Ret::Integer, &[]),
    p(15, "get_current_uid_gid", false, false, Ret::Integer, &[]),
    p(16, "get_current_comm", false, false, Ret::Integer, &[UninitMem, ConstSize]),
    p(17, "get_cgroup_classid", false, false, Ret::Integer, &[Ctx]),
    p(18, "skb_vlan_push", false, false, Ret::Integer, &[Ctx, Anything, Anything]),
    p(19, "skb_vlan_pop", false, false, Ret::Integer, &[Ctx]),
    p(20, "skb_get_tunnel_key", false, false, Ret::Integer, &[Ctx, UninitMem, ConstSize, Anything]),
    p(21, "skb_set_tunnel_key", false, false, Ret::Integer, &[Ctx, Mem, ConstSize, Anything]),
    p(22, "perf_event_read", true, false, Ret::Integer, &[ConstMapPtr, Anything]),
    p(23, "redirect", false, false, Ret::Integer, &[Anything, Anything]),
    p(
        25,
        "perf_event_output",
        true,
        false,
        Ret::Integer,
        &[Ctx, ConstMapPtr, Anything, Mem, ConstSizeOrZero],
    ),
    p(26, "skb_load_bytes", false, false, Ret::Integer, &[Ctx, Anything, UninitMem, ConstSize]),
    p(27, "get_stackid", true, false, Ret::Integer, &[Ctx, ConstMapPtr, Anything]),
    p(28, "csum_diff", false, true, Ret::Integer, &[Mem, ConstSizeOrZero, Mem, ConstSizeOrZero, Anything]),
    p(31, "skb_change_proto", false, false, Ret::Integer, &[Ctx, Anything, Anything]),
    p(32, "skb_change_type", false, false, Ret::Integer, &[Ctx, Anything]),
    p(33, "skb_under_cgroup", false, false, Ret::Integer, &[Ctx, ConstMapPtr, Anything]),
    p(34, "get_hash_recalc", false, false, Ret::Integer, &[Ctx]),
    p(35, "get_current_task", true, false, Ret::Integer, &[]),
    p(37, "current_task_under_cgroup", false, false, Ret::Integer, &[ConstMapPtr, Anything]),
    p(38, "skb_change_tail", false, false, Ret::Integer, &[Ctx, Anything, Anything]),
    p(39, "skb_pull_data", false, false, Ret::Integer, &[Ctx, Anything]),
    p(41, "set_hash_invalid", false, false, Ret::Integer, &[Ctx]),
    p(42, "get_numa_node_id", false, false, Ret::Integer, &[]),
    p(43, "skb_change_head", false, false, Ret::Integer, &[Ctx, Anything, Anything]),
    p(44, "xdp_adjust_head", false, false, Ret::Integer, &[Ctx, Anything]),
    p(45, "probe_read_str", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(48, "set_hash", false, false, Ret::Integer, &[Ctx, Anything]),
    p(49, "setsockopt", false, false, Ret::Integer, &[Ctx, Anything, Anything, Mem, ConstSize]),
    p(50, "skb_adjust_room", false, false, Ret::Integer, &[Ctx, Anything, Anything, Anything]),
    p(51, "redirect_map", false, false, Ret::Integer, &[ConstMapPtr, Anything, Anything]),
    p(53, "sock_map_update", false, false, Ret::Integer, &[Ctx, ConstMapPtr, MapKey, Anything]),
    p(54, "xdp_adjust_meta", false, false, Ret::Integer, &[Ctx, Anything]),
    p(55, "perf_event_read_value", true, false, Ret::Integer, &[ConstMapPtr, Anything, UninitMem, ConstSize]),
    p(56, "perf_prog_read_value", true, false, Ret::Integer, &[Ctx, UninitMem, ConstSize]),
    p(57, "getsockopt", false, false, Ret::Integer, &[Ctx, Anything, Anything, UninitMem, ConstSize]),
    p(59, "sock_ops_cb_flags_set", false, false, Ret::Integer, &[Ctx, Anything]),
    p(65, "xdp_adjust_tail", false, false, Ret::Integer, &[Ctx, Anything]),
    p(67, "get_stack", true, false, Ret::Integer, &[Ctx, UninitMem, ConstSizeOrZero, Anything]),
    p(69, "fib_lookup", true, false, Ret::Integer, &[Ctx, Mem, ConstSize, Anything]),
    p(80, "get_current_cgroup_id", false, false, Ret::Integer, &[]),
    p(87, "map_push_elem", false, true, Ret::Integer, &[ConstMapPtr, MapValue, Anything]),
    p(88, "map_pop_elem", false, false, Ret::Integer, &[ConstMapPtr, UninitMapValue]),
    p(89, "map_peek_elem", false, false, Ret::Integer, &[ConstMapPtr, UninitMapValue]),
    p(109, "send_signal", false, false, Ret::Integer, &[Anything]),
    p(112, "probe_read_user", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(113, "probe_read_kernel", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(114, "probe_read_user_str", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(115, "probe_read_kernel_str", true, false, Ret::Integer, &[UninitMem, ConstSizeOrZero, Anything]),
    p(118, "jiffies64", false, false, Ret::Integer, &[]),
    p(125, "ktime_get_boot_ns", false, false, Ret::Integer, &[]),
    p(130, "ringbuf_output", false, false, Ret::Integer, &[ConstMapPtr, Mem, ConstSizeOrZero, Anything]),
    p(131, "ringbuf_reserve", false, false, Ret::AllocMemOrNull, &[ConstMapPtr, ConstSize, Anything]),
    p(132, "ringbuf_submit", false, false, Ret::Void, &[AllocMem, Anything]),
    p(133, "ringbuf_discard", false, false, Ret::Void, &[AllocMem, Anything]),
    p(164, "for_each_map_elem", false, false, Ret::Integer, &[ConstMapPtr, Func, StackOrNull, Anything]),
    p(181, "loop", false, false, Ret::Integer, &[Anything, Func, StackOrNull, Anything]),
    p(189, "xdp_load_bytes", false, false, Ret::Integer, &[Ctx, Anything, UninitMem, ConstSize]),
    p(
        197,
        "dynptr_from_mem",
        false,
        false,
        Ret::Integer,
        &[UninitMem, ConstSizeOrZero, Anything, UninitDynptr],
    ),
    p(
        198,
        "ringbuf_reserve_dynptr",
        false,
        false,
        Ret::Integer,
        &[ConstMapPtr, Anything, Anything, UninitDynptr],
    ),
    p(199, "ringbuf_submit_dynptr", false, false, Ret::Void, &[ReleaseDynptr, Anything]),
    p(200, "ringbuf_discard_dynptr", false, false, Ret::Void, &[ReleaseDynptr, Anything]),
    p(
        201,
        "dynptr_read",
        false,
        false,
        Ret::Integer,
        &[UninitMem, ConstSizeOrZero, Dynptr, Anything, Anything],
    ),
    p(202, "dynptr_write", false, false, Ret::Integer, &[Dynptr, Anything, Mem, ConstSizeOrZero, Anything]),
    p(203, "dynptr_data", false, false, Ret::DynptrMemOrNull, &[Dynptr, Anything, ConstSizeOrZero]),
];

/// The prototype of helper `id` in `version`'s table.
pub fn proto(version: Version, id: i32) -> Option<&'static Proto> {
    let table = match version {
        Version::V5_0 => V5_0,
        Version::Current => CURRENT,
    };
    table.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for (name, table) in [("v5.0", V5_0), ("current", CURRENT)] {
            let mut ids: Vec<i32> = table.iter().map(|p| p.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), table.len(), "{name}: duplicate ids");
            for p in table {
                assert!(p.args.len() <= 5, "{name} {}", p.name);
                // A memory argument is followed by its size.
                for (i, a) in p.args.iter().enumerate() {
                    if matches!(a, Mem | UninitMem) {
                        assert!(
                            matches!(p.args.get(i + 1), Some(ConstSize | ConstSizeOrZero)),
                            "{name} {}: argument {} has no size after it",
                            p.name,
                            i + 1
                        );
                    }
                }
            }
        }
        // The version differences kernel-notes §F records.
        assert!(proto(Version::V5_0, 5).is_some_and(|p| p.gpl_only));
        assert!(proto(Version::Current, 5).is_some_and(|p| !p.gpl_only));
        assert!(proto(Version::V5_0, 88).is_some_and(|p| !p.pkt_access && p.args[1] == UninitMapValue));
        assert!(proto(Version::V5_0, 87).is_some_and(|p| p.pkt_access));
        assert!(proto(Version::V5_0, 113).is_none());
    }
}
