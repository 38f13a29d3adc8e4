; 32-bit arithmetic on a pointer.
; kernel: reject: R1 32-bit pointer arithmetic prohibited
w1 += 0x1
r0 = 0x0
exit
