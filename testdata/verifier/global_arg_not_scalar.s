; Passing a stack pointer where the prototype has a scalar.
; kernel: reject: Caller passes invalid args into func#1 ('f')
; func: main global
; func: f global ctx scalar
r2 = r10
call local 0x2
r0 = 0x0
exit
r0 = r2
exit
