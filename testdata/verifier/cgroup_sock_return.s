; cgroup/sock programs return 0 or 1; an unknown value is refused.
; kernel: reject: At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]
; type: cgroup_sock
r0 = *(u32 *)(r1 + 0x8)
exit
