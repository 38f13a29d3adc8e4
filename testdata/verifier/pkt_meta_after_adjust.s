; bpf_xdp_adjust_meta invalidates metadata pointers read before it.
; kernel: reject: R7 invalid mem access 'scalar'
; type: xdp
r6 = r1
r7 = *(u32 *)(r6 + 0x8)
r2 = *(u32 *)(r6 + 0x0)
r3 = r7
r3 += 0x8
if r3 > r2 goto <out>
r1 = r6
r2 = -0x8
call 0x36
r0 = *(u64 *)(r7 + 0x0)
out:
r0 = 0x2
exit
