; The fall-through of may_goto (the loop body) is explored too: it reads R3, never set.
; kernel: reject: R3 !read_ok
r0 = 0x0
may_goto +0x2
r0 = r3
goto -0x3
exit
