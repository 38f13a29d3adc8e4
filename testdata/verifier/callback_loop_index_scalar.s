; The callback's R1 is a scalar index, not a pointer.
; kernel: reject: R1 invalid mem access 'scalar'
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
r0 = *(u64 *)(r1 + 0x0)
r0 = 0x0
exit
