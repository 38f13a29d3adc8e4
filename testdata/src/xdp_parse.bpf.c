/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * xdp_parse.bpf.c: an XDP parser whose action depends on the packet.
 *
 * Covers: two programs in one SEC("xdp") section (xdp_parse, xdp_pass);
 * bpf-to-bpf calls to static __noinline functions (parse_l4, count_action,
 * the latter shared by both programs) and to a global function
 * (port_action, which the kernel verifies on its own, with any u32 argument);
 * direct packet access with bounds checks; a PERCPU_ARRAY of counters.
 *
 * xdp_parse, for BPF_PROG_TEST_RUN differential tests:
 *   not IPv4, or IPv4 header truncated      -> XDP_PASS
 *   IPv4 with options (ihl != 5)            -> XDP_PASS
 *   IPv4 with ttl 0                         -> XDP_ABORTED
 *   UDP to port 9 (discard)                 -> XDP_DROP
 *   UDP to port 7 (echo)                    -> XDP_TX, MACs and ports swapped
 *   TCP with SYN and FIN both set           -> XDP_DROP
 *   anything else                           -> XDP_PASS
 * xdp_pass counts the frame and returns XDP_PASS.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5); /* one slot per enum xdp_action */
	__type(key, __u32);
	__type(value, __u64);
} action_count SEC(".maps");

/* Global: verified once, independently of its callers. */
__attribute__((noinline)) int port_action(__u32 dport)
{
	if (dport == 9)
		return XDP_DROP;
	if (dport == 7)
		return XDP_TX;
	return XDP_PASS;
}

static __noinline int count_action(__u32 action)
{
	__u64 *n = bpf_map_lookup_elem(&action_count, &action);

	if (n)
		*n += 1;
	return action;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

/* Static: verified in the context of each call, so packet pointers may be passed. */
static __noinline int parse_l4(struct ethhdr *eth, void *l4, void *data_end, __u8 proto)
{
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		__be16 port;
		int action;

		if ((void *)(udp + 1) > data_end)
			return XDP_PASS;
		action = port_action(bpf_ntohs(udp->dest));
		if (action == XDP_TX) {
			swap_macs(eth);
			port = udp->source;
			udp->source = udp->dest;
			udp->dest = port;
		}
		return action;
	}
	if (proto == IPPROTO_TCP) {
		__u8 *flags = (__u8 *)l4 + 13;

		if ((void *)(flags + 1) > data_end)
			return XDP_PASS;
		if ((*flags & (TCP_FLAG_SYN | TCP_FLAG_FIN)) == (TCP_FLAG_SYN | TCP_FLAG_FIN))
			return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end)
		return count_action(XDP_PASS);
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return count_action(XDP_PASS);
	if (ip->ttl == 0)
		return count_action(XDP_ABORTED);
	return count_action(parse_l4(eth, ip + 1, data_end, ip->protocol));
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return count_action(XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
