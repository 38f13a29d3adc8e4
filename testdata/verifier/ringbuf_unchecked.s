; The record may be NULL until checked.
; kernel: reject: R0 invalid mem access 'ringbuf_mem_or_null'
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
call 0x83
r1 = 0x2a
*(u64 *)(r0 + 0x0) = r1
r0 = 0x2
exit
