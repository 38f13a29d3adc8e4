; Dereferencing a scalar.
; kernel: reject: R0 invalid mem access 'scalar'
r0 = 0x0
r0 = *(u64 *)(r0 + 0x0)
exit
