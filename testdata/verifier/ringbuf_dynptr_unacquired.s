; Submitting stack that holds no dynptr.
; kernel: reject: arg 1 is an unacquired reference
; type: xdp
; map: 27 0 0 4096
r1 = r10
r1 += -16
r2 = 0x0
call 0xc7
r0 = 0x0
exit
