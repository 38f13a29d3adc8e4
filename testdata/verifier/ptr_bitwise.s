; Masking a pointer.
; kernel: reject: R1 bitwise operator &= on pointer prohibited
r1 &= 0x1
r0 = 0x0
exit
