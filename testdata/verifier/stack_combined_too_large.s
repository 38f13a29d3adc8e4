; Combined stack: 24 bytes (32 rounded) + 496 = 528 over two frames.
; kernel: reject: combined stack size of 2 calls is 528. Too large
*(u64 *)(r10 - 0x18) = r1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x1f0) = r1
r0 = 0x0
exit
