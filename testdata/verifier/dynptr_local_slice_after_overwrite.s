; A bpf_dynptr_slice of a local dynptr outlives a store over the dynptr (only bpf_dynptr_data slices are invalidated).
; kernel: accept
; type: xdp
; kfunc: bpf_dynptr_slice
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
r3 = 0x0
r4 = 0x8
call kfunc 0x1
if r0 == 0x0 goto <out>
r7 = r0
*(u64 *)(r10 -32) = 0x0
r0 = *(u64 *)(r7 + 0x0)
out:
r0 = 0x0
exit
