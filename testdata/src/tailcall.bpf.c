/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tailcall.bpf.c: tail calls through a program array.
 *
 * Covers: BPF_MAP_TYPE_PROG_ARRAY initialised in the object (libbpf fills
 * `jump_table` from the `.values` relocations in .rel.maps after loading the
 * programs), bpf_tail_call, three programs in one SEC("xdp") section.
 *
 *   tail_entry  dispatches on the ethertype: IPv4 -> tail_ipv4, IPv6 ->
 *               tail_ipv6; returns XDP_PASS when there is no such entry or
 *               the frame is shorter than Ethernet.
 *   tail_ipv4   XDP_DROP when the IPv4 ttl is <= 1 or the header is
 *               truncated, XDP_PASS otherwise.
 *   tail_ipv6   XDP_DROP when the IPv6 hop limit is <= 1 or the header is
 *               truncated, XDP_PASS otherwise.
 * For BPF_PROG_TEST_RUN run tail_entry after the object is loaded with
 * libbpf (the program array is then populated).
 */
#include "common.h"

enum { SLOT_IPV4 = 0, SLOT_IPV6 = 1 };

int tail_ipv4(struct xdp_md *ctx);
int tail_ipv6(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int(struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&tail_ipv4,
		[SLOT_IPV6] = (void *)&tail_ipv6,
	},
};

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &jump_table, SLOT_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &jump_table, SLOT_IPV6);
	return XDP_PASS;
}

SEC("xdp")
int tail_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end || ip->ttl <= 1)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int tail_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;

	if ((void *)(ip6 + 1) > data_end || ip6->hop_limit <= 1)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
