; A dynptr at fp-20 (§G P3f).
; kernel: reject: Dynptr has to be an uninitialized dynptr
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -20
call kfunc 0x1
r0 = 0x0
exit
