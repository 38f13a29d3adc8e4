; Non-zero flags are refused only at run time (-EINVAL): the verifier accepts.
; kernel: accept
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
r6 = r1
r1 = r6
r2 = 0x1
r3 = r10
r3 += -16
call kfunc 0x1
r0 = 0x0
exit
