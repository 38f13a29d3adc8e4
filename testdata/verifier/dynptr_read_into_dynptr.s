; bpf_dynptr_read may not write over a dynptr.
; kernel: reject: potential write to dynptr at off=-16 disallowed
; type: xdp
; kfunc: bpf_dynptr_from_xdp
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x8
r3 = r10
r3 += -16
r4 = 0x0
r5 = 0x0
call 0xc9
r0 = 0x0
exit
