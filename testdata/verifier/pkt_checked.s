; The classic data + 14 > data_end check.
; kernel: accept
r2 = *(u32 *)(r1 + 0x0)
r3 = *(u32 *)(r1 + 0x4)
r4 = r2
r4 += 0xe
r0 = 0x0
if r4 > r3 goto +0x1
r0 = *(u16 *)(r2 + 0xc)
exit
