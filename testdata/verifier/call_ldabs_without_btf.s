; Without BTF func_info a subprogram may not use LD_ABS.
; kernel: reject: LD_ABS is not allowed in subprogs without BTF
; type: socket
r6 = r1
call local 0x2
r0 = 0x0
exit
r0 = *(u8 *)skb[0x0]
r0 = 0x0
exit
