/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * alu.bpf.c: arithmetic whose encoding differs between cpu v3 and v4, and
 * atomics.
 *
 * Covers: in the v4 objects, signed division and modulo (sdiv/smod),
 * sign-extending loads and moves (ldsx, movsx) and unconditional byte swaps
 * (bswap); in the v3 objects the same computation spelled with unsigned
 * operations, so both objects must give the same results. 32-bit ALU with
 * zero extension, arithmetic and logical shifts with masked amounts.
 * Atomics: add, and, or, xor (with and without fetch), xchg and cmpxchg,
 * 32- and 64-bit, on a map value and on .bss.
 *
 *   xdp_alu      For frames with ethertype ETH_P_EXP (0x88B5) and at least
 *                48 payload bytes: reads a = s32 at payload 0, b = s32 at
 *                payload 4, c = s8 at payload 8 and s = payload 9, then
 *                overwrites payload 16..47 with eight 32-bit results
 *                (network byte order) and returns XDP_TX. Other frames:
 *                XDP_PASS, untouched. For BPF_PROG_TEST_RUN differential
 *                tests of the interpreter (compare v3 against v4 too).
 *   xdp_atomics  Updates the counters in `atomic_vals` and .bss with every
 *                atomic operation; XDP_PASS.
 */
#include "common.h"

#define PAYLOAD_MIN 48

struct alu_vals {
	__u64 add64;
	__u64 or64;
	__u64 and64;
	__u64 xor64;
	__u32 add32;
	__u32 xchg32;
	__u64 cmpxchg64;
	__u64 fetched;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alu_vals);
} atomic_vals SEC(".maps");

__u64 bss_counter;
__u32 bss_flags;

static __always_inline __s32 sdiv32(__s32 a, __s32 b)
{
#ifdef __BPF_FEATURE_SDIV_SMOD
	return a / b;
#else
	__u32 ua = a < 0 ? -(__u32)a : (__u32)a;
	__u32 ub = b < 0 ? -(__u32)b : (__u32)b;
	__u32 q = ua / ub;

	return (a < 0) != (b < 0) ? -(__s32)q : (__s32)q;
#endif
}

static __always_inline __s32 smod32(__s32 a, __s32 b)
{
#ifdef __BPF_FEATURE_SDIV_SMOD
	return a % b;
#else
	__u32 ua = a < 0 ? -(__u32)a : (__u32)a;
	__u32 ub = b < 0 ? -(__u32)b : (__u32)b;
	__u32 r = ua % ub;

	return a < 0 ? -(__s32)r : (__s32)r;
#endif
}

static __always_inline __s64 sdiv64(__s64 a, __s64 b)
{
#ifdef __BPF_FEATURE_SDIV_SMOD
	return a / b;
#else
	__u64 ua = a < 0 ? -(__u64)a : (__u64)a;
	__u64 ub = b < 0 ? -(__u64)b : (__u64)b;
	__u64 q = ua / ub;

	return (a < 0) != (b < 0) ? -(__s64)q : (__s64)q;
#endif
}

SEC("xdp")
int xdp_alu(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u8 *payload = data + ETH_HLEN;
	__u32 *out = (__u32 *)(payload + 16);
	__s32 a, b, q, r;
	__s64 c, wide;
	__u32 s;

	if (payload + PAYLOAD_MIN > data_end)
		return XDP_PASS;
	if (data[12] != (ETH_P_EXP >> 8) || data[13] != (ETH_P_EXP & 0xff))
		return XDP_PASS;

	a = (__s32)bpf_ntohl(*(__u32 *)payload);
	b = (__s32)bpf_ntohl(*(__u32 *)(payload + 4));
	c = *(__s8 *)(payload + 8); /* sign-extending load */
	s = payload[9];

	/* C leaves these undefined; BPF defines them, but keep the source portable. */
	if (b == 0 || (a == -0x7fffffff - 1 && b == -1)) {
		q = 0;
		r = a;
	} else {
		q = sdiv32(a, b);
		r = smod32(a, b);
	}
	wide = (__s64)a * 1000003;
	if (c != 0)
		wide = sdiv64(wide, c);

	out[0] = bpf_htonl(q);
	out[1] = bpf_htonl(r);
	out[2] = bpf_htonl((__u32)(wide >> 32));
	out[3] = bpf_htonl((__u32)wide);
	out[4] = bpf_htonl((__u32)(a >> (s & 31)));           /* arithmetic */
	out[5] = bpf_htonl((__u32)a >> (s & 31));             /* logical */
	out[6] = bpf_htonl((__u32)((__s64)(__s16)a << (s & 15))); /* movsx */
	out[7] = __builtin_bswap32((__u32)c + (__u32)b);
	return XDP_TX;
}

SEC("xdp")
int xdp_atomics(struct xdp_md *ctx)
{
	__u32 zero = 0, len = ctx->data_end - ctx->data;
	struct alu_vals *v;
	__u64 old;

	v = bpf_map_lookup_elem(&atomic_vals, &zero);
	if (!v)
		return XDP_PASS;
	__sync_fetch_and_add(&v->add64, len);               /* add */
	v->fetched = __sync_fetch_and_add(&v->add64, 1);    /* fetch add */
	__sync_fetch_and_or(&v->or64, 1ULL << (len & 63));  /* or */
	__sync_fetch_and_and(&v->and64, ~(1ULL << (len & 63)));
	old = __sync_fetch_and_xor(&v->xor64, len);         /* fetch xor */
	__sync_fetch_and_add(&v->add32, 1);                 /* 32-bit add */
	__sync_lock_test_and_set(&v->xchg32, len);          /* xchg */
	__sync_val_compare_and_swap(&v->cmpxchg64, old, old + len); /* cmpxchg */
	__sync_fetch_and_add(&bss_counter, 1);
	__sync_fetch_and_or(&bss_flags, 1U << (len & 31));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
