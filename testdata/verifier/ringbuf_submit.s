; A ringbuf record reserved, NULL-checked, written and submitted.
; kernel: accept
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
call 0x83
if r0 == 0x0 goto +0x5
r1 = 0x2a
*(u64 *)(r0 + 0x0) = r1
r1 = r0
r2 = 0x0
call 0x84
r0 = 0x2
exit
