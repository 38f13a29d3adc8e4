; bpf_cast_to_kern_ctx gives a trusted struct xdp_buff pointer; frame_sz (48) is read.
; kernel: accept
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r0 = *(u32 *)(r0 + 0x30)
r0 = 0x2
exit
