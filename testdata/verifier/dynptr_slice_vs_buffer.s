; A slice compared with its bounce buffer (both branches, nothing learnt).
; kernel: accept
; type: sched_cls
; kfunc: bpf_dynptr_from_skb
; kfunc: bpf_dynptr_slice_rdwr
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = r10
r3 += -24
r4 = 0x8
call kfunc 0x2
if r0 == 0x0 goto <out>
r1 = r10
r1 += -24
if r0 != r1 goto <out>
*(u32 *)(r0 + 0x0) = 0x0
out:
r0 = 0x0
exit
