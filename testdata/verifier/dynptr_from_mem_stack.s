; bpf_dynptr_from_mem takes map values only.
; kernel: reject: Unsupported reg type fp for bpf_dynptr_from_mem data
; type: xdp
*(u64 *)(r10 -8) = 0x0
r1 = r10
r1 += -8
r2 = 0x8
r3 = 0x0
r4 = r10
r4 += -32
call 0xc5
r0 = 0x0
exit
