; A local dynptr over a map value, read.
; kernel: accept
; type: xdp
; map: 2 4 16 1
*(u32 *)(r10 -4) = 0x0
ld_pseudo r1, 0x1, 0x0
r2 = r10
r2 += -4
call 0x1
if r0 == 0x0 goto <out>
r1 = r0
r2 = 0x10
r3 = 0x0
r4 = r10
r4 += -32
call 0xc5
r1 = r10
r1 += -48
r2 = 0x4
r3 = r10
r3 += -32
r4 = 0x0
r5 = 0x0
call 0xc9
out:
r0 = 0x0
exit
