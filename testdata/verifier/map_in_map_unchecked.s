; The result of a lookup in a map of maps must be NULL-checked before it is used as a map.
; kernel: reject: R1 type=map_value_or_null expected=map_ptr
; map: 12 4 4 1 inner 2 4 8 1
r2 = 0x0
*(u32 *)(r10 - 0x4) = r2
r2 = r10
r2 += -0x4
ld_pseudo r1, 0x1, 0x0
call 0x1
r1 = r0
r2 = r10
r2 += -0x4
call 0x1
r0 = 0x2
exit
