; A kprobe copies 8 bytes from a kernel address into its stack.
; kernel: accept
; type: kprobe
r3 = *(u64 *)(r1 + 0x70)
r1 = r10
r1 += -0x8
r2 = 0x8
call 0x4
r0 = *(u64 *)(r10 - 0x8)
r0 = 0x0
exit
