/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * globals.bpf.c: global variables in every data section libbpf knows.
 *
 * Covers: .data (initialised), .rodata (`const volatile` settings a loader
 * may change before load, and a `static const` table), .bss (zero
 * initialised), a custom .data.hits section, and Kconfig externs (.kconfig:
 * LINUX_KERNEL_VERSION and a __weak CONFIG_ option that libbpf fills in).
 * Each access is an ld_imm64 relocated against the variable's symbol, or, for
 * a static variable, against its section symbol with the offset in imm.
 *
 * globals_xdp, for BPF_PROG_TEST_RUN: XDP_DROP when the 4 bytes after the
 * Ethernet header are "BPF!" or the frame is longer than max_len (.rodata,
 * 1514 by default); XDP_PASS otherwise. Counts in .bss / .data.hits and a
 * running hash in .data.
 */
#include "common.h"

/* .rodata: a loader may set these before load; the verifier sees constants. */
const volatile __u32 max_len = 1514;
const volatile __u8 drop_magic = 1;

/* .data */
__u64 salt = 0x9e3779b97f4a7c15ULL;
__u32 last_len = 64;

/* .bss; the static one is reached through the section symbol plus an offset. */
__u64 frames;
static __u32 since_drop;
__u64 bytes;
__u64 dropped;

/* A custom data section: its own map. */
__u32 magic_hits SEC(".data.hits") = 0;

/* .kconfig: resolved by libbpf from the running kernel's configuration. */
extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_JIT_ALWAYS_ON __kconfig __weak;

static const char magic[4] = "BPF!";

__u32 kernel_version;
__u8 jit_always_on;

SEC("xdp")
int globals_xdp(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;

	kernel_version = LINUX_KERNEL_VERSION;
	jit_always_on = CONFIG_BPF_JIT_ALWAYS_ON;
	__sync_fetch_and_add(&frames, 1);
	__sync_fetch_and_add(&bytes, len);
	salt = (salt ^ len) * 0x100000001b3ULL;
	last_len = len;

	if (len > max_len)
		goto drop;
	if (drop_magic && data + ETH_HLEN + sizeof(magic) <= data_end &&
	    __builtin_memcmp(data + ETH_HLEN, magic, sizeof(magic)) == 0) {
		magic_hits++;
		goto drop;
	}
	since_drop++;
	return XDP_PASS;
drop:
	dropped++;
	since_drop = 0;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
