; The first 8 bytes of a tracepoint record (a hidden pt_regs pointer) are not readable.
; kernel: reject: invalid bpf_context access off=0 size=8
; type: tracepoint
r2 = *(u64 *)(r1 + 0x0)
r0 = 0x0
exit
