; R10 is read-only.
; kernel: reject: frame pointer is read only
r10 = 0x0
r0 = 0x0
exit
