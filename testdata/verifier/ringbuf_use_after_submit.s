; After submit the record pointer is no longer a pointer.
; kernel: reject: R6 invalid mem access 'scalar'
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
call 0x83
if r0 == 0x0 goto +0x6
r6 = r0
r1 = r0
r2 = 0x0
call 0x84
r1 = 0x2a
*(u64 *)(r6 + 0x0) = r1
r0 = 0x2
exit
