; The reserved size must be a known constant.
; kernel: reject: R2 is not a known constant'
; map: 27 0 0 4096
r2 = *(u32 *)(r1 + 0xc)
ld_pseudo r1, 0x1, 0x0
r2 &= 0xff
r3 = 0x0
call 0x83
if r0 == 0x0 goto +0x3
r1 = r0
r2 = 0x0
call 0x85
r0 = 0x2
exit
