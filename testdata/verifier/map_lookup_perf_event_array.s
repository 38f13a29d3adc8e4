; A perf event array cannot be read with bpf_map_lookup_elem.
; kernel: reject: cannot pass map_type 4 into func bpf_map_lookup_elem#1
; type: kprobe
; map: 4 4 4 2
r2 = 0x0
*(u32 *)(r10 - 0x4) = r2
r2 = r10
r2 += -0x4
ld_pseudo r1, 0x1, 0x0
call 0x1
r0 = 0x0
exit
