; A socket filter's skb dynptr is read-only at run time only: bpf_dynptr_write verifies.
; kernel: accept
; type: socket_filter
; kfunc: bpf_dynptr_from_skb
r6 = r1
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
r0 = 0x0
exit
