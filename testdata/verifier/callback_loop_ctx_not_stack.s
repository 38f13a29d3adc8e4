; bpf_loop's callback context must be a stack pointer or NULL.
; kernel: reject: R3 type=scalar expected=fp
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x1
r4 = 0x0
call 0xb5
r0 = 0x0
exit
r0 = 0x0
exit
