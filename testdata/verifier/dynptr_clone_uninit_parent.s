; Cloning stack that holds no dynptr.
; kernel: reject: Expected an initialized dynptr as arg #0
; type: xdp
; kfunc: bpf_dynptr_clone
r1 = r10
r1 += -16
r2 = r10
r2 += -32
call kfunc 0x1
r0 = 0x0
exit
