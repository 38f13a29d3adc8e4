; A ringbuf dynptr reserved then submitted.
; kernel: accept
; type: xdp
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
r4 = r10
r4 += -16
call 0xc6
r1 = r10
r1 += -16
r2 = 0x0
call 0xc7
r0 = 0x0
exit
