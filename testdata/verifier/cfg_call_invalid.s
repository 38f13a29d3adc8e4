; A bpf-to-bpf call past the end.
; kernel: reject: call to invalid destination
call local 0x10
exit
