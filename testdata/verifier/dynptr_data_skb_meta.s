; bpf_dynptr_data on a metadata dynptr verifies (it returns NULL at run time).
; kernel: accept
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x4
call 0xcb
r0 = 0x0
exit
