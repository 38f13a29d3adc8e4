/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * xdp_meta.bpf.c: the XDP RX-metadata kfuncs (the unroller's input).
 *
 * Every program here calls bpf_xdp_metadata_rx_timestamp / _rx_hash /
 * _rx_vlan_tag (mainline ABI, 6.3+: return 0, -ENODATA or -EOPNOTSUPP, and
 * write through their pointer arguments). The kernel accepts such programs
 * only device-bound (BPF_F_XDP_DEV_BOUND_ONLY + ifindex; without it the log
 * says "metadata kfuncs require device-bound program"), so they live in an
 * object of their own. The kfuncs are declared here: bpftool 7.1's vmlinux.h
 * has no kfunc prototypes.
 *
 *   xdp_meta         calls all three, stores return codes and values in
 *                    `rx_results` (slot 0), grows the metadata area with
 *                    bpf_xdp_adjust_meta and writes the same record in front
 *                    of the packet for a later TC program
 *                    (dynptr.bpf.c: tc_dynptr_meta); XDP_PASS.
 *   xdp_meta_ts      timestamp only, called from a static __noinline function
 *                    inside a bounded loop (a kfunc call in a subprogram and in
 *                    a loop); stores the largest value in .bss; XDP_PASS.
 *   xdp_meta_hash    rx_hash from a global function taking the context;
 *                    counts RSS hash types in `rss_types`; XDP_PASS.
 *   xdp_meta_vlan    rx_vlan_tag; XDP_DROP for VLAN 4094, XDP_PASS otherwise;
 *                    counts frames per VLAN id in `per_vlan`.
 */
#include "common.h"

#define ENODATA 61

extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym;

/* Layout shared with dynptr.bpf.c (tc_dynptr_meta) and the test harness. */
struct rx_meta {
	__u64 timestamp;
	__u32 hash;
	__u32 rss_type;
	__be16 vlan_proto;
	__u16 vlan_tci;
	__s16 ret_timestamp;
	__s16 ret_hash;
	__s16 ret_vlan;
	__u16 flags; /* bit 0: record valid */
	__u32 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rx_meta);
} rx_results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64); /* enum xdp_rss_hash_type fits in 6 bits */
	__type(key, __u32);
	__type(value, __u64);
} rss_types SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, __u64);
} per_vlan SEC(".maps");

__u64 max_timestamp;

SEC("xdp")
int xdp_meta(struct xdp_md *ctx)
{
	struct rx_meta m = {}, *slot, *meta;
	enum xdp_rss_hash_type rss_type = 0;
	__u32 zero = 0;
	void *data;

	m.ret_timestamp = bpf_xdp_metadata_rx_timestamp(ctx, &m.timestamp);
	m.ret_hash = bpf_xdp_metadata_rx_hash(ctx, &m.hash, &rss_type);
	m.rss_type = rss_type;
	m.ret_vlan = bpf_xdp_metadata_rx_vlan_tag(ctx, &m.vlan_proto, &m.vlan_tci);
	m.flags = 1;

	slot = bpf_map_lookup_elem(&rx_results, &zero);
	if (slot) {
		m.count = slot->count + 1;
		*slot = m;
	}

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(m)))
		return XDP_PASS;
	meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if ((void *)(meta + 1) > data)
		return XDP_PASS;
	*meta = m;
	return XDP_PASS;
}

static __noinline __u64 read_timestamp(struct xdp_md *ctx)
{
	__u64 ts = 0;

	if (bpf_xdp_metadata_rx_timestamp(ctx, &ts))
		return 0;
	return ts;
}

SEC("xdp")
int xdp_meta_ts(struct xdp_md *ctx)
{
	__u64 best = 0;
	int i;

	/* Asking twice must give the same answer; keep the largest anyway. */
#pragma clang loop unroll(disable)
	for (i = 0; i < 2; i++) {
		__u64 ts = read_timestamp(ctx);

		if (ts > best)
			best = ts;
	}
	if (best > max_timestamp)
		max_timestamp = best;
	return XDP_PASS;
}

/* Global: the kernel verifies it on its own, with ctx typed as struct xdp_md *. */
__attribute__((noinline)) int hash_type(struct xdp_md *ctx)
{
	enum xdp_rss_hash_type type = 0;
	__u32 hash = 0;
	int err;

	err = bpf_xdp_metadata_rx_hash(ctx, &hash, &type);
	if (err)
		return err;
	return type & 63;
}

SEC("xdp")
int xdp_meta_hash(struct xdp_md *ctx)
{
	int type = hash_type(ctx);
	__u32 key;
	__u64 *n;

	if (type < 0)
		return XDP_PASS;
	key = type;
	n = bpf_map_lookup_elem(&rss_types, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_meta_vlan(struct xdp_md *ctx)
{
	__be16 proto = 0;
	__u16 tci = 0, vid;
	__u64 one = 1, *n;
	int err;

	err = bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci);
	if (err == -ENODATA)
		vid = 0;
	else if (err)
		return XDP_PASS;
	else
		vid = tci & 0x0fff;

	n = bpf_map_lookup_elem(&per_vlan, &vid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&per_vlan, &vid, &one, BPF_NOEXIST);
	return vid == 4094 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
