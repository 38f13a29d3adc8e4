; A metadata write invalidates payload slices too (§G Q1).
; kernel: reject: R7 invalid mem access 'scalar'
; type: sched_cls
; kfunc: bpf_dynptr_from_skb
; kfunc: bpf_dynptr_from_skb_meta
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -32
call kfunc 0x2
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x3
if r0 == 0x0 goto <out>
r7 = r0
*(u64 *)(r10 -40) = 0x0
r1 = r10
r1 += -32
r2 = 0x0
r3 = r10
r3 += -40
r4 = 0x4
r5 = 0x0
call 0xca
r0 = *(u32 *)(r7 + 0x0)
out:
r0 = 0x0
exit
