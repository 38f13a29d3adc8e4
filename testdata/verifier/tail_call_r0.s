; bpf_tail_call returns nothing: R0 is not readable after it.
; kernel: reject: R0 !read_ok
; map: 3 4 4 1
ld_pseudo r2, 0x1, 0x0
r3 = 0x0
call 0xc
exit
