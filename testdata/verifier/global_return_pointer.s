; A global function must return a scalar.
; kernel: reject: At subprogram exit the register R0 is not a scalar value (ctx)
; func: main global
; func: f global ctx
call local 0x2
r0 = 0x0
exit
r0 = r1
exit
