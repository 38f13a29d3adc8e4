; A loop that runs ten times: privileged loaders may have bounded loops.
; kernel: accept
r1 = 0xa
r0 = 0x0
r0 += 0x1
r1 += -0x1
if r1 != 0x0 goto -0x3
exit
