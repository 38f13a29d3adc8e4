; 488 (496 rounded) + 8 (16) = 512 fits, bpf_loop adds nothing.
; kernel: accept
; func: main global
; func: cb static
r1 = 0x0
*(u64 *)(r10 - 0x1e8) = r1
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
*(u64 *)(r10 - 0x8) = r1
r0 = 0x0
exit
