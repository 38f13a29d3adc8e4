; After bpf_loop R1-R5 are clobbered like after any helper.
; kernel: reject: R1 !read_ok
; func: main global
; func: cb static
r1 = 0x4
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xb5
r0 = r1
exit
r0 = 0x0
exit
