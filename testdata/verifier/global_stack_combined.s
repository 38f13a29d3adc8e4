; Global functions count in the combined stack: 256 + 384 bytes.
; kernel: reject: combined stack size of 2 calls is 640. Too large
; func: main global
; func: f global scalar
*(u64 *)(r10 - 0x100) = r1
r1 = 0x1
call local 0x2
r0 = 0x0
exit
*(u64 *)(r10 - 0x180) = r1
r0 = 0x0
exit
