; xdp->rxq->queue_index: a pointer member gives a typed pointer.
; kernel: accept
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r1 = *(u64 *)(r0 + 0x20)
r0 = *(u32 *)(r1 + 0x8)
r0 = 0x2
exit
