; After a global call R1-R5 are clobbered.
; kernel: reject: R1 !read_ok
; func: main global
; func: f global ctx
r6 = r1
call local 0x2
r0 = r1
exit
r0 = 0x0
exit
