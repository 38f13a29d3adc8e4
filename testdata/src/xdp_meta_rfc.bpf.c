/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * xdp_meta_rfc.bpf.c: the 2022 RFC's XDP metadata kfuncs (unroller input for
 * `--abi rfc`).
 *
 * The RFC's kfuncs take only the context and return their value:
 * bpf_xdp_metadata_rx_timestamp_supported (1 if the driver has timestamps),
 * the value-returning bpf_xdp_metadata_rx_timestamp (0: none) and
 * bpf_xdp_metadata_export_to_skb (the v1 `int` form: 0 once the hints are in
 * front of data_meta, -1 otherwise). None of them exists on a mainline kernel
 * with these signatures, so libbpf refuses the object as it is ("not found in
 * kernel or module BTFs" / incompatible prototype); only an unrolled rewrite
 * loads.
 *
 *   rfc_meta   asks for the timestamp when supported, exports the hints, and
 *              records in .bss: the last timestamp, whether it was
 *              supported, the export result and the number of runs;
 *              XDP_PASS.
 */
#include "common.h"

extern int bpf_xdp_metadata_rx_timestamp_supported(const struct xdp_md *ctx) __ksym;
extern __u64 bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx) __ksym;
extern int bpf_xdp_metadata_export_to_skb(const struct xdp_md *ctx) __ksym;

__u64 last_timestamp;
__s32 supported = -1;
__s32 exported = -1;
__u32 runs;

SEC("xdp")
int rfc_meta(struct xdp_md *ctx)
{
	__u64 ts = 0;

	supported = bpf_xdp_metadata_rx_timestamp_supported(ctx);
	if (supported)
		ts = bpf_xdp_metadata_rx_timestamp(ctx);
	last_timestamp = ts;
	exported = bpf_xdp_metadata_export_to_skb(ctx);
	__sync_fetch_and_add(&runs, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
