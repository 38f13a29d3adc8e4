; Reading past the pointee's size.
; kernel: reject: R1 min value is outside of the allowed memory range
; func: main global
; func: f global mem:8
r1 = r10
r1 += -0x8
call local 0x2
r0 = 0x0
exit
r0 = 0x0
if r1 == 0x0 goto +0x1
r0 = *(u64 *)(r1 + 0x4)
exit
