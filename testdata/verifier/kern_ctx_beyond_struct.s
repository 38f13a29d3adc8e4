; A read past the end of struct xdp_buff.
; kernel: reject: access beyond struct xdp_buff at off 256 size 4
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r0 = *(u32 *)(r0 + 0x100)
r0 = 0x2
exit
