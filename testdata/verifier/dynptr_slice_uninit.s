; Slicing stack that holds no dynptr.
; kernel: reject: Expected an initialized dynptr as arg #0
; type: xdp
; kfunc: bpf_dynptr_slice
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x1
r0 = 0x0
exit
