; perf_event: sample_period may be read narrowly, the registers only as whole longs.
; kernel: reject: invalid bpf_context access off=0 size=4
; type: perf_event
r2 = *(u16 *)(r1 + 0xaa)
r2 = *(u64 *)(r1 + 0x0)
r2 = *(u32 *)(r1 + 0x0)
r0 = 0x0
exit
