; bpf_dynptr_slice with a buffer past the stack.
; kernel: reject: arg#2 arg#3 memory, len pair leads to invalid memory access
; type: xdp
; kfunc: bpf_dynptr_from_xdp
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = r10
r3 += -8
r4 = 0x10
call kfunc 0x2
r0 = 0x0
exit
