; The callback increments a counter in the caller's stack through its ctx argument, 100 times.
; kernel: accept
; func: main global
; func: cb static
r1 = 0x0
*(u64 *)(r10 - 0x8) = r1
r1 = 0x64
ld_pseudo r2, 0x4, 0x8
r3 = r10
r3 += -0x8
r4 = 0x0
call 0xb5
r0 = *(u64 *)(r10 - 0x8)
r0 = 0x0
exit
r1 = *(u64 *)(r2 + 0x0)
r1 += 0x1
*(u64 *)(r2 + 0x0) = r1
r0 = 0x0
exit
