; Without BTF func_info a subprogram may not tail-call; checked before unreachable code.
; kernel: reject: tail_call is not allowed in subprogs without BTF
call local 0x2
r0 = 0x0
exit
goto +0x1
r0 = 0x1
r2 = 0x0
r3 = 0x0
call 0xc
r0 = 0x0
exit
