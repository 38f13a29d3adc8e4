; bpf_xdp_adjust_head invalidates XDP dynptr slices.
; kernel: reject: R7 invalid mem access 'scalar'
; type: xdp
; kfunc: bpf_dynptr_from_xdp
; kfunc: bpf_dynptr_slice
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x2
if r0 == 0x0 goto <out>
r7 = r0
r1 = r6
r2 = 0x0
call 0x2c
r0 = *(u32 *)(r7 + 0x0)
out:
r0 = 0x0
exit
