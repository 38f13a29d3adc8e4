; The context pointer must not be moved before a load through it.
; kernel: reject: dereference of modified ctx ptr R1 off=8 disallowed
; type: sock_ops
r1 += 0x8
r2 = *(u32 *)(r1 + 0x0)
r0 = 0x1
exit
