; bpf_dynptr_size and bpf_dynptr_adjust on an XDP dynptr.
; kernel: accept
; type: xdp
; kfunc: bpf_dynptr_from_xdp
; kfunc: bpf_dynptr_size
; kfunc: bpf_dynptr_adjust
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
call kfunc 0x2
r1 = r10
r1 += -16
r2 = 0x2
r3 = 0xe
call kfunc 0x3
r0 = 0x0
exit
