/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * veth_traffic.bpf.c: traffic with and without RX metadata for the per-packet
 * comparison of a device-bound program and its unrolled rewrite on veth.
 *
 *   tc_shape      (tc egress on the sending veth) reads the UDP destination
 *                 port of an Ethernet/IPv4/UDP frame; with bit 1 of the port
 *                 set it calls bpf_get_hash_recalc (the flow dissector fills
 *                 skb->hash and sets sw_hash, and l4_hash since the frame has
 *                 ports); with bit 0 set it pushes an 802.1Q tag whose TCI is
 *                 ((port & 7) << 13) | (port & 0xfff) (priority and VLAN id
 *                 from the port) into the skb's hardware-accelerated VLAN
 *                 fields. Other frames pass unchanged; TC_ACT_OK, or
 *                 TC_ACT_SHOT if the push fails.
 *   xdp_meta_log  (XDP on the receiving veth) calls the three RX-metadata
 *                 kfuncs and appends one record per frame to `rx_log` (slot =
 *                 arrival order, the first LOG_SLOTS frames); XDP_PASS.
 *
 * The kfunc program needs device binding like xdp_meta.bpf.c; the unrolled
 * `loadable` rewrite does not.
 */
#include "common.h"

#define LOG_SLOTS 64

extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym;

SEC("tc")
int tc_shape(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + sizeof(*ip);
	__u16 port;

	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	port = bpf_ntohs(udp->dest);
	if (port & 2)
		bpf_get_hash_recalc(skb);
	if ((port & 1) &&
	    bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), ((port & 7) << 13) | (port & 0xfff)))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* One frame's answers; the test harness reads the same layout. */
struct rx_record {
	__u64 timestamp;
	__u32 hash;
	__u32 rss_type;
	__be16 vlan_proto;
	__u16 vlan_tci;
	__s16 ret_timestamp;
	__s16 ret_hash;
	__s16 ret_vlan;
	__u16 seen; /* 1 once written */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LOG_SLOTS);
	__type(key, __u32);
	__type(value, struct rx_record);
} rx_log SEC(".maps");

__u32 frames;

SEC("xdp")
int xdp_meta_log(struct xdp_md *ctx)
{
	enum xdp_rss_hash_type rss_type = 0;
	struct rx_record r = {}, *slot;
	__u32 i = __sync_fetch_and_add(&frames, 1);

	r.ret_timestamp = bpf_xdp_metadata_rx_timestamp(ctx, &r.timestamp);
	r.ret_hash = bpf_xdp_metadata_rx_hash(ctx, &r.hash, &rss_type);
	r.rss_type = rss_type;
	r.ret_vlan = bpf_xdp_metadata_rx_vlan_tag(ctx, &r.vlan_proto, &r.vlan_tci);
	r.seen = 1;
	slot = bpf_map_lookup_elem(&rx_log, &i);
	if (slot)
		*slot = r;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
