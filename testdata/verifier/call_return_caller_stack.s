; Even the caller's stack may not be returned.
; kernel: reject: cannot return stack pointer to the caller
r1 = r10
call local 0x2
r0 = 0x0
exit
r0 = r1
exit
