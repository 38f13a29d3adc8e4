; A negative offset from a kernel struct pointer.
; kernel: reject: R0 is ptr_xdp_buff invalid negative access: off=-8
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r0 = *(u32 *)(r0 -0x8)
r0 = 0x2
exit
