; cgroup/sock (socket creation): read family narrowly, set mark; the source address is not
; available at creation.
; kernel: reject: invalid bpf_context access off=24 size=4
; type: cgroup_sock
r2 = *(u16 *)(r1 + 0x4)
r3 = 0x7
*(u32 *)(r1 + 0x10) = r3
r2 = *(u32 *)(r1 + 0x18)
r0 = 0x1
exit
