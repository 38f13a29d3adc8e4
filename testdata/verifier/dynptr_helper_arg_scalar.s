; A helper's dynptr argument given a scalar.
; kernel: reject: R3 type=scalar expected=fp, dynptr_ptr
; type: xdp
r1 = r10
r1 += -8
r2 = 0x4
r3 = 0x1
r4 = 0x0
r5 = 0x0
call 0xc9
r0 = 0x0
exit
