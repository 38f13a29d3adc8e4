; bpf_dynptr_slice gives read-only memory (§G P3c).
; kernel: reject: R0 cannot write into rdonly_mem
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x2
if r0 == 0x0 goto <out>
*(u32 *)(r0 + 0x0) = 0x0
out:
r0 = 0x0
exit
