; BPF_ST into xdp_md.
; kernel: reject: invalid bpf_context access off=12 size=4
*(u32 *)(r1 + 0xc) = 0x1
r0 = 0x0
exit
