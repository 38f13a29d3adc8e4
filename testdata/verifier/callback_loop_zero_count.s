; bpf_loop with a count of 0 never runs the callback: its bad return is not seen.
; kernel: accept
; func: main global
; func: cb static
r1 = 0x0
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
r0 = 0x2
exit
