; NULL as a kfunc's dynptr argument.
; kernel: reject: Possibly NULL pointer passed to trusted arg0
; type: xdp
; kfunc: bpf_dynptr_slice
r1 = 0x0
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x1
r0 = 0x0
exit
