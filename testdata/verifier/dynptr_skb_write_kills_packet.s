; bpf_dynptr_write to an skb dynptr invalidates direct packet pointers.
; kernel: reject: R7 invalid mem access 'scalar'
; type: sched_cls
; kfunc: bpf_dynptr_from_skb
r6 = r1
r2 = *(u32 *)(r1 + 0x4c)
r3 = *(u32 *)(r1 + 0x50)
r4 = r2
r4 += 0xe
if r4 > r3 goto <out>
r7 = r2
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
*(u64 *)(r10 -32) = 0x0
r1 = r10
r1 += -16
r2 = 0x0
r3 = r10
r3 += -32
r4 = 0x4
r5 = 0x0
call 0xca
r0 = *(u16 *)(r7 + 0xc)
out:
r0 = 0x0
exit
