; A tracepoint record ends at PERF_MAX_TRACE_SIZE (8192); reading at 8192 is refused.
; kernel: reject: invalid bpf_context access off=8192 size=4
; type: tracepoint
r2 = *(u32 *)(r1 + 0x1ffc)
r2 = *(u32 *)(r1 + 0x2000)
r0 = 0x0
exit
