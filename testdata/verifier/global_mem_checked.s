; A global function reads its 8-byte pointer argument after a NULL check.
; kernel: accept
; func: main global
; func: f global mem:8
r1 = r10
r1 += -0x8
r2 = 0x0
*(u64 *)(r10 - 0x8) = r2
call local 0x2
r0 = 0x0
exit
r0 = 0x0
if r1 == 0x0 goto +0x1
r0 = *(u64 *)(r1 + 0x0)
exit
