; A bpf-to-bpf call.
; kernel: accept
r1 = 0x1
call local 0x1
exit
r0 = r1
exit
