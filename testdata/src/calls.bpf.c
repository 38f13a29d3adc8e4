/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * calls.bpf.c: bpf-to-bpf call chains in a TC classifier.
 *
 * Covers: a chain static -> static -> global (fold -> mix -> scale), a global
 * function taking the context (payload_len), a static function with five
 * arguments, a static void function writing through a stack pointer, and
 * callees with their own stack frames (each frame has its own 512 bytes).
 * Global functions are verified once, on their own; static ones in the
 * context of each call.
 *
 * tc_calls, for BPF_PROG_TEST_RUN: reads the first 16 bytes after the
 * Ethernet header with bpf_skb_load_bytes (skipped when the frame is
 * shorter), folds them into a 32-bit value, stores it in skb->cb[0] and in
 * skb->mark, and returns TC_ACT_OK (TC_ACT_SHOT when the value is 0 and the
 * payload was present).
 */
#include "common.h"

/* Global: any scalar argument, returns a scalar. */
__attribute__((noinline)) __u32 scale(__u32 x, __u32 by)
{
	return (x * by) ^ (x >> 7);
}

/* Global taking the context: the kernel checks it is a struct __sk_buff *. */
__attribute__((noinline)) int payload_len(struct __sk_buff *skb)
{
	if (skb->len < ETH_HLEN)
		return 0;
	return skb->len - ETH_HLEN;
}

static __noinline __u32 mix(__u32 a, __u32 b, __u32 c, __u32 d, __u32 e)
{
	__u32 h = 0x811c9dc5;

	h = (h ^ a) * 0x01000193;
	h = (h ^ b) * 0x01000193;
	h = (h ^ c) * 0x01000193;
	h = (h ^ d) * 0x01000193;
	return scale(h, e | 1);
}

static __noinline void fold(const __u32 words[4], __u32 *out)
{
	__u32 local[4];

	/* A copy so this frame uses its own stack. */
	__builtin_memcpy(local, words, sizeof(local));
	*out = mix(local[0], local[1], local[2], local[3], 31);
}

SEC("tc")
int tc_calls(struct __sk_buff *skb)
{
	__u32 words[4];
	__u32 value = 0;

	if (payload_len(skb) < (int)sizeof(words))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, words, sizeof(words)))
		return TC_ACT_OK;
	fold(words, &value);
	skb->cb[0] = value;
	skb->mark = value;
	return value ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
