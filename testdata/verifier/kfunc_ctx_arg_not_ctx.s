; A kfunc's context argument given a stack pointer.
; kernel: reject: arg#0 expected pointer to ctx, but got fp
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
r6 = r10
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r0 = 0x0
exit
