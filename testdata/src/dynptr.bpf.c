/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * dynptr.bpf.c: packet and metadata access through dynptrs.
 *
 * Covers: the kfuncs bpf_dynptr_from_skb, bpf_dynptr_from_skb_meta (TC
 * only, 6.18), bpf_dynptr_from_xdp, bpf_dynptr_slice, bpf_dynptr_slice_rdwr
 * and bpf_dynptr_size, and the helpers bpf_dynptr_read / bpf_dynptr_write; a
 * struct bpf_dynptr on the stack (16 bytes, initialised by the kfunc); slices
 * that may point into the packet or into the bounce buffer given to them.
 * Signatures as in this kernel's BTF.
 *
 *   tc_dynptr_parse  (tc)  parses Ethernet/IPv4/UDP with slices; UDP to
 *                          port 9 -> TC_ACT_SHOT; UDP to port 7 -> the
 *                          UDP checksum is cleared through a read-write
 *                          slice; TC_ACT_OK otherwise. Counts in `parsed`.
 *   tc_dynptr_meta   (tc)  reads the record xdp_meta.bpf.c writes in front
 *                          of the packet (struct rx_meta, 32 bytes) through
 *                          the skb metadata dynptr: sets skb->mark to its
 *                          hash when the record is valid, then clears the
 *                          valid flag with bpf_dynptr_write; TC_ACT_OK.
 *                          Without metadata the dynptr has size 0.
 *   xdp_dynptr       (xdp) XDP_DROP for ethertype ETH_P_EXP (0x88B5) whose
 *                          first payload byte is 0xff, XDP_PASS otherwise;
 *                          reads through a dynptr over the xdp_buff.
 */
#include "common.h"

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_skb_meta(struct __sk_buff *skb, __u64 flags,
				    struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
			      __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset,
				   void *buffer__opt, __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;

/* Same layout as in xdp_meta.bpf.c. */
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
	__uint(max_entries, 3); /* 0: frames, 1: IPv4, 2: UDP */
	__type(key, __u32);
	__type(value, __u64);
} parsed SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *n = bpf_map_lookup_elem(&parsed, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tc")
int tc_dynptr_parse(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	struct ethhdr eth_buf, *eth;
	struct iphdr ip_buf, *ip;
	struct udphdr udp_buf, *udp;
	__u32 l4_off;

	bump(0);
	if (bpf_dynptr_from_skb(skb, 0, &ptr))
		return TC_ACT_OK;
	eth = bpf_dynptr_slice(&ptr, 0, &eth_buf, sizeof(eth_buf));
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = bpf_dynptr_slice(&ptr, ETH_HLEN, &ip_buf, sizeof(ip_buf));
	if (!ip)
		return TC_ACT_OK;
	bump(1);
	if (ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	l4_off = ETH_HLEN + ip->ihl * 4;
	udp = bpf_dynptr_slice(&ptr, l4_off, &udp_buf, sizeof(udp_buf));
	if (!udp)
		return TC_ACT_OK;
	bump(2);
	if (udp->dest == bpf_htons(9))
		return TC_ACT_SHOT;
	if (udp->dest == bpf_htons(7)) {
		udp = bpf_dynptr_slice_rdwr(&ptr, l4_off, &udp_buf, sizeof(udp_buf));
		if (!udp)
			return TC_ACT_OK;
		udp->check = 0;
		/* A slice may be the bounce buffer: write it back in that case. */
		if (udp == &udp_buf)
			bpf_dynptr_write(&ptr, l4_off, &udp_buf, sizeof(udp_buf), 0);
	}
	return TC_ACT_OK;
}

SEC("tc")
int tc_dynptr_meta(struct __sk_buff *skb)
{
	struct bpf_dynptr meta;
	struct rx_meta buf, *m;
	__u16 flags;

	if (bpf_dynptr_from_skb_meta(skb, 0, &meta))
		return TC_ACT_OK;
	if (bpf_dynptr_size(&meta) < sizeof(*m))
		return TC_ACT_OK;
	m = bpf_dynptr_slice(&meta, 0, &buf, sizeof(buf));
	if (!m || !(m->flags & 1))
		return TC_ACT_OK;
	skb->mark = m->hash;
	if (bpf_dynptr_read(&flags, sizeof(flags), &meta, offsetof(struct rx_meta, flags), 0))
		return TC_ACT_OK;
	flags &= ~1;
	bpf_dynptr_write(&meta, offsetof(struct rx_meta, flags), &flags, sizeof(flags), 0);
	return TC_ACT_OK;
}

SEC("xdp")
int xdp_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr;
	__u8 buf[ETH_HLEN + 1], *p;

	if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
		return XDP_PASS;
	p = bpf_dynptr_slice(&ptr, 0, buf, sizeof(buf));
	if (!p)
		return XDP_PASS;
	if (p[12] == (ETH_P_EXP >> 8) && p[13] == (ETH_P_EXP & 0xff) && p[ETH_HLEN] == 0xff)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
