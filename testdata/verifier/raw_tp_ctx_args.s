; A raw tracepoint reads its twelve u64 arguments, not past them.
; kernel: reject: invalid bpf_context access off=96 size=8
; type: raw_tracepoint
r2 = *(u64 *)(r1 + 0x58)
r2 = *(u64 *)(r1 + 0x60)
r0 = 0x0
exit
