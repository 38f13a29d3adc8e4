; A metadata write invalidates a metadata slice (§G P3).
; kernel: reject: R7 invalid mem access 'scalar'
; type: sched_cls
; kfunc: bpf_dynptr_from_skb_meta
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
r3 = 0x0
r4 = 0x4
call kfunc 0x2
if r0 == 0x0 goto <out>
r7 = r0
*(u64 *)(r10 -32) = 0x0
r1 = r10
r1 += -16
r2 = 0x0
r3 = r10
r3 += -32
r4 = 0x4
r5 = 0x0
call 0xca
*(u32 *)(r7 + 0x0) = 0x0
out:
r0 = 0x0
exit
