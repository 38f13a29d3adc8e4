; sock_ops programs return 0 or 1.
; kernel: reject: At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]
; type: sock_ops
r0 = 0x2
exit
