; The inner map's value is 8 bytes: reading 8 bytes at offset 8 is out of bounds (the kernel logs
; `invalid access to map value, value_size=8 off=8 size=8`, then this reason).
; kernel: reject: R0 min value is outside of the allowed memory range
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
r0 = *(u64 *)(r0 + 0x8)
r0 = 0x2
exit
