; Half of a pointer member (xdp_buff.rxq) read.
; kernel: reject: cannot access ptr member rxq with moff 32 in struct xdp_buff with off 32 size 4
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r0 = *(u32 *)(r0 + 0x20)
r0 = 0x2
exit
