; bpf_get_stackid needs a stack trace map, not an array.
; kernel: reject: cannot pass map_type 2 into func bpf_get_stackid#27
; type: kprobe
; map: 2 4 8 1
ld_pseudo r2, 0x1, 0x0
r3 = 0x0
call 0x1b
r0 = 0x0
exit
