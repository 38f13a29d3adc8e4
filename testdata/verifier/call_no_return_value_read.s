; The caller reads the R0 its subprogram never set (at the caller's exit).
; kernel: reject: R0 !read_ok
call local 0x1
exit
r1 = 0x0
exit
