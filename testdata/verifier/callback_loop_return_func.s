; A callback's R0 must be a scalar.
; kernel: reject: R0 not a scalar value
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
ld_pseudo r0, 0x4, -0x1
exit
