; bpf_loop's callback argument must be a function address.
; kernel: reject: R2 type=scalar expected=func
r1 = 0x4
r2 = 0x0
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = 0x0
exit
