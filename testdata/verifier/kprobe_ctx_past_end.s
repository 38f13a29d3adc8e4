; pt_regs ends at 168 on x86-64.
; kernel: reject: invalid bpf_context access off=168 size=8
; type: kprobe
r2 = *(u64 *)(r1 + 0xa8)
r0 = 0x0
exit
