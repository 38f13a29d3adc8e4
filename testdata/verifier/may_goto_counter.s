; A may_goto loop counting up: the kernel widens the counter and the loop converges.
; kernel: accept
r0 = 0x0
may_goto +0x2
r0 += 0x1
goto -0x3
exit
