; A spilled scalar comes back with its value: the fill is a known constant.
; kernel: accept
r2 = 0x2
*(u64 *)(r10 - 0x8) = r2
r0 = *(u64 *)(r10 - 0x8)
exit
