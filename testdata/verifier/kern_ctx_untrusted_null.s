; A loaded kernel pointer may be NULL: both branches are explored.
; kernel: accept
; type: xdp
; kfunc: bpf_cast_to_kern_ctx
call kfunc 0x1
r1 = *(u64 *)(r0 + 0x20)
r0 = 0x2
if r1 != 0x0 goto <out>
r0 = 0x0
out:
exit
