; A global function taking (ctx, scalar), verified on its own.
; kernel: accept
; func: main global
; func: f global ctx scalar
r2 = 0x5
call local 0x2
r0 = 0x0
exit
r0 = r2
exit
