; Releasing a possibly NULL conntrack entry.
; kernel: reject: Possibly NULL pointer passed to trusted arg0
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
r1 = r0
call kfunc 0x2
r0 = 0x0
exit
