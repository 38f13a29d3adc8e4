; pt_regs is read only for kprobes.
; kernel: reject: invalid bpf_context access off=112 size=8
; type: kprobe
r2 = 0x0
*(u64 *)(r1 + 0x70) = r2
r0 = 0x0
exit
