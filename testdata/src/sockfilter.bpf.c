/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sockfilter.bpf.c: socket filters, classic-style and helper-based.
 *
 * Covers: SEC("socket") programs; the legacy packet loads LD_ABS and LD_IND
 * (from the llvm.bpf.load.* intrinsics; they need the context in r6 and may
 * end the program on a short packet); bpf_skb_load_bytes; __sk_buff field
 * reads; .rodata settings. A socket filter returns how many bytes of the
 * packet to keep, 0 to drop it.
 *
 * Both expect skb->data at the IPv4 header, as on an AF_PACKET SOCK_DGRAM
 * socket and under BPF_PROG_TEST_RUN for socket filters:
 *   sock_ldabs    keeps UDP datagrams to dns_port (53) whole, drops the rest;
 *                 LD_ABS for constant offsets, LD_IND for the port behind a
 *                 variable-length header and for offsetof() on vmlinux.h
 *                 structs (a CO-RE relocation, so not a constant).
 *   sock_snap     keeps at most snap_len (96) bytes of TCP and UDP packets,
 *                 all of ICMP, and drops everything else; uses
 *                 bpf_skb_load_bytes.
 */
#include "common.h"

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

const volatile __u16 dns_port = 53;
const volatile __u32 snap_len = 96;

SEC("socket")
int sock_ldabs(struct __sk_buff *skb)
{
	__u64 ihl;

	if ((load_byte(skb, 0) >> 4) != 4)
		return 0;
	if (load_byte(skb, offsetof(struct iphdr, protocol)) != IPPROTO_UDP)
		return 0;
	/* Fragments other than the first have no UDP header. */
	if (load_half(skb, offsetof(struct iphdr, frag_off)) & 0x1fff)
		return 0;
	ihl = (load_byte(skb, 0) & 0xf) * 4;
	if (load_half(skb, ihl + offsetof(struct udphdr, dest)) != dns_port)
		return 0;
	return skb->len;
}

SEC("socket")
int sock_snap(struct __sk_buff *skb)
{
	struct iphdr ip;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return 0;
	switch (ip.protocol) {
	case IPPROTO_ICMP:
		return skb->len;
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return skb->len < snap_len ? skb->len : snap_len;
	default:
		return 0;
	}
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
