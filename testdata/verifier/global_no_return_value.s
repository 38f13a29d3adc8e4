; A global function must set R0.
; kernel: reject: R0 !read_ok
; func: main global
; func: f global scalar
r1 = 0x0
call local 0x2
r0 = 0x0
exit
r1 = 0x0
exit
