; Combined stack: main uses 8 bytes (16 rounded), the subprogram 496: 512 fits.
; kernel: accept
*(u64 *)(r10 - 0x8) = r1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x1f0) = r1
r0 = 0x0
exit
