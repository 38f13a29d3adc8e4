; Re-initialising an unreferenced dynptr is allowed.
; kernel: accept
; type: xdp
; kfunc: bpf_dynptr_from_xdp
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r0 = 0x0
exit
