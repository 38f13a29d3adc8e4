; A partial write to the second slot destroys the dynptr.
; kernel: reject: Expected an initialized dynptr as arg #0
; type: xdp
; kfunc: bpf_dynptr_from_xdp
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
*(u32 *)(r10 -8) = 0x0
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x2
r0 = 0x0
exit
