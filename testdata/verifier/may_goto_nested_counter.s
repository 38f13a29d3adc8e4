; Two counters in a may_goto loop, one reset each iteration.
; kernel: accept
r0 = 0x0
r6 = 0x0
may_goto +0x4
r6 += 0x2
r7 = 0x3
r0 += r7
goto -0x5
exit
