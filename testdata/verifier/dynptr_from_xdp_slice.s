; An XDP dynptr sliced, NULL-checked and read.
; kernel: accept
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
r4 = 0xe
call kfunc 0x2
if r0 == 0x0 goto <out>
r0 = *(u16 *)(r0 + 0xc)
out:
r0 = 0x0
exit
