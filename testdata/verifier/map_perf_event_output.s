; bpf_perf_event_output into a perf event array from a tracepoint.
; kernel: accept
; type: tracepoint
; map: 4 4 4 2
r2 = 0x0
*(u64 *)(r10 - 0x8) = r2
r4 = r10
r4 += -0x8
ld_pseudo r2, 0x1, 0x0
r3 = 0xffffffff ll
r5 = 0x8
call 0x19
r0 = 0x0
exit
