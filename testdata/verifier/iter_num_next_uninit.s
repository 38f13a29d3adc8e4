; bpf_iter_num_next on stack that holds no iterator.
; kernel: reject: expected an initialized iter_num as arg #0
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r1 = r10
r1 += -8
call kfunc 0x2
r0 = 0x2
exit
