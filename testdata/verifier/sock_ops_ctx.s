; sock_ops: read op and a 64-bit counter, write reply.
; kernel: accept
; type: sock_ops
r2 = *(u32 *)(r1 + 0x0)
r3 = *(u64 *)(r1 + 0xa8)
r2 = 0x1
*(u32 *)(r1 + 0x4) = r2
r0 = 0x1
exit
