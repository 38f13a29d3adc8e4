; bpf_iter_num_next may return NULL.
; kernel: reject: R0 invalid mem access 'scalar'
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r1 = r10
r1 += -8
r2 = 0x0
r3 = 0xa
call kfunc 0x1
r1 = r10
r1 += -8
call kfunc 0x2
r6 = *(u32 *)(r0 + 0x0)
r1 = r10
r1 += -8
call kfunc 0x3
r0 = 0x2
exit
