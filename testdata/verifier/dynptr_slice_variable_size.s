; The slice size (buffer__szk) must be a known constant.
; kernel: reject: R4 must be a known constant
; type: xdp
; kfunc: bpf_dynptr_from_xdp
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
call 0x7
r4 = r0
r4 &= 0xf
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
call kfunc 0x2
r0 = 0x0
exit
