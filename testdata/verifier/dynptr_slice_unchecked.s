; A slice may be NULL until checked.
; kernel: reject: R0 invalid mem access 'rdonly_mem_or_null'
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
r3 = 0x0
r4 = 0x4
call kfunc 0x2
r0 = *(u32 *)(r0 + 0x0)
r0 = 0x0
exit
