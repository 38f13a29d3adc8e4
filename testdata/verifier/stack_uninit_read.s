; Reading stack that was never written: privileged loaders may (allow_uninit_stack).
; kernel: accept
r0 = *(u64 *)(r10 - 0x8)
exit
