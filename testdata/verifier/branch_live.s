; A branch the bounds do not decide: its dead-looking side dereferences a scalar.
; kernel: reject: R0 invalid mem access 'scalar'
r1 = *(u32 *)(r1 + 0xc)
r0 = 0x0
if r1 < 0x3 goto +0x1
exit
r0 = *(u64 *)(r0 + 0x0)
exit
