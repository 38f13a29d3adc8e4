; Reads count towards a subprogram's stack depth as writes do.
; kernel: reject: combined stack size of 2 calls is 528. Too large
*(u64 *)(r10 - 0x18) = r1
call local 0x2
r0 = 0x0
exit
r0 = *(u64 *)(r10 - 0x1f0)
r0 = 0x0
exit
