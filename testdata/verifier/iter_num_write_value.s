; Writing through the pointer bpf_iter_num_next returns.
; kernel: reject: R0 cannot write into rdonly_mem
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
if r0 == 0x0 goto <done>
*(u32 *)(r0 + 0x0) = 0x1
done:
r1 = r10
r1 += -8
call kfunc 0x3
r0 = 0x2
exit
