; A subprogram never explored has depth 0: its 384 bytes do not count.
; kernel: accept
r1 = 0x0
*(u64 *)(r10 - 0x100) = r1
if r1 == 0x0 goto +0x1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x180) = r1
r0 = 0x0
exit
