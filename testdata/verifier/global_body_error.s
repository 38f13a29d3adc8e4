; A global function is verified with its prototype's arguments (R1 a scalar here).
; kernel: reject: R1 invalid mem access 'scalar'
; func: main global
; func: f global scalar
r1 = 0x0
r0 = 0x0
call local 0x1
exit
r0 = *(u64 *)(r1 + 0x0)
exit
