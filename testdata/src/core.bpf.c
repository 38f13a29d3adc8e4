/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * core.bpf.c: CO-RE relocations of every kind, against this machine's BTF.
 *
 * Covers, in .BTF.ext: field byte offsets (preserve_access_index reads of
 * kernel structs, and BPF_CORE_READ chains through bpf_probe_read_kernel),
 * field existence, size and offset, type existence / size / matches, the
 * kernel BTF id of a type (as the constant argument of bpf_rdonly_cast),
 * enum value existence and value. Also the kfuncs bpf_cast_to_kern_ctx and
 * bpf_rdonly_cast, which give typed read-only views of kernel objects (the
 * pattern the `loadable` lowering of the unroller emits).
 *
 *   core_tc   (tc)  reads struct sk_buff through bpf_cast_to_kern_ctx, a
 *                   bpf_rdonly_cast view of it, the current task's parent
 *                   tgid with BPF_CORE_READ, and records everything in
 *                   `seen`; returns TC_ACT_OK.
 *   core_xdp  (xdp) reads struct xdp_buff through bpf_cast_to_kern_ctx, its
 *                   rxq and netdev; records them in `seen`; XDP_PASS.
 *   core_compat (tc) a local "flavour" of struct sk_buff (sk_buff___compat:
 *                   CO-RE ignores the ___ suffix when matching) with a field
 *                   the kernel lacks: bpf_core_field_exists is 0, and libbpf
 *                   poisons the dead read of the missing field; stores
 *                   skb->len in `seen` slot 2; TC_ACT_OK.
 *
 * The objects are large (about 650 KB): the debug info of struct sk_buff and
 * everything it reaches comes along, as in any real CO-RE program.
 */
#include "common.h"

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

struct core_seen {
	__u32 skb_len;
	__u32 skb_mark;
	__u32 rdonly_len;
	__u32 parent_tgid;
	__u32 ifindex;
	__u32 queue_index;
	__u32 frame_sz;
	__u32 has_tstamp_type;
	__u32 mark_size;
	__u32 mark_offset;
	__u32 xdp_buff_size;
	__u32 has_veth_xdp_buff;
	__u32 xdp_buff_matches;
	__u32 has_rss_l4_udp;
	__u32 rss_l4_udp;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct core_seen);
} seen SEC(".maps");

SEC("tc")
int core_tc(struct __sk_buff *ctx)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct task_struct *task = (void *)bpf_get_current_task();
	struct sk_buff *ro;
	struct core_seen *s;
	__u32 key = 0;

	s = bpf_map_lookup_elem(&seen, &key);
	if (!s)
		return TC_ACT_OK;
	s->skb_len = skb->len;
	s->skb_mark = skb->mark;
	ro = bpf_rdonly_cast(skb, bpf_core_type_id_kernel(struct sk_buff));
	s->rdonly_len = ro->len;
	s->parent_tgid = BPF_CORE_READ(task, real_parent, tgid);
	s->has_tstamp_type = bpf_core_field_exists(skb->tstamp_type);
	s->mark_size = bpf_core_field_size(skb->mark);
	s->mark_offset = bpf_core_field_offset(skb->mark);
	s->xdp_buff_size = bpf_core_type_size(struct xdp_buff);
	s->has_veth_xdp_buff = bpf_core_type_exists(struct veth_xdp_buff);
	s->xdp_buff_matches = bpf_core_type_matches(struct xdp_buff);
	s->has_rss_l4_udp = bpf_core_enum_value_exists(enum xdp_rss_hash_type,
						       XDP_RSS_TYPE_L4_IPV4_UDP);
	s->rss_l4_udp = bpf_core_enum_value(enum xdp_rss_hash_type, XDP_RSS_TYPE_L4_IPV4_UDP);
	return TC_ACT_OK;
}

SEC("xdp")
int core_xdp(struct xdp_md *ctx)
{
	struct xdp_buff *xdp = bpf_cast_to_kern_ctx(ctx);
	struct core_seen *s;
	__u32 key = 1;

	s = bpf_map_lookup_elem(&seen, &key);
	if (!s)
		return XDP_PASS;
	s->frame_sz = xdp->frame_sz;
	s->queue_index = xdp->rxq->queue_index;
	s->ifindex = xdp->rxq->dev->ifindex;
	return XDP_PASS;
}

struct sk_buff___compat {
	__u32 len;
	__u64 no_such_field;
} __attribute__((preserve_access_index));

SEC("tc")
int core_compat(struct __sk_buff *ctx)
{
	struct sk_buff___compat *skb = bpf_cast_to_kern_ctx(ctx);
	struct core_seen *s;
	__u32 key = 2;

	s = bpf_map_lookup_elem(&seen, &key);
	if (!s)
		return TC_ACT_OK;
	if (bpf_core_field_exists(skb->no_such_field))
		s->skb_len = skb->no_such_field;
	else
		s->skb_len = skb->len;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
