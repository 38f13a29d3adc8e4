; bpf_for_each_map_elem needs a map in R1.
; kernel: reject: R1 type=scalar expected=map_ptr
; func: main global
; func: cb static
r1 = 0x0
ld_pseudo r2, 0x4, 0x6
r3 = 0x0
r4 = 0x0
call 0xa4
r0 = 0x0
exit
r0 = 0x0
exit
