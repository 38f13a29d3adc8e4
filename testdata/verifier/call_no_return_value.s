; A subprogram may exit without setting R0 if the caller does not read it.
; kernel: accept
call local 0x2
r0 = 0x0
exit
r1 = 0x0
exit
