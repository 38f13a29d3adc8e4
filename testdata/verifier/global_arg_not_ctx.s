; Passing a scalar where the prototype has the ctx.
; kernel: reject: Caller passes invalid args into func#1 ('f')
; func: main global
; func: f global ctx scalar
r1 = 0x0
r2 = 0x5
call local 0x2
r0 = 0x0
exit
r0 = r2
exit
