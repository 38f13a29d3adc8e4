; XDP programs may not call bpf_probe_read (a tracing helper).
; kernel: reject: program of this type cannot use helper bpf_probe_read#4
r1 = r10
r1 += -0x8
r2 = 0x8
r3 = 0x0
call 0x4
r0 = 0x2
exit
