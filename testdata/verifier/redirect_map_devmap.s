; bpf_redirect_map takes a devmap; a hash map is refused.
; kernel: reject: cannot pass map_type 1 into func bpf_redirect_map#51
; map: 14 4 4 4
; map: 1 4 4 4
ld_pseudo r1, 0x1, 0x0
r2 = 0x0
r3 = 0x0
call 0x33
ld_pseudo r1, 0x1, 0x1
r2 = 0x0
r3 = 0x0
call 0x33
exit
