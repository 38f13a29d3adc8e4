; A kprobe reads a pt_regs register (di at offset 112): aligned reads of pt_regs are allowed.
; kernel: accept
; type: kprobe
r2 = *(u64 *)(r1 + 0x70)
r3 = *(u32 *)(r1 + 0xa4)
r0 = 0x0
exit
