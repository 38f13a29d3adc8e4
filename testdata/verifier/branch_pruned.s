; A branch the bounds decide: its dead side would dereference a scalar.
; kernel: accept
r1 = 0x5
r0 = 0x0
if r1 < 0x3 goto +0x1
exit
r0 = *(u64 *)(r0 + 0x0)
exit
