; bpf_dynptr_data may return NULL.
; kernel: reject: R0 invalid mem access 'mem_or_null'
; type: xdp
; map: 2 4 16 1
*(u32 *)(r10 -4) = 0x0
ld_pseudo r1, 0x1, 0x0
r2 = r10
r2 += -4
call 0x1
if r0 == 0x0 goto <out>
r1 = r0
r2 = 0x10
r3 = 0x0
r4 = r10
r4 += -32
call 0xc5
r1 = r10
r1 += -32
r2 = 0x0
r3 = 0x8
call 0xcb
*(u64 *)(r0 + 0x0) = 0x1
out:
r0 = 0x0
exit
