; bpf_cast_to_kern_ctx in TC gives struct sk_buff; hash (148) is read.
; kernel: accept
; type: sched_cls
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r0 = *(u32 *)(r0 + 0x94)
r0 = 0x0
exit
