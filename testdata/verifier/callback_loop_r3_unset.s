; The callback gets only R1 (index) and R2 (ctx).
; kernel: reject: R3 !read_ok
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
r0 = r3
exit
