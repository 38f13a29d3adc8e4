/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tracing.bpf.c: program types other than packet programs, and a map of maps.
 *
 * Covers: the contexts of KPROBE (struct pt_regs, read only), TRACEPOINT (the
 * record after its hidden 8 bytes), RAW_TRACEPOINT (u64 args[]), PERF_EVENT
 * (struct bpf_perf_event_data, narrow reads of sample_period), SOCK_OPS
 * (reads, a write of reply, return in [0, 1]) and CGROUP_SOCK at socket
 * creation (narrow read of family, a write of mark); an ARRAY_OF_MAPS whose
 * inner map template is declared with __array(values, ...) and initialised
 * in the object; bpf_probe_read_kernel. Only helpers the interpreter models
 * are called, so the object passes testdata_calls.
 *
 * Programs (all return 0 unless said):
 *   kprobe_regs    kprobe on do_nanosleep: reads the first argument register
 *                  (di), copies 8 bytes of kernel memory from it, and adds
 *                  them to slot 0 of the inner map found in outer[0].
 *   tp_enter       tracepoint syscalls/sys_enter_nanosleep: counts per
 *                  syscall id (HASH).
 *   raw_tp_enter   raw tracepoint sys_enter: counts per syscall number
 *                  (args[1]).
 *   perf_sample    perf_event: counts per sample_period bucket (low byte).
 *   sockops_reply  sock_ops: sets reply to the op number when it is below
 *                  16; returns 1.
 *   sock_mark      cgroup/sock: marks IPv6 sockets with 7; returns 1.
 */
#include "common.h"

#define AF_INET6 10

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { [0] = &inner },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 one = 1, *c = bpf_map_lookup_elem(&counts, &key);

	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
}

SEC("kprobe/do_nanosleep")
int kprobe_regs(struct pt_regs *ctx)
{
	__u64 arg = ctx->di, val = 0, *slot;
	__u32 key = 0;
	void *map;

	bpf_probe_read_kernel(&val, sizeof(val), (void *)arg);
	map = bpf_map_lookup_elem(&outer, &key);
	if (!map)
		return 0;
	slot = bpf_map_lookup_elem(map, &key);
	if (slot)
		__sync_fetch_and_add(slot, val);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_nanosleep")
int tp_enter(struct trace_event_raw_sys_enter *ctx)
{
	count((__u32)ctx->id);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_tp_enter(struct bpf_raw_tracepoint_args *ctx)
{
	count((__u32)ctx->args[1]);
	return 0;
}

SEC("perf_event")
int perf_sample(struct bpf_perf_event_data *ctx)
{
	count(*(volatile __u8 *)&ctx->sample_period);
	return 0;
}

SEC("sockops")
int sockops_reply(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;

	if (op < 16)
		skops->reply = op;
	count(op + 1000);
	return 1;
}

SEC("cgroup/sock")
int sock_mark(struct bpf_sock *sk)
{
	if (sk->family == AF_INET6)
		sk->mark = 7;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
