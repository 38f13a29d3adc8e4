; bpf_xdp_adjust_head invalidates packet pointers.
; kernel: reject: R7 invalid mem access 'scalar'
; type: xdp
r6 = r1
r2 = *(u32 *)(r1 + 0x0)
r3 = *(u32 *)(r1 + 0x4)
r4 = r2
r4 += 0xe
if r4 > r3 goto <out>
r7 = r2
r1 = r6
r2 = 0x0
call 0x2c
r0 = *(u16 *)(r7 + 0xc)
out:
r0 = 0x0
exit
