; A submitted dynptr is gone.
; kernel: reject: Expected an initialized dynptr as arg #2
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
r1 = r10
r1 += -32
r2 = 0x4
r3 = r10
r3 += -16
r4 = 0x0
r5 = 0x0
call 0xc9
r0 = 0x0
exit
