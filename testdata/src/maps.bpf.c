/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * maps.bpf.c: BTF-defined maps of several kinds and the helpers that use them.
 *
 * Covers: ARRAY, HASH, LRU_HASH, PERCPU_ARRAY, QUEUE, STACK and RINGBUF maps
 * (QUEUE and STACK have no key), map ld_imm64 relocations, lookup / update /
 * delete, push / pop / peek, ringbuf reserve / submit / discard and output,
 * and bpf_for_each_map_elem with a static callback (an ld_imm64 relocated
 * against .text, BPF_PSEUDO_FUNC once libbpf has loaded it).
 *
 * All programs are XDP:
 *   maps_count        counts frames and bytes per IPv4 source address (HASH,
 *                     LRU_HASH, PERCPU_ARRAY); XDP_PASS, or XDP_DROP when
 *                     `settings` slot 0 holds a non-zero limit the source
 *                     has exceeded.
 *   maps_queue_stack  pushes the frame length into a QUEUE (BPF_EXIST: the
 *                     oldest entry goes when it is full) and a STACK, peeks
 *                     the queue, pops the stack; XDP_PASS when the popped
 *                     value is this frame's length, XDP_ABORTED otherwise.
 *   maps_ringbuf      emits an event per frame: reserve, then submit (or
 *                     discard when the frame starts with two zero bytes);
 *                     bpf_ringbuf_output for frames under 16 bytes; XDP_PASS.
 *   maps_sum          sums the HASH counters with bpf_for_each_map_elem into
 *                     `settings` slot 1; XDP_PASS.
 */
#include "common.h"

struct src_stats {
	__u64 packets;
	__u64 bytes;
};

struct pkt_event {
	__u32 len;
	__u32 ifindex;
	__u8 head[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct src_stats);
} by_source SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} last_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct src_stats);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 64);
	__type(value, __u32);
} lengths_fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 64);
	__type(value, __u32);
} lengths_lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int maps_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	__u32 len = data_end - data;
	struct src_stats *fs, *tot;
	__u32 zero = 0, saddr;
	__u64 now, *limit;

	tot = bpf_map_lookup_elem(&totals, &zero);
	if (tot) {
		tot->packets++;
		tot->bytes += len;
	}
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	saddr = ip->saddr;
	fs = bpf_map_lookup_elem(&by_source, &saddr);
	if (!fs) {
		struct src_stats init = { .packets = 1, .bytes = len };

		bpf_map_update_elem(&by_source, &saddr, &init, BPF_NOEXIST);
		fs = &init;
	} else {
		__sync_fetch_and_add(&fs->packets, 1);
		__sync_fetch_and_add(&fs->bytes, len);
	}
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&last_seen, &saddr, &now, BPF_ANY);

	limit = bpf_map_lookup_elem(&settings, &zero);
	if (limit && *limit && fs->packets > *limit) {
		bpf_map_delete_elem(&last_seen, &saddr);
		return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("xdp")
int maps_queue_stack(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 head = 0, top = 0;

	if (bpf_map_push_elem(&lengths_fifo, &len, BPF_EXIST))
		return XDP_ABORTED;
	if (bpf_map_push_elem(&lengths_lifo, &len, 0))
		return XDP_ABORTED;
	bpf_map_peek_elem(&lengths_fifo, &head);
	if (bpf_map_pop_elem(&lengths_lifo, &top))
		return XDP_ABORTED;
	/* The FIFO keeps its last 64 lengths; drain one when it is old. */
	if (head != len)
		bpf_map_pop_elem(&lengths_fifo, &head);
	return top == len ? XDP_PASS : XDP_ABORTED;
}

SEC("xdp")
int maps_ringbuf(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	struct pkt_event *ev;

	if (data + sizeof(ev->head) > data_end) {
		struct pkt_event small = {
			.len = data_end - data,
			.ifindex = ctx->ingress_ifindex,
		};

		bpf_ringbuf_output(&events, &small, sizeof(small), 0);
		return XDP_PASS;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return XDP_PASS;
	ev->len = data_end - data;
	ev->ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(ev->head, data, sizeof(ev->head));
	if (ev->head[0] == 0 && ev->head[1] == 0)
		bpf_ringbuf_discard(ev, 0);
	else
		bpf_ringbuf_submit(ev, 0);
	return XDP_PASS;
}

struct sum_ctx {
	__u64 packets;
	__u32 sources;
};

static long add_source(void *map, __u32 *key, struct src_stats *val, struct sum_ctx *sc)
{
	sc->packets += val->packets;
	sc->sources++;
	return 0; /* continue */
}

SEC("xdp")
int maps_sum(struct xdp_md *ctx)
{
	struct sum_ctx sc = {};
	__u32 one = 1;

	bpf_for_each_map_elem(&by_source, add_source, &sc, 0);
	bpf_map_update_elem(&settings, &one, &sc.packets, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
