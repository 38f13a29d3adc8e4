; XDP programs cannot write to xdp_md.
; kernel: reject: invalid bpf_context access off=12 size=4
r2 = 0x0
*(u32 *)(r1 + 0xc) = r2
r0 = 0x0
exit
