; A store over an unreferenced dynptr destroys it silently (§G P3e).
; kernel: reject: Expected an initialized dynptr as arg #2
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
*(u64 *)(r10 -16) = 0x0
r1 = r10
r1 += -32
r2 = 0x4
r3 = r10
r3 += -16
r4 = 0x0
r5 = 0x0
call 0xc9
r0 = 0x0
exit
