; BPF_ST into a writable __sk_buff field.
; type: tc
; kernel: accept
*(u32 *)(r1 + 0x8) = 0x1
r0 = 0x0
exit
