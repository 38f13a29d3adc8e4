; An acquired conntrack entry must be released.
; kernel: reject: BPF_EXIT instruction in main prog would lead to reference leak
; type: sched_cls
; kfunc: bpf_skb_ct_lookup
; kfunc: bpf_ct_release
r6 = r1
*(u64 *)(r10 -8) = 0x0
r1 = r6
r2 = r10
r2 += -8
r3 = 0x0
r4 = r2
r5 = 0x0
call kfunc 0x1
if r0 == 0x0 goto <out>
r0 = 0x0
exit
out:
r0 = 0x0
exit
