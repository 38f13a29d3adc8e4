; An iterator at fp-12.
; kernel: reject: expected uninitialized iter_num as arg #0
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r1 = r10
r1 += -12
r2 = 0x0
r3 = 0xa
call kfunc 0x1
r0 = 0x2
exit
