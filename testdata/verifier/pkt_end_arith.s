; data_end cannot be moved.
; kernel: reject: R3 pointer arithmetic on pkt_end prohibited
r3 = *(u32 *)(r1 + 0x4)
r3 += 0x1
r0 = 0x0
exit
