; Tracing programs' return values are not checked (a privileged loader may return a pointer).
; kernel: accept
; type: kprobe
r0 = r10
exit
