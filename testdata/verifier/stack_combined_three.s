; Three frames of 256 + 128 + 128 bytes: exactly 512.
; kernel: accept
*(u64 *)(r10 - 0x100) = r1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x80) = r1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x80) = r1
r0 = 0x0
exit
