; Writing below the 512-byte stack.
; kernel: reject: invalid write to stack R10 off=-520 size=8
r2 = 0x0
*(u64 *)(r10 - 0x208) = r2
r0 = 0x0
exit
