; bpf_cast_to_kern_ctx needs the context.
; kernel: reject: arg#0 expected pointer to ctx, but got fp
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
r1 = r10
call kfunc 0x1
r0 = 0x2
exit
