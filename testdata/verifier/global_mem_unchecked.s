; A global function's pointer argument may be NULL: check it first.
; kernel: reject: R1 invalid mem access 'mem_or_null'
; func: main global
; func: f global mem:8
r1 = r10
r1 += -0x8
r2 = 0x0
*(u64 *)(r10 - 0x8) = r2
call local 0x2
r0 = 0x0
exit
r0 = *(u64 *)(r1 + 0x0)
exit
