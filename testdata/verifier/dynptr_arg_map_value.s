; A dynptr argument must be on the stack.
; kernel: reject: arg#0 expected pointer to stack or const struct bpf_dynptr
; type: xdp
; kfunc: bpf_dynptr_slice
; map: 2 4 16 1
*(u32 *)(r10 -4) = 0x0
ld_pseudo r1, 0x1, 0x0
r2 = r10
r2 += -4
call 0x1
if r0 == 0x0 goto <out>
r1 = r0
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x1
out:
r0 = 0x0
exit
