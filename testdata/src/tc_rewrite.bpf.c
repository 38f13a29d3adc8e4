/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tc_rewrite.bpf.c: a TC classifier that parses Ethernet/IPv4/UDP and
 * rewrites the packet in place.
 *
 * Covers: direct packet access through __sk_buff data/data_end (CO-RE
 * relocated context reads), packet writes, checksum arithmetic done in the
 * program (RFC 1624 incremental update, no helper), context writes
 * (skb->mark, skb->cb[1]).
 *
 * tc_rewrite, for BPF_PROG_TEST_RUN differential tests:
 *   not Ethernet/IPv4, or truncated                   -> TC_ACT_OK, untouched
 *   IPv4 with ttl <= 1                                -> TC_ACT_SHOT
 *   IPv4 otherwise                                    -> ttl decremented,
 *                                                        header checksum fixed
 *   and UDP to port from_port (5353)                  -> port set to to_port
 *                                                        (5354), UDP checksum
 *                                                        fixed (kept 0 if 0),
 *                                                        skb->mark = 0x5354
 *   returns TC_ACT_OK; skb->cb[1] = the new ttl.
 */
#include "common.h"

const volatile __u16 from_port = 5353;
const volatile __u16 to_port = 5354;

/* One's-complement sum update for a 16-bit field changing from `old` to `new`. */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("tc")
int tc_rewrite(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp;
	__u16 old, new;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return TC_ACT_OK;
	if (ip->ttl <= 1)
		return TC_ACT_SHOT;

	/* ttl shares a 16-bit word with protocol. */
	old = *(__u16 *)&ip->ttl;
	ip->ttl--;
	new = *(__u16 *)&ip->ttl;
	ip->check = csum_replace2(ip->check, old, new);
	skb->cb[1] = ip->ttl;

	udp = (void *)(ip + 1);
	if (ip->protocol != IPPROTO_UDP || (void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	if (udp->dest != bpf_htons(from_port))
		return TC_ACT_OK;
	udp->dest = bpf_htons(to_port);
	if (udp->check) {
		udp->check = csum_replace2(udp->check, bpf_htons(from_port), bpf_htons(to_port));
		if (!udp->check)
			udp->check = 0xffff;
	}
	skb->mark = 0x5354;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
