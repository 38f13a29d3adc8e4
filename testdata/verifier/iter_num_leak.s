; An iterator must be destroyed.
; kernel: reject: BPF_EXIT instruction in main prog would lead to reference leak
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r1 = r10
r1 += -8
r2 = 0x0
r3 = 0xa
call kfunc 0x1
r0 = 0x2
exit
