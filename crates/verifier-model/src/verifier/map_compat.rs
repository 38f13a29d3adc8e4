//! Which maps each helper takes and which helpers each map type allows: the kernel's
//! `check_map_func_compatibility` (`kernel/bpf/verifier.c`) as data, checked in both
//! directions after a helper's arguments, refusing with
//! `cannot pass map_type %d into func %s#%d`.

use super::availability::func_id_name;

/// `enum bpf_map_type` numbers the rules name.
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    pub const STACK_TRACE: u32 = 7;
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`.
    pub const CGROUP_ARRAY: u32 = 8;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: u32 = 11;
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: u32 = 12;
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: u32 = 13;
    /// `BPF_MAP_TYPE_DEVMAP`.
    pub const DEVMAP: u32 = 14;
    /// `BPF_MAP_TYPE_SOCKMAP`.
    pub const SOCKMAP: u32 = 15;
    /// `BPF_MAP_TYPE_CPUMAP`.
    pub const CPUMAP: u32 = 16;
    /// `BPF_MAP_TYPE_XSKMAP`.
    pub const XSKMAP: u32 = 17;
    /// `BPF_MAP_TYPE_SOCKHASH`.
    pub const SOCKHASH: u32 = 18;
    /// `BPF_MAP_TYPE_CGROUP_STORAGE`.
    pub const CGROUP_STORAGE: u32 = 19;
    /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`.
    pub const REUSEPORT_SOCKARRAY: u32 = 20;
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`.
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    /// `BPF_MAP_TYPE_QUEUE`.
    pub const QUEUE: u32 = 22;
    /// `BPF_MAP_TYPE_STACK`.
    pub const STACK: u32 = 23;
    /// `BPF_MAP_TYPE_SK_STORAGE`.
    pub const SK_STORAGE: u32 = 24;
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    pub const DEVMAP_HASH: u32 = 25;
    /// `BPF_MAP_TYPE_STRUCT_OPS`.
    pub const STRUCT_OPS: u32 = 26;
    /// `BPF_MAP_TYPE_RINGBUF`.
    pub const RINGBUF: u32 = 27;
    /// `BPF_MAP_TYPE_INODE_STORAGE`.
    pub const INODE_STORAGE: u32 = 28;
    /// `BPF_MAP_TYPE_TASK_STORAGE`.
    pub const TASK_STORAGE: u32 = 29;
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    pub const BLOOM_FILTER: u32 = 30;
    /// `BPF_MAP_TYPE_USER_RINGBUF`.
    pub const USER_RINGBUF: u32 = 31;
    /// `BPF_MAP_TYPE_CGRP_STORAGE`.
    pub const CGRP_STORAGE: u32 = 32;
}

use map_type::*;

/// `enum bpf_func_id` numbers the rules name.
mod func {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const TAIL_CALL: i32 = 12;
    pub const PERF_EVENT_READ: i32 = 22;
    pub const PERF_EVENT_OUTPUT: i32 = 25;
    pub const GET_STACKID: i32 = 27;
    pub const SKB_UNDER_CGROUP: i32 = 33;
    pub const CURRENT_TASK_UNDER_CGROUP: i32 = 37;
    pub const REDIRECT_MAP: i32 = 51;
    pub const SK_REDIRECT_MAP: i32 = 52;
    pub const SOCK_MAP_UPDATE: i32 = 53;
    pub const PERF_EVENT_READ_VALUE: i32 = 55;
    pub const MSG_REDIRECT_MAP: i32 = 60;
    pub const SOCK_HASH_UPDATE: i32 = 70;
    pub const MSG_REDIRECT_HASH: i32 = 71;
    pub const SK_REDIRECT_HASH: i32 = 72;
    pub const GET_LOCAL_STORAGE: i32 = 81;
    pub const SK_SELECT_REUSEPORT: i32 = 82;
    pub const MAP_PUSH_ELEM: i32 = 87;
    pub const MAP_POP_ELEM: i32 = 88;
    pub const MAP_PEEK_ELEM: i32 = 89;
    pub const SK_STORAGE_GET: i32 = 107;
    pub const SK_STORAGE_DELETE: i32 = 108;
    pub const SKB_OUTPUT: i32 = 111;
    pub const XDP_OUTPUT: i32 = 121;
    pub const RINGBUF_OUTPUT: i32 = 130;
    pub const RINGBUF_RESERVE: i32 = 131;
    pub const RINGBUF_QUERY: i32 = 134;
    pub const INODE_STORAGE_GET: i32 = 145;
    pub const INODE_STORAGE_DELETE: i32 = 146;
    pub const TASK_STORAGE_GET: i32 = 156;
    pub const TASK_STORAGE_DELETE: i32 = 157;
    pub const KPTR_XCHG: i32 = 194;
    pub const MAP_LOOKUP_PERCPU_ELEM: i32 = 195;
    pub const RINGBUF_RESERVE_DYNPTR: i32 = 198;
    pub const RINGBUF_SUBMIT_DYNPTR: i32 = 199;
    pub const RINGBUF_DISCARD_DYNPTR: i32 = 200;
    pub const USER_RINGBUF_DRAIN: i32 = 209;
    pub const CGRP_STORAGE_GET: i32 = 210;
    pub const CGRP_STORAGE_DELETE: i32 = 211;
}

use func::*;

/// From the map's side: the only helpers a map of this type may be passed to (`None`: no
/// restriction).
pub fn helpers_for_map(map_type: u32) -> Option<&'static [i32]> {
    Some(match map_type {
        PROG_ARRAY => &[TAIL_CALL],
        PERF_EVENT_ARRAY => {
            &[PERF_EVENT_READ, PERF_EVENT_OUTPUT, SKB_OUTPUT, PERF_EVENT_READ_VALUE, XDP_OUTPUT]
        }
        RINGBUF => &[
            RINGBUF_OUTPUT,
            RINGBUF_RESERVE,
            RINGBUF_QUERY,
            RINGBUF_RESERVE_DYNPTR,
            RINGBUF_SUBMIT_DYNPTR,
            RINGBUF_DISCARD_DYNPTR,
        ],
        USER_RINGBUF => &[USER_RINGBUF_DRAIN],
        STACK_TRACE => &[GET_STACKID],
        CGROUP_ARRAY => &[SKB_UNDER_CGROUP, CURRENT_TASK_UNDER_CGROUP],
        CGROUP_STORAGE | PERCPU_CGROUP_STORAGE => &[GET_LOCAL_STORAGE],
        DEVMAP | DEVMAP_HASH => &[REDIRECT_MAP, MAP_LOOKUP_ELEM],
        CPUMAP => &[REDIRECT_MAP],
        XSKMAP => &[REDIRECT_MAP, MAP_LOOKUP_ELEM],
        ARRAY_OF_MAPS | HASH_OF_MAPS => &[MAP_LOOKUP_ELEM],
        // Plus map_update_elem / map_delete_elem where may_update_sockmap allows them (by
        // program type and attach point); not modelled, so refused here and reported as
        // undecided by the caller.
        SOCKMAP => {
            &[SK_REDIRECT_MAP, SOCK_MAP_UPDATE, MSG_REDIRECT_MAP, SK_SELECT_REUSEPORT, MAP_LOOKUP_ELEM]
        }
        SOCKHASH => {
            &[SK_REDIRECT_HASH, SOCK_HASH_UPDATE, MSG_REDIRECT_HASH, SK_SELECT_REUSEPORT, MAP_LOOKUP_ELEM]
        }
        REUSEPORT_SOCKARRAY => &[SK_SELECT_REUSEPORT],
        QUEUE | STACK => &[MAP_PEEK_ELEM, MAP_POP_ELEM, MAP_PUSH_ELEM],
        SK_STORAGE => &[SK_STORAGE_GET, SK_STORAGE_DELETE, KPTR_XCHG],
        INODE_STORAGE => &[INODE_STORAGE_GET, INODE_STORAGE_DELETE, KPTR_XCHG],
        TASK_STORAGE => &[TASK_STORAGE_GET, TASK_STORAGE_DELETE, KPTR_XCHG],
        CGRP_STORAGE => &[CGRP_STORAGE_GET, CGRP_STORAGE_DELETE, KPTR_XCHG],
        BLOOM_FILTER => &[MAP_PEEK_ELEM, MAP_PUSH_ELEM],
        _ => return None,
    })
}

/// From the helper's side: the only map types the helper takes (`None`: any).
pub fn maps_for_helper(func_id: i32) -> Option<&'static [u32]> {
    Some(match func_id {
        TAIL_CALL => &[PROG_ARRAY],
        PERF_EVENT_READ | PERF_EVENT_OUTPUT | PERF_EVENT_READ_VALUE | SKB_OUTPUT | XDP_OUTPUT => {
            &[PERF_EVENT_ARRAY]
        }
        RINGBUF_OUTPUT
        | RINGBUF_RESERVE
        | RINGBUF_QUERY
        | RINGBUF_RESERVE_DYNPTR
        | RINGBUF_SUBMIT_DYNPTR
        | RINGBUF_DISCARD_DYNPTR => &[RINGBUF],
        USER_RINGBUF_DRAIN => &[USER_RINGBUF],
        GET_STACKID => &[STACK_TRACE],
        CURRENT_TASK_UNDER_CGROUP | SKB_UNDER_CGROUP => &[CGROUP_ARRAY],
        REDIRECT_MAP => &[DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP],
        SK_REDIRECT_MAP | MSG_REDIRECT_MAP | SOCK_MAP_UPDATE => &[SOCKMAP],
        SK_REDIRECT_HASH | MSG_REDIRECT_HASH | SOCK_HASH_UPDATE => &[SOCKHASH],
        GET_LOCAL_STORAGE => &[CGROUP_STORAGE, PERCPU_CGROUP_STORAGE],
        SK_SELECT_REUSEPORT => &[REUSEPORT_SOCKARRAY, SOCKMAP, SOCKHASH],
        MAP_POP_ELEM => &[QUEUE, STACK],
        MAP_PEEK_ELEM | MAP_PUSH_ELEM => &[QUEUE, STACK, BLOOM_FILTER],
        MAP_LOOKUP_PERCPU_ELEM => &[PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH],
        SK_STORAGE_GET | SK_STORAGE_DELETE => &[SK_STORAGE],
        INODE_STORAGE_GET | INODE_STORAGE_DELETE => &[INODE_STORAGE],
        TASK_STORAGE_GET | TASK_STORAGE_DELETE => &[TASK_STORAGE],
        CGRP_STORAGE_GET | CGRP_STORAGE_DELETE => &[CGRP_STORAGE],
        _ => return None,
    })
}

/// `check_map_func_compatibility`: the kernel's message when a map of `map_type` may not be
/// passed to helper `func_id`, `None` when it may.
pub fn refusal(map_type: u32, func_id: i32) -> Option<String> {
    let map_ok = helpers_for_map(map_type).is_none_or(|h| h.contains(&func_id));
    let func_ok = maps_for_helper(func_id).is_none_or(|m| m.contains(&map_type));
    (!(map_ok && func_ok))
        .then(|| format!("cannot pass map_type {map_type} into func {}#{func_id}", func_id_name(func_id)))
}

/// Map types whose `map_lookup_elem` gives a pointer to a `value_size`-byte value the program
/// may read and write (the model's `PTR_TO_MAP_VALUE`); lookups in other types (sockets,
/// devices, maps of maps) give something else.
pub fn lookup_gives_value(map_type: u32) -> bool {
    matches!(map_type, HASH | ARRAY | PERCPU_HASH | PERCPU_ARRAY | LRU_HASH | LRU_PERCPU_HASH | LPM_TRIE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_are_checked() {
        let cases: [(u32, i32, bool); 12] = [
            (PERF_EVENT_ARRAY, PERF_EVENT_OUTPUT, true),
            (PERF_EVENT_ARRAY, MAP_LOOKUP_ELEM, false),
            (HASH, PERF_EVENT_OUTPUT, false),
            (STACK_TRACE, GET_STACKID, true),
            (STACK_TRACE, MAP_LOOKUP_ELEM, false),
            (ARRAY, GET_STACKID, false),
            (DEVMAP, REDIRECT_MAP, true),
            (HASH, REDIRECT_MAP, false),
            (PROG_ARRAY, TAIL_CALL, true),
            (ARRAY, TAIL_CALL, false),
            (ARRAY_OF_MAPS, MAP_LOOKUP_ELEM, true),
            (ARRAY_OF_MAPS, 2, false),
        ];
        for (map, f, ok) in cases {
            assert_eq!(refusal(map, f).is_none(), ok, "map {map} func {f}");
        }
        assert_eq!(
            refusal(PERF_EVENT_ARRAY, MAP_LOOKUP_ELEM).as_deref(),
            Some("cannot pass map_type 4 into func bpf_map_lookup_elem#1")
        );
    }
}
