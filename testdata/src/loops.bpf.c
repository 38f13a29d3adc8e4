/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * loops.bpf.c: the ways a BPF program loops.
 *
 * Covers: a plain bounded for loop kept as a loop (unrolling disabled, so
 * the object has a back edge); a bpf_loop helper call with a static callback
 * (the callback's address is an ld_imm64 relocated against .text, which
 * libbpf turns into src_reg BPF_PSEUDO_FUNC with an instruction offset); an
 * open-coded numbers iterator (kfuncs bpf_iter_num_new/next/destroy, declared
 * here since libbpf 1.1 has no bpf_for); a may_goto loop (`can_loop`, from
 * inline assembly); a nested loop.
 *
 * Every program is XDP and returns XDP_PASS when its result is even and
 * XDP_DROP when it is odd; the result is also stored in `result` at the
 * program's slot (0..4), for BPF_PROG_TEST_RUN differential tests.
 */
#include "common.h"

#define MAX_BYTES 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} result SEC(".maps");

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* A may_goto: falls through while the kernel's loop budget lasts. */
#define can_loop                                                   \
	({                                                         \
		__label__ l_break, l_continue;                     \
		bool ret = true;                                   \
		asm volatile goto("may_goto %l[l_break]" :::: l_break); \
		goto l_continue;                                   \
	l_break:                                                   \
		ret = false;                                       \
	l_continue:;                                               \
		ret;                                               \
	})

static const __u8 weights[16] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };

static __always_inline int finish(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&result, &slot, &value, BPF_ANY);
	return value & 1 ? XDP_DROP : XDP_PASS;
}

/* Sum of the first MAX_BYTES bytes, as a real loop. */
SEC("xdp")
int loop_bounded(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u64 sum = 0;
	int i;

#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_BYTES; i++) {
		if (data + i + 1 > data_end)
			break;
		sum += data[i];
	}
	return finish(0, sum);
}

struct loop_ctx {
	struct xdp_md *xdp;
	__u64 sum;
};

static long add_byte(__u64 index, void *arg)
{
	struct loop_ctx *lc = arg;
	__u8 byte;

	if (bpf_xdp_load_bytes(lc->xdp, index, &byte, 1))
		return 1; /* stop */
	if (byte == 0xff)
		return 1;
	lc->sum = lc->sum * 31 + byte;
	return 0;
}

/* Rolling hash of the bytes before the first 0xff, via bpf_loop. */
SEC("xdp")
int loop_callback(struct xdp_md *ctx)
{
	struct loop_ctx lc = { .xdp = ctx, .sum = 0 };
	__u32 len = ctx->data_end - ctx->data;

	if (len > MAX_BYTES)
		len = MAX_BYTES;
	bpf_loop(len, add_byte, &lc, 0);
	return finish(1, lc.sum);
}

/* Weighted sum of the 16 bytes after Ethernet, with an open-coded iterator. */
SEC("xdp")
int loop_iter(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	struct bpf_iter_num it;
	__u64 sum = 0;
	int *i;

	if (data + ETH_HLEN + 16 > data_end)
		return finish(2, 0);
	bpf_iter_num_new(&it, 0, 16);
	while ((i = bpf_iter_num_next(&it))) {
		__u32 k = *i;
		__u8 *byte;

		if (k >= 16)
			break;
		/* The verifier forgets the packet range after a variable offset. */
		byte = data + ETH_HLEN + k;
		if (byte + 1 > data_end)
			break;
		sum += (__u64)weights[k] * *byte;
	}
	bpf_iter_num_destroy(&it);
	return finish(2, sum);
}

/* Count of leading zero bytes, bounded by the kernel's may_goto budget. */
SEC("xdp")
int loop_may_goto(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u64 zeros = 0;
	__u32 i = 0;

	while (i < MAX_BYTES && can_loop) {
		if (data + i + 1 > data_end || data[i] != 0)
			break;
		zeros++;
		i++;
	}
	return finish(3, zeros);
}

/* Sum of data[a] ^ data[b] over the index pairs a < b of the first 8 bytes. */
SEC("xdp")
int loop_nested(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u64 acc = 0;
	int a, b;

	if (data + 8 > data_end)
		return finish(4, 0);
#pragma clang loop unroll(disable)
	for (a = 0; a < 8; a++) {
#pragma clang loop unroll(disable)
		for (b = a + 1; b < 8; b++) {
			/* No comparison here: a branch per pair multiplies the verifier's paths. */
			acc += data[a] ^ data[b];
		}
	}
	return finish(4, acc);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
