; A callback's stack counts after its caller's: 504 (512 rounded) + 8 (16).
; kernel: reject: combined stack size of 2 calls is 528. Too large
; func: main global
; func: cb static
r1 = 0x0
*(u64 *)(r10 - 0x1f8) = r1
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
