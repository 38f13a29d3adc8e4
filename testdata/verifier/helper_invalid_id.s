; A helper id past __BPF_FUNC_MAX_ID.
; kernel: reject: invalid func unknown#999
; type: kprobe
call 0x3e7
r0 = 0x0
exit
