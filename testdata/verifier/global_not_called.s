; A global function no path calls is not verified.
; kernel: accept
; func: main global
; func: f global ctx
r0 = 0x0
if r0 == 0x0 goto +0x1
call local 0x1
exit
r0 = r1
exit
