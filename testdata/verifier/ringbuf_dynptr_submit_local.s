; Only ringbuf dynptrs hold a reference to submit.
; kernel: reject: arg 1 is an unacquired reference
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
r2 = 0x0
call 0xc7
r0 = 0x0
exit
