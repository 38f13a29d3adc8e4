; A lookup in an array of maps gives the inner map once NULL-checked; looking up in it gives a
; value of the inner template's size.
; kernel: accept
; map: 12 4 4 1 inner 2 4 8 1
r2 = 0x0
*(u32 *)(r10 - 0x4) = r2
r2 = r10
r2 += -0x4
ld_pseudo r1, 0x1, 0x0
call 0x1
if r0 == 0x0 goto +0x7
r1 = r0
r2 = r10
r2 += -0x4
call 0x1
if r0 == 0x0 goto +0x1
r0 = *(u64 *)(r0 + 0x0)
r0 = 0x2
exit
