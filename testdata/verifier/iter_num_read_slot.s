; The bytes of an iterator cannot be read directly.
; kernel: reject: invalid read from stack off -8+0 size 8
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r1 = r10
r1 += -8
r2 = 0x0
r3 = 0xa
call kfunc 0x1
r6 = *(u64 *)(r10 -8)
r1 = r10
r1 += -8
call kfunc 0x3
r0 = 0x2
exit
