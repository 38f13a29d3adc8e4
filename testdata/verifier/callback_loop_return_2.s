; A callback must return 0 or 1 (bpf_callback_t).
; kernel: reject: At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
r0 = 0x2
exit
