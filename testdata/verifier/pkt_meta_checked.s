; Metadata bounded by the data pointer (pkt_meta + 8 > data) is written.
; kernel: accept
; type: xdp
r6 = r1
r2 = -0x8
call 0x36
if r0 != 0x0 goto <out>
r2 = *(u32 *)(r6 + 0x0)
r1 = *(u32 *)(r6 + 0x8)
r3 = r1
r3 += 0x8
if r3 > r2 goto <out>
*(u64 *)(r1 + 0x0) = 0x1
out:
r0 = 0x2
exit
