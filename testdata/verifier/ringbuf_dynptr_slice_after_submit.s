; A slice of a ringbuf dynptr dies with its submission.
; kernel: accept
; type: xdp
; kfunc: bpf_dynptr_slice_rdwr
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
r4 = r10
r4 += -16
call 0xc6
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x8
call kfunc 0x1
if r0 == 0x0 goto <out>
r7 = r0
r1 = r10
r1 += -16
r2 = 0x0
call 0xc7
*(u64 *)(r7 + 0x0) = 0x0
r0 = 0x0
exit
out:
r1 = r10
r1 += -16
r2 = 0x0
call 0xc7
r0 = 0x0
exit
