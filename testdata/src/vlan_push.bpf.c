/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * vlan_push.bpf.c: tags every frame with 802.1Q VLAN 10 (tc egress).
 *
 * Covers: bpf_skb_vlan_push. This kernel has no 802.1Q driver, so real-kernel
 * tests attach this on the sending veth's egress
 * (`tc qdisc add dev va clsact; tc filter add dev va egress bpf da obj
 * vlan_push.v3.o sec tc`): the tag lands in the skb's hardware-accelerated
 * VLAN fields, and on the receiving veth bpf_xdp_metadata_rx_vlan_tag reports
 * it (proto 0x8100, tci 10).
 *
 * tc_vlan_push: TC_ACT_OK after pushing the tag, TC_ACT_SHOT if the push
 * fails; frames that already carry a tag are left alone.
 */
#include "common.h"

#define VLAN_ID 10

SEC("tc")
int tc_vlan_push(struct __sk_buff *skb)
{
	if (skb->vlan_present)
		return TC_ACT_OK;
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VLAN_ID))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
