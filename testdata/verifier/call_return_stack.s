; A subprogram returns its own frame pointer.
; kernel: reject: cannot return stack pointer to the caller
call local 0x2
r0 = 0x0
exit
r0 = r10
exit
