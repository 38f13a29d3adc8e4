; A subprogram may return another pointer (here ctx).
; kernel: accept
call local 0x1
exit
r0 = r1
exit
