; A packet read without a bounds check.
; kernel: reject: R2 offset is outside of the packet
r2 = *(u32 *)(r1 + 0x0)
r0 = *(u8 *)(r2 + 0x0)
exit
